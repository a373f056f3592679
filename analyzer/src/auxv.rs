//! The auxiliary vector (`/proc/self/auxv`), as the library reads it at start-up: the
//! secure-execution flag and where the loader put the program.

/// `AT_NULL`: end of the vector.
const AT_NULL: u64 = 0;
/// `AT_PHDR`: address of the program's program headers.
const AT_PHDR: u64 = 3;
/// `AT_PHNUM`: number of program headers.
const AT_PHNUM: u64 = 5;
/// `AT_SECURE`: non-zero under secure execution (setuid, setgid, file capabilities).
const AT_SECURE: u64 = 23;

/// The entries of the auxiliary vector the library uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Auxv {
    /// Secure execution (`AT_SECURE != 0`): the library must do nothing at all.
    pub secure: bool,
    /// Address of the main program's program headers, e.g. `0x5581_2c60_0040`.
    pub phdr: usize,
    /// Number of the main program's program headers.
    pub phnum: usize,
}

/// Parses the raw bytes of `/proc/self/auxv` (native-endian `(type, value)` pairs of u64).
///
/// Returns `None` if the data is truncated before `AT_NULL` or lacks `AT_SECURE`: without it
/// the library cannot rule out secure execution, so it must not act.
pub fn parse(bytes: &[u8]) -> Option<Auxv> {
    let mut auxv = Auxv::default();
    let mut saw_secure = false;
    for pair in bytes.chunks_exact(16) {
        let (kind, value) = pair.split_at(8);
        let kind = u64::from_ne_bytes(kind.try_into().ok()?);
        let value = u64::from_ne_bytes(value.try_into().ok()?) as usize;
        match kind {
            AT_NULL => return saw_secure.then_some(auxv),
            AT_SECURE => {
                auxv.secure = value != 0;
                saw_secure = true;
            }
            AT_PHDR => auxv.phdr = value,
            AT_PHNUM => auxv.phnum = value,
            _ => {}
        }
    }
    None
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
        assert!(auxv.phdr != 0 && auxv.phnum > 0);
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

    fn asset(name: &str) -> Vec<u8> {
        std::fs::read([env!("CARGO_MANIFEST_DIR"), "/../test-assets/proc/", name].concat()).unwrap()
    }

    #[test]
    fn captured_vectors_of_glibc_and_musl_processes() {
        for name in ["auxv-glibc", "auxv-musl"] {
            let bytes = asset(name);
            let auxv = parse(&bytes).unwrap_or_else(|| panic!("{name}"));
            assert!(!auxv.secure && auxv.phdr != 0 && auxv.phnum > 0, "{name}");
            for cut in (0..bytes.len()).step_by(8) {
                let end = bytes[..cut].chunks_exact(16).any(|p| p[..8] == [0; 8]);
                assert_eq!(parse(&bytes[..cut]).is_some(), end, "{name} cut at {cut}");
            }
        }
    }
}
