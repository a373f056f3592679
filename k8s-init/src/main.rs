//! `apm-inject-init [--from DIR] [--ld-so-preload FILE] DEST`: the whole program of the
//! injector and library images' init containers (built static, so the images need no shell
//! and no libc).
//!
//! Copies every package directory of `DIR` (default `/opt/datadog-packages`) into `DEST`:
//! directories 0755, executables 0755, other files 0644 (whatever the umask or the user),
//! symbolic links as they are (`stable -> 1.2.3`). Each package is copied under a temporary
//! name and renamed into place, replacing an earlier copy (a restarted pod), so a package is
//! either all there or absent. With `--ld-so-preload`, writes the launcher's path into FILE
//! (`…/inject/$LIB/launcher.preload.so`, as every preload list names it), only once the
//! injector package is in place with its `$LIB` directories (musl's literal `$LIB/` checked).
//!
//! Exit status: 1 when the injector package cannot be copied, lacks the `$LIB` directories
//! (an injector image older than them), or FILE cannot be written: the
//! app containers' `LD_PRELOAD` names the launcher, and a missing launcher would make every
//! process of the pod print a loader error (a visible init failure is better than a pod whose
//! every program writes to stderr). A library package that cannot be copied is reported and
//! skipped (exit 0): the launcher leaves that runtime alone (`library_missing`).
#![forbid(unsafe_code)]

use contract::layout::{DEFAULT_ROOT, INJECT_PACKAGE, STABLE_LAUNCHER};
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

struct Args {
    from: PathBuf,
    preload_file: Option<PathBuf>,
    dest: PathBuf,
}

fn main() -> ExitCode {
    let args = match parse(std::env::args_os().skip(1).collect()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("apm-inject-init: {e}\nusage: apm-inject-init [--from DIR] [--ld-so-preload FILE] DEST");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("apm-inject-init: {e}");
            ExitCode::from(1)
        }
    }
}

fn parse(args: Vec<OsString>) -> Result<Args, String> {
    let mut from = PathBuf::from(DEFAULT_ROOT);
    let mut preload_file = None;
    let mut dest = None;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        match arg.to_str() {
            Some("--from") => from = it.next().ok_or("--from needs a directory")?.into(),
            Some("--ld-so-preload") => {
                preload_file = Some(it.next().ok_or("--ld-so-preload needs a file")?.into())
            }
            Some(s) if s.starts_with('-') => return Err(format!("unknown option {s}")),
            _ if dest.is_none() => dest = Some(PathBuf::from(arg)),
            _ => return Err("one destination only".into()),
        }
    }
    Ok(Args {
        from,
        preload_file,
        dest: dest.ok_or("a destination directory is required")?,
    })
}

fn run(args: &Args) -> Result<(), String> {
    let entries = fs::read_dir(&args.from).map_err(|e| format!("{}: {e}", args.from.display()))?;
    let mut names: Vec<OsString> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    names.sort();
    let mut injector_copied = false;
    for name in names {
        let source = args.from.join(&name);
        if !fs::symlink_metadata(&source).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let injector = name == INJECT_PACKAGE;
        match copy_package(&source, &args.dest, &name) {
            Ok(()) => {
                injector_copied |= injector;
                println!("apm-inject-init: copied {}", source.display());
            }
            Err(e) if injector => return Err(e),
            Err(e) => eprintln!("apm-inject-init: skipped {}: {e}", source.display()),
        }
    }
    if let Some(file) = &args.preload_file {
        if !injector_copied {
            return Err(format!(
                "{} has no {INJECT_PACKAGE} package: {} not written",
                args.from.display(),
                file.display()
            ));
        }
        let launcher = copied_launcher(&args.dest);
        if !launcher.is_file() {
            return Err(format!(
                "{} is missing (an injector image without the $LIB directories): {} not written",
                launcher.display(),
                file.display()
            ));
        }
        write_preload(file)?;
    }
    Ok(())
}

