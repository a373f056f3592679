//! Finds the process's own libc and its `environ` at run time, without importing anything.
//!
//! Importing `environ` would be a symbol lookup at load time in every process and, as a strong
//! import, would kill libc-free programs. Instead, only runtime candidates walk the loader's
//! list of loaded objects (`r_debug`, reached through `DT_DEBUG` of the main program, which
//! glibc's and musl's loaders both fill in) and look symbols up in each object's dynamic
//! symbol table in load order, the order the loader itself uses (so a program's own copy of
//! `__environ`, which its linker defines with `environ` when it copies either, comes before
//! libc's). A libc-free process simply has no `__environ`. No libc
//! function is called to change the environment (see `environment`), so `errno` never changes.
//!
//! All raw memory reads of loaded objects live in this module.

use crate::loader::{own_dynamic, Dyn};
use analyzer::auxv::Auxv;
use core::ffi::CStr;

type VersionFn = unsafe extern "C" fn() -> *const u8;
/// `int clock_gettime(clockid_t, struct timespec *)`, as the vDSO defines it.
pub type ClockFn = unsafe extern "C" fn(i32, *mut [i64; 2]) -> i32;

/// The process's libc, as far as the library needs it.
#[derive(Clone, Copy)]
pub struct Libc {
    /// libc's `char **__environ` (`environ`) variable: the program's copy, when it has one.
    environ: *mut *const *const u8,
    /// Which libc, and its version when it tells (glibc does, musl does not).
    pub info: analyzer::process::Libc,
}

/// What the loader's object list says about this process.
pub struct Loaded {
    /// The process's libc, if it has one (with an `__environ`).
    pub libc: Option<Libc>,
    /// The path this library was loaded from, as the loader recorded it, e.g.
    /// `/opt/datadog-packages/datadog-apm-inject/stable/inject/launcher.preload.so`.
    pub self_path: Option<&'static [u8]>,
}

const PT_DYNAMIC: u32 = 2;
const PT_PHDR: u32 = 6;
const DT_NULL: usize = 0;
const DT_HASH: usize = 4;
const DT_STRTAB: usize = 5;
const DT_SYMTAB: usize = 6;
const DT_DEBUG: usize = 21;
const DT_GNU_HASH: usize = 0x6fff_fef5;
const DT_VERSYM: usize = 0x6fff_fff0;

#[repr(C)]
struct ProgramHeader {
    kind: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    paddr: u64,
    filesz: u64,
    memsz: u64,
    align: u64,
}

#[repr(C)]
struct Symbol {
    name: u32,
    info: u8,
    other: u8,
    shndx: u16,
    value: u64,
    size: u64,
}

/// `struct link_map`'s public head, shared by glibc and musl.
#[repr(C)]
struct LinkMap {
    addr: usize,
    name: *const u8,
    dynamic: *const Dyn,
    next: *const LinkMap,
    prev: *const LinkMap,
}

/// `struct r_debug`.
#[repr(C)]
struct RDebug {
    version: i32,
    map: *const LinkMap,
}

/// The tables needed to look symbols up in one loaded object.
struct Object {
    base: usize,
    symtab: *const Symbol,
    strtab: *const u8,
    gnu_hash: *const u32,
    sysv_hash: *const u32,
    versym: *const u16,
}

impl Libc {
    /// The current environment as `NAME=value` entries (the strings libc's `environ` holds).
    pub fn environment(&self) -> impl Iterator<Item = &'static [u8]> {
        // SAFETY: `environ` is libc's `char **environ` variable: null or a null-terminated
        // array of C strings, which nothing changes while the library is deciding.
        let mut entry = unsafe { *self.environ };
        // SAFETY: as above: `entry` walks that array, up to its terminating null pointer.
        core::iter::from_fn(move || unsafe {
            if entry.is_null() || (*entry).is_null() {
                return None;
            }
            let value = CStr::from_ptr((*entry).cast()).to_bytes();
            entry = entry.add(1);
            Some(value)
        })
    }

    /// Makes `entries` the environment: libc's `getenv`, `setenv` and `exec*` use it from now
    /// on, and it is never freed (libc frees only arrays and strings it allocated itself).
    ///
    /// # Safety
    /// `entries` is a null-terminated array of `NAME=value` C strings, writable (libc's
    /// `setenv` and `unsetenv` edit the array in place), all alive for the rest of the process.
    pub unsafe fn set_environment(&self, entries: *mut *const u8) {
        *self.environ = entries;
    }
}

