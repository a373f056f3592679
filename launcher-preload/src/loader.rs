//! What the dynamic loader hands the constructor, read from memory without a system call.
//!
//! The kernel lays the initial stack out as `argc`, `argv[0..argc]`, a null, `envp[..]`, a
//! null, then the auxiliary vector up to `AT_NULL`, then the strings. glibc's loader calls each
//! `.init_array` entry of the objects it loads at start-up with `(argc, argv, envp)` pointing
//! into that stack (`_dl_init`; when `ld.so` runs a program itself, it first moves the three
//! arrays down over its own arguments, keeping the layout). musl's loader calls constructors
//! with no arguments: the registers hold whatever they held, and nothing may be read through
//! them.
//!
//! So the arguments are used only when both hold:
//! - glibc's loader mapped this library: it rewrites the address entries of a writable
//!   dynamic section to absolute addresses when it maps an object (`elf_get_dynamic_info`);
//!   musl's never writes there. `tests/library_elf.rs` pins that ours is writable. A loader
//!   that stopped rewriting would only send every process to the `/proc` path.
//! - `envp == argv + argc + 1`: the arrays are the initial stack's, not an `environ` that a
//!   `dlopen` long after start-up would pass, which `setenv` may have moved to the heap.
//!
//! Then the environment is walked to its null and the auxiliary vector behind it is read to
//! `AT_NULL`, both with a bound. An earlier constructor that removed a variable in place
//! (glibc's `unsetenv` shifts the array down) leaves a second null where the vector should
//! start: it reads as an empty vector without `AT_SECURE`, which is refused, and the library
//! falls back to `/proc` like under musl.

use alloc::vec::Vec;
use analyzer::auxv::{self, Auxv};
use core::ffi::{c_int, CStr};

/// Most environment entries walked to find the auxiliary vector; more sends the process to the
/// `/proc` path. Linux caps argv and environ at 3/4 of 8 MiB, about 786,000 pointers.
const MAX_ENVIRONMENT: usize = 1 << 20;

const DT_NULL: usize = 0;
const DT_STRTAB: usize = 5;

/// One entry of a dynamic section.
#[repr(C)]
pub struct Dyn {
    /// What the entry is, e.g. `DT_STRTAB`.
    pub tag: usize,
    /// Its value or address.
    pub value: usize,
}

/// Address of this library's own dynamic section (`_DYNAMIC`, defined by the linker), taken in
/// assembly so that it costs no GOT entry.
pub fn own_dynamic() -> usize {
    let address: usize;
    // SAFETY: only computes an address.
    unsafe {
        core::arch::asm!("lea {}, [rip + _DYNAMIC]", out(reg) address, options(nomem, nostack, pure))
    };
    address
}

/// Address of this library's ELF header, i.e. where the loader mapped it.
fn own_base() -> usize {
    let address: usize;
    // SAFETY: only computes an address (`__ehdr_start` is defined by the linker).
    unsafe {
        core::arch::asm!("lea {}, [rip + __ehdr_start]", out(reg) address, options(nomem, nostack, pure))
    };
    address
}

/// Whether glibc's loader mapped this library, told by its rewriting of `DT_STRTAB` to an
/// absolute address (the file holds an offset in the first page, far below any load address).
#[link_section = ".text.hot.apm_start"]
fn mapped_by_glibc() -> bool {
    let base = own_base();
    let mut entry = own_dynamic() as *const Dyn;
    // No bound but DT_NULL: the section is our own, written by the linker.
    loop {
        // SAFETY: `_DYNAMIC` is our own DT_NULL-terminated dynamic section, mapped readable.
        let d = unsafe { &*entry };
        match d.tag {
            DT_NULL => return false,
            DT_STRTAB => return d.value >= base,
            // SAFETY: DT_NULL not reached: the next entry is still in the section.
            _ => entry = unsafe { entry.add(1) },
        }
    }
}

/// The process's arguments and auxiliary vector, as the kernel laid them on the initial stack.
pub struct Startup {
    argc: usize,
    argv: *const *const u8,
    /// The auxiliary vector's entries the library uses.
    pub auxv: Auxv,
}