/// Where the launcher that preload lists name is in the copy under `dest` (the volume the app
/// containers see at `/opt/datadog-packages`), with `$LIB` as musl opens it, literally.
fn copied_launcher(dest: &Path) -> PathBuf {
    let inside = STABLE_LAUNCHER
        .strip_prefix(DEFAULT_ROOT)
        .unwrap_or(STABLE_LAUNCHER)
        .trim_start_matches('/');
    dest.join(inside)
}

/// Copies `source` to `dest/name` through `dest/.name.tmp`.
fn copy_package(source: &Path, dest: &Path, name: &OsString) -> Result<(), String> {
    let mut temporary = OsString::from(".");
    temporary.push(name);
    temporary.push(".tmp");
    let temporary = dest.join(temporary);
    let target = dest.join(name);
    fs::create_dir_all(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    remove(&temporary)?;
    copy_tree(source, &temporary)?;
    remove(&target)?;
    fs::rename(&temporary, &target).map_err(|e| format!("{}: {e}", target.display()))
}

fn remove(path: &Path) -> Result<(), String> {
    match fs::symlink_metadata(path) {
        Err(_) => Ok(()),
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
    }
    .map_err(|e| format!("{}: {e}", path.display()))
}

/// An I/O error about `path`.
fn at(path: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

fn copy_tree(source: &Path, target: &Path) -> Result<(), String> {
    let meta = fs::symlink_metadata(source).map_err(at(source))?;
    let kind = meta.file_type();
    if kind.is_symlink() {
        symlink(fs::read_link(source).map_err(at(source))?, target).map_err(at(target))
    } else if kind.is_dir() {
        fs::create_dir(target).map_err(at(target))?;
        fs::set_permissions(target, fs::Permissions::from_mode(0o755)).map_err(at(target))?;
        for entry in fs::read_dir(source).map_err(at(source))? {
            let entry = entry.map_err(at(source))?;
            copy_tree(&entry.path(), &target.join(entry.file_name()))?;
        }
        Ok(())
    } else if kind.is_file() {
        fs::copy(source, target).map_err(at(target))?;
        let mode = if meta.permissions().mode() & 0o111 != 0 {
            0o755
        } else {
            0o644
        };
        fs::set_permissions(target, fs::Permissions::from_mode(mode)).map_err(at(target))
    } else {
        Ok(()) // sockets, FIFOs, devices: nothing a package needs
    }
}

/// Writes `STABLE_LAUNCHER\n` to `file` through a temporary file renamed over it.
fn write_preload(file: &Path) -> Result<(), String> {
    let at = |e: std::io::Error| format!("{}: {e}", file.display());
    let mut temporary = file.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let mut f = fs::File::create(&temporary).map_err(at)?;
    f.write_all(format!("{STABLE_LAUNCHER}\n").as_bytes())
        .map_err(at)?;
    f.set_permissions(fs::Permissions::from_mode(0o644))
        .map_err(at)?;
    fs::rename(&temporary, file).map_err(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path) {
        let version = root.join("datadog-apm-inject/1.0.0/inject");
        fs::create_dir_all(&version).unwrap();
        fs::write(version.join("launcher.preload.so"), b"elf").unwrap();
        fs::write(version.join("launcher.preload.i386.so"), b"elf32").unwrap();
        // As scripts/noop_preload.py lays them out.
        for (dir, target) in [
            ("$LIB", "../launcher.preload.so"),
            ("lib32", "../launcher.preload.i386.so"),
            ("lib/x86_64-linux-gnu", "../../launcher.preload.so"),
        ] {
            fs::create_dir_all(version.join(dir)).unwrap();
            symlink(target, version.join(dir).join("launcher.preload.so")).unwrap();
        }
        fs::write(version.join("apm-inject"), b"cli").unwrap();
        fs::set_permissions(
            version.join("apm-inject"),
            fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        symlink("1.0.0", root.join("datadog-apm-inject/stable")).unwrap();
        let lib = root.join("datadog-apm-library-python/4.16.0");
        fs::create_dir_all(&lib).unwrap();
        fs::write(lib.join("sitecustomize.py"), b"#").unwrap();
        fs::set_permissions(
            lib.join("sitecustomize.py"),
            fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }

    fn args(from: &Path, dest: &Path, preload: Option<&Path>) -> Args {
        Args {
            from: from.to_path_buf(),
            preload_file: preload.map(Path::to_path_buf),
            dest: dest.to_path_buf(),
        }
    }

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn copies_packages_with_fixed_modes_and_links_and_writes_ld_so_preload() {
        let (from, dest) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (from, dest) = (from.path(), dest.path());
        tree(from);
        let preload = dest.join("ld.so.preload");
        run(&args(from, &dest.join("pkgs"), Some(&preload))).unwrap();
        let pkgs = dest.join("pkgs");
        assert_eq!(
            fs::read_link(pkgs.join("datadog-apm-inject/stable")).unwrap(),
            Path::new("1.0.0")
        );
        assert_eq!(
            mode(&pkgs.join("datadog-apm-inject/1.0.0/inject/apm-inject")),
            0o755
        );
        assert_eq!(
            mode(&pkgs.join("datadog-apm-inject/1.0.0/inject/launcher.preload.so")),
            0o644
        );
        assert_eq!(
            mode(&pkgs.join("datadog-apm-library-python/4.16.0/sitecustomize.py")),
            0o644
        );
        assert_eq!(mode(&pkgs.join("datadog-apm-library-python")), 0o755);
        assert_eq!(
            fs::read_to_string(&preload).unwrap(),
            "/opt/datadog-packages/datadog-apm-inject/stable/inject/$LIB/launcher.preload.so\n"
        );
        assert_eq!(mode(&preload), 0o644);
        // Each loader's directory resolves inside the copy, to the object of its class.
        let inject = pkgs.join("datadog-apm-inject/stable/inject");
        for (dir, content) in [
            ("$LIB", "elf"),
            ("lib/x86_64-linux-gnu", "elf"),
            ("lib32", "elf32"),
        ] {
            let launcher = inject.join(dir).join("launcher.preload.so");
            assert_eq!(fs::read_to_string(&launcher).unwrap(), content, "{dir}");
        }
        // A restarted pod: copied again over the first copy, nothing left behind.
        run(&args(from, &pkgs, Some(&preload))).unwrap();
        let mut names: Vec<_> = fs::read_dir(&pkgs)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["datadog-apm-inject", "datadog-apm-library-python"]);
    }

    #[test]
    fn no_ld_so_preload_without_the_injector() {
        let (from, dest) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (from, dest) = (from.path(), dest.path());
        tree(from);
        fs::remove_dir_all(from.join("datadog-apm-inject")).unwrap();
        let preload = dest.join("ld.so.preload");
        assert!(run(&args(from, dest, Some(&preload))).is_err());
        assert!(!preload.exists());
        run(&args(from, dest, None)).unwrap();
        assert!(dest
            .join("datadog-apm-library-python/4.16.0/sitecustomize.py")
            .exists());
    }

    #[test]
    fn no_ld_so_preload_from_an_injector_without_lib_directories() {
        let (from, dest) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (from, dest) = (from.path(), dest.path());
        tree(from);
        fs::remove_dir_all(from.join("datadog-apm-inject/1.0.0/inject/$LIB")).unwrap();
        let preload = dest.join("ld.so.preload");
        let error = run(&args(from, &dest.join("pkgs"), Some(&preload))).unwrap_err();
        assert!(
            error.contains("$LIB/launcher.preload.so is missing"),
            "{error}"
        );
        assert!(!preload.exists());
    }

    #[test]
    fn arguments_are_checked() {
        assert!(parse(vec![]).is_err());
        assert!(parse(vec!["--bogus".into(), "/d".into()]).is_err());
        assert!(parse(vec!["/a".into(), "/b".into()]).is_err());
        let a = parse(vec!["--ld-so-preload".into(), "/e/f".into(), "/d".into()]).unwrap();
        assert_eq!(a.dest, Path::new("/d"));
        assert_eq!(a.from, Path::new("/opt/datadog-packages"));
    }
}