/// Walks the loader's object list of this process.
pub fn inspect(auxv: &Auxv) -> Loaded {
    let mut loaded = Loaded {
        libc: None,
        self_path: None,
    };
    let Some(first) = link_map_head(auxv) else {
        return loaded;
    };
    let own_dynamic = own_dynamic();
    let mut info = None;
    let mut environ = None;
    let mut map = first;
    // A bound on the walk, in case the list were ever corrupt.
    for _ in 0..4096 {
        if map.is_null() {
            break;
        }
        // SAFETY: `map` is an entry of the loader's list, valid while the process runs.
        let entry = unsafe { &*map };
        if entry.dynamic as usize == own_dynamic {
            // SAFETY: names in the list are C strings (possibly empty) or null.
            loaded.self_path = Some(unsafe { c_bytes(entry.name) });
        } else if let Some(object) = Object::new(entry) {
            // libc is the object that starts programs (glibc's and musl's both export this).
            if info.is_none() && object.lookup(b"__libc_start_main").is_some() {
                info = Some(libc_info(&object));
            }
            // `__environ` is what glibc's and musl's own functions read; `environ` is its alias.
            environ = environ.or_else(|| object.lookup(b"__environ"));
        }
        // The objects after these (a program's libraries, often dozens) have nothing to add.
        if loaded.self_path.is_some() && info.is_some() && environ.is_some() {
            break;
        }
        map = entry.next;
    }
    if let (Some(info), Some(environ)) = (info, environ) {
        loaded.libc = Some(Libc {
            environ: environ as *mut *const *const u8,
            info,
        });
    }
    loaded
}

/// The flavour and version of the libc in `object`: glibc answers `gnu_get_libc_version`.
fn libc_info(object: &Object) -> analyzer::process::Libc {
    use analyzer::process::{major_minor, Libc, LibcFlavor};
    match object.lookup(b"gnu_get_libc_version") {
        Some(address) => {
            // SAFETY: glibc's `const char *gnu_get_libc_version(void)`, e.g. "2.36".
            let version = unsafe { c_bytes(core::mem::transmute::<usize, VersionFn>(address)()) };
            Libc {
                flavor: LibcFlavor::Glibc,
                version: major_minor(version),
            }
        }
        None => Libc {
            flavor: LibcFlavor::Musl,
            version: None,
        },
    }
}

/// Bytes of a C string, or empty for null.
///
/// # Safety
/// `ptr` is null or points to a NUL-terminated string that stays valid and unchanged for the
/// rest of the process (the loader's object names, libc's version string).
unsafe fn c_bytes(ptr: *const u8) -> &'static [u8] {
    if ptr.is_null() {
        &[]
    } else {
        CStr::from_ptr(ptr.cast()).to_bytes()
    }
}

/// The vDSO's `clock_gettime` (`__vdso_clock_gettime`), which reads the clock without a system
/// call, if the kernel mapped a vDSO (`AT_SYSINFO_EHDR`) that defines it.
pub fn vdso_clock_gettime(auxv: &Auxv) -> Option<ClockFn> {
    const PT_LOAD: u32 = 1;
    let base = auxv.vdso;
    if base == 0 {
        return None;
    }
    // SAFETY: AT_SYSINFO_EHDR is the address of the vDSO's ELF header, mapped for the life of
    // the process; `e_phoff` (at 0x20) and `e_phnum` (at 0x38) give its program headers.
    let headers = unsafe {
        let phoff = *((base + 0x20) as *const u64) as usize;
        let phnum = *((base + 0x38) as *const u16) as usize;
        if phnum == 0 || phnum > 64 {
            return None;
        }
        core::slice::from_raw_parts((base + phoff) as *const ProgramHeader, phnum)
    };
    let load = headers.iter().find(|h| h.kind == PT_LOAD)?;
    let bias = base.wrapping_sub(load.vaddr as usize);
    let dynamic = headers.iter().find(|h| h.kind == PT_DYNAMIC)?;
    let object = Object::at(
        bias,
        bias.wrapping_add(dynamic.vaddr as usize) as *const Dyn,
    )?;
    let address = object.lookup(b"__vdso_clock_gettime")?;
    // SAFETY: the vDSO's `clock_gettime`, whose C signature is fixed by POSIX.
    Some(unsafe { core::mem::transmute::<usize, ClockFn>(address) })
}

