#!/usr/bin/python3
"""Lays out the `$LIB` directories of the launcher in an `inject/` directory (`make dist`).

`/etc/ld.so.preload` and `LD_PRELOAD` name the launcher as
`.../inject/$LIB/launcher.preload.so`: glibc's loader replaces `$LIB` with its own library
directory, which differs per ELF class, machine and distribution (LAYOUT below; verified with
Debian's loaders for x86_64, i386 (`gcc -m32`: lib32), aarch64 and armhf). The x86_64
directories link to the real launcher; every other one links to a no-op object of its own class
and machine, so that a 32-bit or foreign-architecture program (qemu-user) loads something valid
instead of printing a loader error on every start. musl does not expand `$LIB`: it opens the
literal directory `$LIB/`, which links to the real launcher too.

The no-op objects are valid shared objects with no code, no symbols, no imports and no
constructor, written here byte by byte so that no cross toolchain is needed.

Usage: noop_preload.py INJECT_DIR   (INJECT_DIR already holds launcher.preload.so)

Each file: ELF header; program headers PT_LOAD (the whole file, read-write so that loaders
older than glibc 2.35, which write into the dynamic section, can), PT_DYNAMIC and PT_GNU_STACK
(non-executable: without it the loader would make the process's stack executable); a dynamic
section with DT_HASH, DT_STRTAB, DT_SYMTAB, DT_STRSZ, DT_SYMENT; a one-bucket SysV hash table
(musl's loader dereferences it); the null symbol; an empty string table. No section headers.
"""
import os
import struct
import sys

# name: (ELF class 32/64, e_machine, e_flags, segment alignment)
MACHINES = {
    "i386": (32, 3, 0, 0x1000),  # EM_386
    "aarch64": (64, 183, 0, 0x10000),  # EM_AARCH64; 64 KiB pages exist on aarch64
    "arm": (32, 40, 0x05000400, 0x10000),  # EM_ARM, EABI5 hard-float (armhf)
}

# $LIB as each loader expands it -> the object it must find there.
LAYOUT = {
    "$LIB": "launcher.preload.so",  # musl: the literal name
    "lib/x86_64-linux-gnu": "launcher.preload.so",  # Debian, Ubuntu
    "lib64": "launcher.preload.so",  # RHEL, Fedora, Amazon Linux, SUSE
    "lib/i386-linux-gnu": "launcher.preload.i386.so",  # Debian multiarch i386 (libc6:i386)
    "lib32": "launcher.preload.i386.so",  # Debian multilib i386 (libc6-i386, gcc -m32)
    "lib": "launcher.preload.i386.so",  # RHEL family i386
    "lib/aarch64-linux-gnu": "launcher.preload.aarch64.so",
    "lib/arm-linux-gnueabihf": "launcher.preload.arm.so",
}

PT_LOAD, PT_DYNAMIC, PT_GNU_STACK = 1, 2, 0x6474E551
PF_R, PF_W = 4, 2
DT_NULL, DT_HASH, DT_STRTAB, DT_SYMTAB, DT_STRSZ, DT_SYMENT = 0, 4, 5, 6, 10, 11


def noop_object(bits, machine, flags, align):
    """The bytes of a no-op shared object for one ELF class and machine."""
    word = "I" if bits == 32 else "Q"
    ehsize, phentsize, dynsize, symsize = (52, 32, 8, 16) if bits == 32 else (64, 56, 16, 24)
    phnum = 3
    dynamic = ehsize + phnum * phentsize
    hash_at = dynamic + 6 * dynsize
    symtab = hash_at + 16
    strtab = symtab + symsize
    size = strtab + 1

    ident = b"\x7fELF" + bytes([1 if bits == 32 else 2, 1, 1, 0]) + bytes(8)
    header = ident + struct.pack(
        "<HHI" + word * 3 + "IHHHHHH",
        3,  # ET_DYN
        machine,
        1,  # EV_CURRENT
        0,  # e_entry
        ehsize,  # e_phoff
        0,  # e_shoff
        flags,
        ehsize,
        phentsize,
        phnum,
        40 if bits == 32 else 64,  # e_shentsize
        0,  # e_shnum
        0,  # e_shstrndx
    )

    def phdr(kind, pflags, offset, filesz, palign):
        if bits == 32:
            return struct.pack("<8I", kind, offset, offset, offset, filesz, filesz, pflags, palign)
        return struct.pack("<2I6Q", kind, pflags, offset, offset, offset, filesz, filesz, palign)

    phdrs = (
        phdr(PT_LOAD, PF_R | PF_W, 0, size, align)
        + phdr(PT_DYNAMIC, PF_R | PF_W, dynamic, 6 * dynsize, bits // 8)
        + phdr(PT_GNU_STACK, PF_R | PF_W, 0, 0, 16)
    )
    entries = [
        (DT_HASH, hash_at),
        (DT_STRTAB, strtab),
        (DT_SYMTAB, symtab),
        (DT_STRSZ, 1),
        (DT_SYMENT, symsize),
        (DT_NULL, 0),
    ]
    dyn = b"".join(struct.pack("<" + word * 2, tag, value) for tag, value in entries)
    sysv_hash = struct.pack("<4I", 1, 1, 0, 0)  # nbucket, nchain, bucket[0], chain[0]
    out = header + phdrs + dyn + sysv_hash + bytes(symsize) + b"\0"
    assert len(out) == size
    return out


def main():
    inject = sys.argv[1]
    for name, spec in MACHINES.items():
        with open(os.path.join(inject, "launcher.preload.%s.so" % name), "wb") as f:
            f.write(noop_object(*spec))
        os.chmod(f.name, 0o644)
    for directory, target in LAYOUT.items():
        path = os.path.join(inject, directory)
        os.makedirs(path, mode=0o755, exist_ok=True)
        link = os.path.join(path, "launcher.preload.so")
        if os.path.lexists(link):
            os.unlink(link)
        depth = directory.count("/") + 1
        os.symlink("../" * depth + target, link)


if __name__ == "__main__":
    main()