impl Startup {
    /// Reads the initial stack through the constructor's arguments, if the loader is known to
    /// pass them (see the module's documentation); `None` otherwise.
    #[link_section = ".text.hot.apm_start"]
    pub fn from_constructor(
        argc: c_int,
        argv: *const *const u8,
        envp: *const *const u8,
    ) -> Option<Startup> {
        if !mapped_by_glibc() {
            return None;
        }
        let argc = usize::try_from(argc).ok()?;
        if argv.is_null() || !argv.is_aligned() || argc > MAX_ENVIRONMENT {
            return None;
        }
        if envp != argv.wrapping_add(argc + 1) {
            return None;
        }
        let mut entry = envp;
        let mut walked = 0;
        // SAFETY: glibc passed the initial stack's arrays (checked above): `envp` is the
        // null-terminated environment array, followed by the auxiliary vector, itself ended by
        // AT_NULL; both bounds keep the reads inside them.
        unsafe {
            while !(*entry).is_null() {
                walked += 1;
                if walked > MAX_ENVIRONMENT {
                    return None;
                }
                entry = entry.add(1);
            }
            let vector = entry.add(1) as *const u64;
            let auxv = auxv::from_entries(
                (0..auxv::MAX_ENTRIES).map(|i| (*vector.add(2 * i), *vector.add(2 * i + 1))),
            )?;
            Some(Startup { argc, argv, auxv })
        }
    }

    /// How many arguments the process has (0 is possible: `execve` with an empty argv on
    /// kernels before 5.18).
    pub fn argc(&self) -> usize {
        self.argc
    }

    /// Argument `i`, e.g. `python3` for 0, if `i < argc`.
    pub fn arg(&self, i: usize) -> Option<&'static CStr> {
        if i >= self.argc {
            return None;
        }
        // SAFETY: `argv[0..argc]` are the kernel's non-null pointers to C strings on the
        // initial stack, which lives as long as the process.
        unsafe {
            let arg = *self.argv.add(i);
            (!arg.is_null()).then(|| CStr::from_ptr(arg.cast()))
        }
    }

    /// The arguments, e.g. `["python3", "app.py"]`.
    pub fn args(&self) -> Vec<&'static [u8]> {
        (0..self.argc)
            .filter_map(|i| self.arg(i))
            .map(CStr::to_bytes)
            .collect()
    }

    /// The path `execve` was given (`AT_EXECFN`), e.g. `/usr/bin/python3` or `./configure`.
    pub fn execfn(&self) -> Option<&'static CStr> {
        let address = self.auxv.execfn;
        // SAFETY: AT_EXECFN is the address of a C string the kernel wrote on the initial stack.
        (address != 0).then(|| unsafe { CStr::from_ptr(address as *const core::ffi::c_char) })
    }
}

#[cfg(test)]
impl Startup {
    /// The start-up data of a process run as `execfn` with `args`, for tests (the strings and
    /// the array are leaked).
    pub fn fake(args: &[&str], execfn: &str) -> Startup {
        let leak = |s: &str| {
            std::ffi::CString::new(s)
                .unwrap()
                .into_raw()
                .cast_const()
                .cast::<u8>()
        };
        let mut argv: Vec<*const u8> = args.iter().map(|a| leak(a)).collect();
        argv.push(core::ptr::null());
        Startup {
            argc: args.len(),
            argv: argv.leak().as_ptr(),
            auxv: Auxv {
                execfn: leak(execfn) as usize,
                interpreter: 0x7f00_0000_0000, // run by the kernel through its loader
                ..Auxv::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_read_up_to_argc() {
        let startup = Startup::fake(&["python3", "app.py"], "/usr/bin/python3");
        assert_eq!(startup.args(), [&b"python3"[..], b"app.py"]);
        assert_eq!(startup.arg(2), None);
        assert_eq!(startup.execfn().unwrap().to_bytes(), b"/usr/bin/python3");
        assert!(Startup::fake(&[], "/x").args().is_empty());
    }
}