/// The first entry of the loader's object list, through `DT_DEBUG` of the main program.
fn link_map_head(auxv: &Auxv) -> Option<*const LinkMap> {
    if auxv.phdr == 0 || auxv.phnum == 0 || auxv.phnum > 256 {
        return None;
    }
    // SAFETY: AT_PHDR/AT_PHNUM describe the main program's program headers, mapped for the
    // life of the process.
    let headers =
        unsafe { core::slice::from_raw_parts(auxv.phdr as *const ProgramHeader, auxv.phnum) };
    let bias = headers
        .iter()
        .find(|h| h.kind == PT_PHDR)
        .map(|h| auxv.phdr.wrapping_sub(h.vaddr as usize))?;
    let dynamic = headers.iter().find(|h| h.kind == PT_DYNAMIC)?;
    let mut entry = bias.wrapping_add(dynamic.vaddr as usize) as *const Dyn;
    for _ in 0..1024 {
        // SAFETY: PT_DYNAMIC points at the program's DT_NULL-terminated dynamic section.
        let d = unsafe { &*entry };
        match d.tag {
            DT_NULL => return None,
            DT_DEBUG if d.value != 0 => {
                // SAFETY: the loader stored its `struct r_debug` here.
                let head = unsafe { (*(d.value as *const RDebug)).map };
                return (!head.is_null()).then_some(head);
            }
            _ => {}
        }
        // SAFETY: still inside the dynamic section (DT_NULL not reached).
        entry = unsafe { entry.add(1) };
    }
    None
}

impl Object {
    fn new(map: &LinkMap) -> Option<Object> {
        if map.dynamic.is_null() {
            return None;
        }
        Object::at(map.addr, map.dynamic)
    }

    /// The tables of the object loaded at `base` whose dynamic section is at `dynamic`.
    fn at(base: usize, dynamic: *const Dyn) -> Option<Object> {
        // glibc rewrites dynamic entries to absolute addresses, musl leaves them relative to
        // the load address: a value below the load address is relative.
        let absolute = |v: usize| if v < base { base.wrapping_add(v) } else { v };
        let mut object = Object {
            base,
            symtab: core::ptr::null(),
            strtab: core::ptr::null(),
            gnu_hash: core::ptr::null(),
            sysv_hash: core::ptr::null(),
            versym: core::ptr::null(),
        };
        let mut entry = dynamic;
        for _ in 0..1024 {
            // SAFETY: `dynamic` points at the object's DT_NULL-terminated dynamic section.
            let d = unsafe { &*entry };
            match d.tag {
                DT_NULL => break,
                DT_SYMTAB => object.symtab = absolute(d.value) as *const Symbol,
                DT_STRTAB => object.strtab = absolute(d.value) as *const u8,
                DT_GNU_HASH => object.gnu_hash = absolute(d.value) as *const u32,
                DT_HASH => object.sysv_hash = absolute(d.value) as *const u32,
                DT_VERSYM => object.versym = absolute(d.value) as *const u16,
                _ => {}
            }
            // SAFETY: still inside the dynamic section.
            entry = unsafe { entry.add(1) };
        }
        let has_hash = !object.gnu_hash.is_null() || !object.sysv_hash.is_null();
        (!object.symtab.is_null() && !object.strtab.is_null() && has_hash).then_some(object)
    }

    /// Address of the default-version definition of `name` in this object.
    fn lookup(&self, name: &[u8]) -> Option<usize> {
        // SAFETY: the hash tables and symbol/string tables are those of a loaded object, laid
        // out as the ELF gABI (DT_HASH) and GNU (DT_GNU_HASH) specify.
        unsafe {
            if !self.gnu_hash.is_null() {
                self.lookup_gnu(name)
            } else {
                self.lookup_sysv(name)
            }
        }
    }

    /// `name` looked up in the object's GNU hash table. An empty bucket holds 0, below the
    /// first hashed symbol: not found.
    ///
    /// # Safety
    /// `gnu_hash`, `symtab`, `strtab` (and `versym` if not null) are the tables of a loaded
    /// object, laid out as the GNU hash format specifies.
    unsafe fn lookup_gnu(&self, name: &[u8]) -> Option<usize> {
        let table = self.gnu_hash;
        let nbuckets = *table as usize;
        let symoffset = *table.add(1) as usize;
        let bloom_words = *table.add(2) as usize;
        if nbuckets == 0 {
            return None;
        }
        let buckets = table.add(4 + bloom_words * 2);
        let chains = buckets.add(nbuckets);
        let hash = gnu_hash(name);
        let mut index = *buckets.add(hash as usize % nbuckets) as usize;
        if index < symoffset {
            return None;
        }
        loop {
            let chain = *chains.add(index - symoffset);
            if (chain | 1) == (hash | 1) {
                if let Some(address) = self.match_symbol(index, name) {
                    return Some(address);
                }
            }
            if chain & 1 != 0 {
                return None;
            }
            index += 1;
        }
    }

