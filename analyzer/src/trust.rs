//! Which files the library may act on: only those nobody but their owner can change.
//!
//! A library package, `requirements.json` or compiled configuration that is group- or
//! world-writable, or (in a process running as root) not owned by root, would let any local
//! user get code into other users' (or root's) processes: it is ignored (`untrusted_file`).

use crate::host::{FileInfo, Host};

/// Whether `info` describes a file the process may trust.
pub fn trusted(info: &FileInfo, euid: u32) -> bool {
    info.mode & 0o022 == 0 && (euid != 0 || info.uid == 0)
}

/// Whether every existing path of `paths` is trusted (missing ones are judged elsewhere).
pub fn all_trusted<H: Host + ?Sized>(host: &H, euid: u32, paths: &[&[u8]]) -> bool {
    paths
        .iter()
        .all(|path| host.stat(path).is_none_or(|info| trusted(&info, euid)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::FileKind;

    #[test]
    fn writable_by_others_or_foreign_owned_for_root_is_untrusted() {
        let file = |mode, uid| FileInfo {
            kind: FileKind::File,
            mode,
            uid,
        };
        assert!(trusted(&file(0o644, 0), 0));
        assert!(trusted(&file(0o755, 1000), 1000));
        assert!(!trusted(&file(0o664, 0), 0));
        assert!(!trusted(&file(0o646, 0), 1000));
        assert!(
            !trusted(&file(0o644, 1000), 0),
            "root must not run a user's file"
        );
        assert!(trusted(&file(0o644, 0), 1000));
    }
}
