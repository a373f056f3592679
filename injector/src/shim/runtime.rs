//! The real runtime the shim chains to: the first of `docker_config.yaml`'s `runtimes` that
//! exists (a name is searched in `PATH`), default `runc`, never the shim itself (the same file,
//! or another name for the `apm-inject` binary), so that a misconfiguration cannot loop.

use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The runtime to run, among `candidates`; `None` if none exists.
pub fn find(candidates: &[PathBuf], path_var: Option<&OsStr>) -> Option<PathBuf> {
    let own = std::fs::metadata("/proc/self/exe").ok();
    let is_self = |candidate: &Path| {
        let meta = std::fs::metadata(candidate).ok();
        match (&own, meta) {
            (Some(own), Some(m)) => own.dev() == m.dev() && own.ino() == m.ino(),
            _ => false,
        }
    };
    candidates.iter().find_map(|candidate| {
        let found: Vec<PathBuf> = if candidate.components().count() > 1 {
            vec![candidate.clone()]
        } else {
            let path_var = path_var.unwrap_or(OsStr::new("/usr/local/bin:/usr/bin:/bin"));
            std::env::split_paths(path_var)
                .map(|dir| dir.join(candidate))
                .collect()
        };
        found
            .into_iter()
            .find(|p| crate::command::is_executable(p) && !is_self(p))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn executable(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn first_existing_candidate_wins() {
        let dir = tempfile::tempdir().unwrap();
        let custom = executable(dir.path(), "my-runc");
        let bin = tempfile::tempdir().unwrap();
        let runc = executable(bin.path(), "runc");
        let path = bin.path().as_os_str();
        let candidates = [dir.path().join("missing"), custom.clone(), "runc".into()];
        assert_eq!(find(&candidates, Some(path)), Some(custom));
        assert_eq!(find(&["runc".into()], Some(path)), Some(runc));
        assert_eq!(find(&["nothing".into()], Some(path)), None);
    }

    #[test]
    fn the_shim_itself_is_never_chosen() {
        let bin = tempfile::tempdir().unwrap();
        let own = bin.path().join("runc");
        std::fs::hard_link(std::env::current_exe().unwrap(), &own)
            .or_else(|_| std::os::unix::fs::symlink(std::env::current_exe().unwrap(), &own))
            .unwrap();
        let later = tempfile::tempdir().unwrap();
        let runc = executable(later.path(), "runc");
        let path = std::env::join_paths([bin.path(), later.path()]).unwrap();
        assert_eq!(find(&["runc".into()], Some(&path)), Some(runc));
        assert_eq!(find(&[own], Some(&path)), None);
    }
}