    /// `name` looked up in the object's SysV (`DT_HASH`) table.
    ///
    /// # Safety
    /// `sysv_hash`, `symtab`, `strtab` (and `versym` if not null) are the tables of a loaded
    /// object, laid out as the ELF gABI specifies.
    unsafe fn lookup_sysv(&self, name: &[u8]) -> Option<usize> {
        let table = self.sysv_hash;
        let nbuckets = *table as usize;
        let nchains = *table.add(1) as usize;
        if nbuckets == 0 {
            return None;
        }
        let buckets = table.add(2);
        let chains = buckets.add(nbuckets);
        let mut index = *buckets.add(sysv_hash(name) as usize % nbuckets) as usize;
        let mut steps = 0;
        while index != 0 && index < nchains && steps < nchains {
            if let Some(address) = self.match_symbol(index, name) {
                return Some(address);
            }
            index = *chains.add(index) as usize;
            steps += 1;
        }
        None
    }

    /// The address of symbol `index` if it is a default-version definition named `name`.
    ///
    /// # Safety
    /// `index` is a symbol of the object's symbol table, whose tables are those of a loaded
    /// object.
    unsafe fn match_symbol(&self, index: usize, name: &[u8]) -> Option<usize> {
        const STT_OBJECT: u8 = 1;
        const STT_FUNC: u8 = 2;
        const VERSYM_HIDDEN: u16 = 0x8000;
        let symbol = &*self.symtab.add(index);
        let kind = symbol.info & 0xf;
        if symbol.shndx == 0 || !(kind == STT_FUNC || kind == STT_OBJECT) {
            return None;
        }
        if !self.versym.is_null() {
            let version = *self.versym.add(index);
            if version & VERSYM_HIDDEN != 0 || version == 0 {
                return None;
            }
        }
        let symbol_name = CStr::from_ptr(self.strtab.add(symbol.name as usize).cast());
        (symbol_name.to_bytes() == name).then(|| self.base.wrapping_add(symbol.value as usize))
    }
}

fn gnu_hash(name: &[u8]) -> u32 {
    name.iter()
        .fold(5381u32, |h, &c| h.wrapping_mul(33).wrapping_add(c as u32))
}

