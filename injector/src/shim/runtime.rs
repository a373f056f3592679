//! The real runtime the shim chains to, the first that exists of:
//! 1. `docker_config.yaml`'s `runtimes` (a name is searched in `PATH`), when given;
//! 2. the default runtime `daemon.json` declared before the install (a custom runtime such as
//!    `nvidia`, with its `runtimeArgs`), as install recorded it ([`Previous`]);
//! 3. `runc` in `PATH`.
//!
//! Never the shim itself (the same file, or another name for the `apm-inject` binary), so
//! that a misconfiguration cannot loop.

use crate::daemon_json::Previous;
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A runtime to run: the program and the arguments that go before the caller's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtime {
    /// The program, a path or a name searched in `PATH`.
    pub program: PathBuf,
    /// Arguments put before the call's own (`runtimeArgs` of `daemon.json`).
    pub args: Vec<OsString>,
}

impl Runtime {
    /// `program` with no arguments of its own.
    pub fn plain(program: impl Into<PathBuf>) -> Runtime {
        Runtime {
            program: program.into(),
            args: Vec::new(),
        }
    }

    /// The runtime with its own arguments, ready for the call's.
    pub fn command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(&self.program);
        cmd.args(&self.args);
        cmd
    }
}

/// The candidates, in order: `configured` if not empty, else the declared runtime of
/// `previous`, then `runc`.
pub fn candidates(configured: &[PathBuf], previous: Option<&Previous>) -> Vec<Runtime> {
    if !configured.is_empty() {
        return configured.iter().cloned().map(Runtime::plain).collect();
    }
    let declared = previous.and_then(|p| p.declared.as_ref()).map(|d| Runtime {
        program: PathBuf::from(&d.path),
        args: d.args.iter().map(OsString::from).collect(),
    });
    declared
        .into_iter()
        .chain([Runtime::plain("runc")])
        .collect()
}

/// The runtime to run, among `candidates`, with its program resolved; `None` if none exists.
pub fn find(candidates: &[Runtime], path_var: Option<&OsStr>) -> Option<Runtime> {
    let own = std::fs::metadata("/proc/self/exe").ok();
    let is_self = |candidate: &Path| {
        let meta = std::fs::metadata(candidate).ok();
        match (&own, meta) {
            (Some(own), Some(m)) => own.dev() == m.dev() && own.ino() == m.ino(),
            _ => false,
        }
    };
    candidates.iter().find_map(|candidate| {
        let program = &candidate.program;
        let found: Vec<PathBuf> = if program.components().count() > 1 {
            vec![program.clone()]
        } else {
            let path_var = path_var.unwrap_or(OsStr::new("/usr/local/bin:/usr/bin:/bin"));
            std::env::split_paths(path_var)
                .map(|dir| dir.join(program))
                .collect()
        };
        let program = found
            .into_iter()
            .find(|p| crate::command::is_executable(p) && !is_self(p))?;
        Some(Runtime {
            program,
            args: candidate.args.clone(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon_json::Declared;
    use std::os::unix::fs::PermissionsExt;

    fn executable(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn plain(path: &Path) -> Option<Runtime> {
        Some(Runtime::plain(path))
    }

    #[test]
    fn first_existing_candidate_wins() {
        let dir = tempfile::tempdir().unwrap();
        let custom = executable(dir.path(), "my-runc");
        let bin = tempfile::tempdir().unwrap();
        let runc = executable(bin.path(), "runc");
        let path = bin.path().as_os_str();
        let configured = [dir.path().join("missing"), custom.clone(), "runc".into()];
        assert_eq!(
            find(&candidates(&configured, None), Some(path)),
            plain(&custom)
        );
        assert_eq!(find(&candidates(&[], None), Some(path)), plain(&runc));
        assert_eq!(find(&[Runtime::plain("nothing")], Some(path)), None);
    }

    #[test]
    fn the_runtime_docker_used_before_comes_before_runc() {
        let dir = tempfile::tempdir().unwrap();
        let nvidia = executable(dir.path(), "nvidia-container-runtime");
        let bin = tempfile::tempdir().unwrap();
        let runc = executable(bin.path(), "runc");
        let path = bin.path().as_os_str();
        let previous = |program: &Path| Previous {
            existed: true,
            default_runtime: Some("nvidia".into()),
            declared: Some(Declared {
                path: program.to_str().unwrap().into(),
                args: vec!["--debug".into()],
            }),
        };
        let chained = find(&candidates(&[], Some(&previous(&nvidia))), Some(path)).unwrap();
        assert_eq!(chained.program, nvidia);
        assert_eq!(chained.args, [OsString::from("--debug")]);
        let configured = find(
            &candidates(&["runc".into()], Some(&previous(&nvidia))),
            Some(path),
        );
        assert_eq!(
            configured,
            plain(&runc),
            "docker_config.yaml's runtimes win"
        );
        let gone = previous(&dir.path().join("removed"));
        assert_eq!(
            find(&candidates(&[], Some(&gone)), Some(path)),
            plain(&runc),
            "a runtime removed since falls back to runc"
        );
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
        assert_eq!(find(&candidates(&[], None), Some(&path)), plain(&runc));
        assert_eq!(find(&[Runtime::plain(&own)], Some(&path)), None);
    }
}
