//! The auxiliary vector, as the library reads it at start-up: the secure-execution flag, where
//! the loader put the program, and the path the program was executed by.
//!
//! Two sources, one parser: the vector in memory behind the environment on the initial stack
//! (glibc hands constructors `argc`, `argv` and `envp`; see the library's `loader` module) or
//! the raw bytes of `/proc/self/auxv` (musl hands constructors nothing).

/// `AT_NULL`: end of the vector.
const AT_NULL: u64 = 0;
/// `AT_PHDR`: address of the program's program headers.
const AT_PHDR: u64 = 3;
/// `AT_PHNUM`: number of program headers.
const AT_PHNUM: u64 = 5;
/// `AT_BASE`: where the kernel loaded the program's interpreter (the dynamic loader).
const AT_BASE: u64 = 7;
/// `AT_EUID`: the effective user id the process started with.
const AT_EUID: u64 = 12;
/// `AT_SECURE`: non-zero under secure execution (setuid, setgid, file capabilities).
const AT_SECURE: u64 = 23;
/// `AT_EXECFN`: address of the path given to `execve`, a C string on the initial stack.
const AT_EXECFN: u64 = 31;
/// `AT_SYSINFO_EHDR`: where the kernel mapped the vDSO, its ELF header.
const AT_SYSINFO_EHDR: u64 = 33;

/// Most entries a vector may have before it is taken for garbage (Linux writes about 25).
pub const MAX_ENTRIES: usize = 64;

/// The entries of the auxiliary vector the library uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Auxv {
    /// Secure execution (`AT_SECURE != 0`): the library must do nothing at all.
    pub secure: bool,
    /// Address of the main program's program headers, e.g. `0x5581_2c60_0040`.
    pub phdr: usize,
    /// Number of the main program's program headers.
    pub phnum: usize,
    /// Address of the path `execve` was given, e.g. of `/usr/bin/python3` (0 if absent).
    /// For a `#!` script it is the script's path, not the interpreter's.
    pub execfn: usize,
    /// Address of the dynamic loader the kernel loaded for the program (`AT_BASE`): 0 when
    /// the loader itself was executed (`ld.so PROGRAM`), which then rewrites `AT_EXECFN` to
    /// name `PROGRAM` while `/proc/self/exe` still names the loader.
    pub interpreter: usize,
    /// Address of the vDSO's ELF header (`AT_SYSINFO_EHDR`), 0 if the kernel mapped none.
    pub vdso: usize,
    /// The effective user id at `execve` (`AT_EUID`), `None` if the kernel gave none: what
    /// `geteuid` answers in a constructor, without the system call.
    pub euid: Option<u32>,
}

/// Parses `(type, value)` entries up to `AT_NULL`, reading at most [`MAX_ENTRIES`] of them.
///
/// Returns `None` if the entries end (or the limit is reached) before `AT_NULL`, or if
/// `AT_SECURE` is missing: without it the library cannot rule out secure execution, so it must
/// not act.
pub fn from_entries(entries: impl IntoIterator<Item = (u64, u64)>) -> Option<Auxv> {
    let mut auxv = Auxv::default();
    let mut saw_secure = false;
    for (kind, value) in entries.into_iter().take(MAX_ENTRIES) {
        let value = value as usize;
        match kind {
            AT_NULL => return saw_secure.then_some(auxv),
            AT_SECURE => {
                auxv.secure = value != 0;
                saw_secure = true;
            }
            AT_PHDR => auxv.phdr = value,
            AT_PHNUM => auxv.phnum = value,
            AT_EXECFN => auxv.execfn = value,
            AT_BASE => auxv.interpreter = value,
            AT_SYSINFO_EHDR => auxv.vdso = value,
            AT_EUID => auxv.euid = u32::try_from(value).ok(),
            _ => {}
        }
    }
    None
}

/// Parses the raw bytes of `/proc/self/auxv` (native-endian `(type, value)` pairs of u64), as
/// [`from_entries`] does.
pub fn parse(bytes: &[u8]) -> Option<Auxv> {
    from_entries(bytes.chunks_exact(16).map(|pair| {
        let (kind, value) = pair.split_at(8);
        let word = |b: &[u8]| u64::from_ne_bytes(b.try_into().unwrap_or_default());
        (word(kind), word(value))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    use alloc::vec::Vec;

    fn vector(pairs: &[(u64, u64)]) -> Vec<u8> {
        pairs
            .iter()
            .flat_map(|(k, v)| k.to_ne_bytes().into_iter().chain(v.to_ne_bytes()))
            .collect()
    }

    #[test]
    fn reads_this_process_auxv() {
        let bytes = std::fs::read("/proc/self/auxv").unwrap();
        let auxv = parse(&bytes).unwrap();
        assert!(!auxv.secure);
        assert!(auxv.phdr != 0 && auxv.phnum > 0 && auxv.execfn != 0);
        assert!(auxv.interpreter != 0, "a dynamically linked test binary");
        assert!(auxv.vdso != 0, "x86_64 Linux maps a vDSO");
        // /proc/self belongs to the process's effective user.
        use std::os::unix::fs::MetadataExt;
        let euid = std::fs::metadata("/proc/self").unwrap().uid();
        assert_eq!(auxv.euid, Some(euid));
    }

    #[test]
    fn secure_flag_is_read() {
        let v = vector(&[(AT_PHNUM, 9), (AT_SECURE, 1), (AT_NULL, 0)]);
        assert_eq!(
            parse(&v),
            Some(Auxv {
                secure: true,
                phnum: 9,
                ..Auxv::default()
            })
        );
    }

    #[test]
    fn missing_secure_flag_or_truncation_is_refused() {
        assert_eq!(parse(&vector(&[(AT_PHNUM, 9), (AT_NULL, 0)])), None);
        let v = vector(&[(AT_SECURE, 0), (AT_NULL, 0)]);
        assert_eq!(parse(&v[..20]), None);
        assert_eq!(parse(&[]), None);
    }

    #[test]
    fn a_vector_without_end_is_read_no_further_than_the_limit() {
        let endless = core::iter::repeat((AT_SECURE, 0));
        assert_eq!(from_entries(endless), None);
        let mut long = alloc::vec![(AT_SECURE, 0); MAX_ENTRIES - 1];
        long.push((AT_NULL, 0));
        assert!(from_entries(long.iter().copied()).is_some());
        long.insert(0, (AT_PHNUM, 1));
        assert_eq!(from_entries(long), None, "65 entries");
    }

    fn asset(name: &str) -> Vec<u8> {
        std::fs::read([env!("CARGO_MANIFEST_DIR"), "/../test-assets/proc/", name].concat()).unwrap()
    }

    #[test]
    fn captured_vectors_of_glibc_and_musl_processes() {
        for name in ["auxv-glibc", "auxv-musl"] {
            let bytes = asset(name);
            let auxv = parse(&bytes).unwrap_or_else(|| panic!("{name}"));
            assert!(
                !auxv.secure && auxv.phdr != 0 && auxv.phnum > 0 && auxv.execfn != 0,
                "{name}"
            );
            for cut in (0..bytes.len()).step_by(8) {
                let end = bytes[..cut].chunks_exact(16).any(|p| p[..8] == [0; 8]);
                assert_eq!(parse(&bytes[..cut]).is_some(), end, "{name} cut at {cut}");
            }
        }
    }
}