fn sysv_hash(name: &[u8]) -> u32 {
    name.iter().fold(0u32, |h, &c| {
        let h = (h << 4).wrapping_add(c as u32);
        let g = h & 0xf000_0000;
        (h ^ (g >> 24)) & !g
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn hashes_match_the_elf_specifications() {
        assert_eq!(gnu_hash(b""), 5381);
        assert_eq!(gnu_hash(b"printf"), 0x156b_2bb8);
        assert_eq!(sysv_hash(b"printf"), 0x0779_05a6);
    }

    /// `test-assets/elf/empty-gnu-bucket.so` laid out in memory as the loader maps it: each
    /// `PT_LOAD` segment's file bytes at its address from the start, the rest zero (musl's
    /// view: the dynamic section's addresses stay relative to the load address).
    struct Mapped {
        /// The image, in words so that its tables are aligned as in a real mapping.
        words: Vec<u64>,
        /// The same bytes, to read what a found address points at.
        bytes: Vec<u8>,
        /// Where `PT_DYNAMIC` starts, from the load address.
        dynamic: usize,
    }

    impl Mapped {
        fn load() -> Mapped {
            const PT_LOAD: u32 = 1;
            let path = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../test-assets/elf/empty-gnu-bucket.so"
            );
            let file = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
            let word = |at: usize| u64::from_le_bytes(file[at..at + 8].try_into().unwrap());
            let half = |at: usize| u16::from_le_bytes([file[at], file[at + 1]]) as usize;
            let (phoff, phentsize, phnum) = (word(0x20) as usize, half(0x36), half(0x38));
            let headers: Vec<(u32, usize, usize, usize, usize)> = (0..phnum)
                .map(|i| {
                    let h = phoff + i * phentsize;
                    let kind = u32::from_le_bytes(file[h..h + 4].try_into().unwrap());
                    let [offset, vaddr, filesz, memsz] =
                        [8, 16, 32, 40].map(|field| word(h + field) as usize);
                    (kind, offset, vaddr, filesz, memsz)
                })
                .collect();
            let end = headers
                .iter()
                .filter(|h| h.0 == PT_LOAD)
                .map(|&(_, _, vaddr, _, memsz)| vaddr + memsz)
                .max()
                .expect("PT_LOAD");
            let mut bytes = vec![0u8; end.next_multiple_of(8)];
            for &(_, offset, vaddr, filesz, _) in headers.iter().filter(|h| h.0 == PT_LOAD) {
                bytes[vaddr..vaddr + filesz].copy_from_slice(&file[offset..offset + filesz]);
            }
            let dynamic = headers
                .iter()
                .find(|h| h.0 == PT_DYNAMIC)
                .expect("PT_DYNAMIC")
                .2;
            let words = bytes
                .chunks_exact(8)
                .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
                .collect();
            Mapped {
                words,
                bytes,
                dynamic,
            }
        }

        fn base(&self) -> usize {
            self.words.as_ptr() as usize
        }

        /// The object as `inspect` reads it from the loader's list.
        fn object(&self) -> Object {
            let map = LinkMap {
                addr: self.base(),
                name: core::ptr::null(),
                dynamic: (self.base() + self.dynamic) as *const Dyn,
                next: core::ptr::null(),
                prev: core::ptr::null(),
            };
            Object::new(&map).expect("symbol, string and hash tables")
        }

        /// The object with its SysV table only, as objects linked with `--hash-style=sysv`.
        fn sysv_object(&self) -> Object {
            Object {
                gnu_hash: core::ptr::null(),
                ..self.object()
            }
        }

        /// The string a found address points at (each data symbol holds its name).
        fn string_at(&self, address: usize) -> &str {
            let start = address - self.base();
            let len = self.bytes[start..].iter().position(|&b| b == 0).unwrap();
            std::str::from_utf8(&self.bytes[start..start + len]).unwrap()
        }

        /// The GNU hash table's buckets: each the first symbol of its chain, 0 if empty.
        fn gnu_buckets(&self) -> Vec<u32> {
            let table = self.object().gnu_hash as usize - self.base();
            let word = |i: usize| {
                let at = table + 4 * i;
                u32::from_le_bytes(self.bytes[at..at + 4].try_into().unwrap())
            };
            let (nbuckets, bloom_words) = (word(0) as usize, word(2) as usize);
            (0..nbuckets)
                .map(|i| word(4 + 2 * bloom_words + i))
                .collect()
        }
    }

    #[test]
    fn a_definition_is_found_through_either_hash_table() {
        let mapped = Mapped::load();
        for object in [mapped.object(), mapped.sysv_object()] {
            let data = object.lookup(b"found_data").expect("found_data");
            assert_eq!(mapped.string_at(data), "found_data");
            let function = object.lookup(b"found_function").expect("found_function");
            assert!((mapped.base()..mapped.base() + mapped.bytes.len()).contains(&function));
        }
    }

    #[test]
    fn a_name_without_a_definition_is_not_found() {
        let mapped = Mapped::load();
        for object in [mapped.object(), mapped.sysv_object()] {
            assert_eq!(object.lookup(b"environ"), None, "absent");
            assert_eq!(object.lookup(b"found_dat"), None, "a prefix of a name");
            assert_eq!(object.lookup(b"imported"), None, "undefined here");
            assert_eq!(object.lookup(b"hidden_data"), None, "hidden visibility");
        }
    }

    #[test]
    fn a_name_in_an_empty_gnu_bucket_is_not_found() {
        let mapped = Mapped::load();
        let buckets = mapped.gnu_buckets();
        assert!(
            buckets.contains(&0),
            "the asset has an empty bucket: {buckets:?}"
        );
        let name = (0..)
            .map(|i| std::format!("absent{i}"))
            .find(|n| buckets[gnu_hash(n.as_bytes()) as usize % buckets.len()] == 0)
            .unwrap();
        assert_eq!(mapped.object().lookup(name.as_bytes()), None, "{name}");
    }

    #[test]
    fn only_the_default_version_of_a_name_is_found() {
        let mapped = Mapped::load();
        for object in [mapped.object(), mapped.sysv_object()] {
            let versioned = object.lookup(b"versioned").expect("versioned");
            assert_eq!(mapped.string_at(versioned), "versioned@@VER_2");
            assert_eq!(object.lookup(b"compat_only"), None, "a hidden version only");
        }
    }
}
