//! The non-runtime path: ruling a process out from the path `execve` was given, without
//! `/proc`.
//!
//! The exact test (what `/proc/self/exe` names is a runtime, or an apphost beside its
//! `runtimeconfig.json`) costs a `readlink` of `/proc/self/exe`, 20–30 µs on its first call in
//! a process because procfs builds the process's entries. Most processes can be ruled out for
//! about 1 µs per system call instead, from `AT_EXECFN`, the path given to `execve`:
//! - if that path was run directly, the executable is the file it names once the symbolic
//!   links of its last component are followed (a link under another name, such as
//!   `/bin/sh -> dash`, is followed with `readlinkat`, one call per link): its file name is
//!   the one `/proc/self/exe` shows, since directories do not change a file's name, and a hard
//!   link is shown by the name it was run by;
//! - if that path was a `#!` script or a `binfmt_misc` program, the executable is an
//!   interpreter: the kernel then puts the path among the first arguments (`interp [arg]
//!   path ...`, at most two more per level of interpretation, five levels at most). Any
//!   process whose path appears among its first [`INTERPRETED_WITHIN`] arguments (which may
//!   also be a program run with its own path as an argument) is not ruled out here.
//! - the apphost test needs `<executable>.runtimeconfig.json`, which the same directory and
//!   name reach: one `stat`, for executables outside the system directories only (the exact
//!   test's own rule, `analyzer::dotnet::apphost_candidate`), read from the path as written.
//!   It answers as the canonical path would unless a system directory is itself a link to a
//!   directory that is not one (`/usr/local/bin -> /data/bin`): an apphost run from there by
//!   that path is not instrumented. `/bin -> usr/bin` and the like lead to system directories.
//!
//! A process whose path names a runtime or an apphost is a candidate: the runtime path then
//! names its executable from that path (`canonical`) rather than from `/proc`, except when
//! the dynamic loader was itself the program (`ld.so PROGRAM`, `AT_BASE` 0), where glibc's
//! loader rewrites `AT_EXECFN` to name `PROGRAM` while the executable is the loader.
//!
//! Anything unexpected (no `AT_EXECFN`, an error other than "not a link", a long path, many
//! links) does not rule the process out: a wrong "not a runtime" would leave a runtime
//! silently uninstrumented, while a wrong "maybe" costs only the exact test.

use crate::loader::Startup;
use crate::sys::{self, CPath};
use core::ffi::CStr;
use core::mem::MaybeUninit;

/// How many arguments after `argv[0]` may hold the path when an interpreter ran it: two per
/// level (interpreter argument, previous path), five levels (`exec_binprm`), with margin.
const INTERPRETED_WITHIN: usize = 16;
/// Most symbolic links followed in the last component (Linux allows 40 in a whole path).
const MAX_LINKS: usize = 8;
/// Room for the executable's path and its `.runtimeconfig.json` sibling; longer paths go to
/// the exact test.
pub const PATH_ROOM: usize = 512;
/// Room for one link's target.
const LINK_ROOM: usize = 256;
/// What an apphost has beside it.
const APPHOST_SUFFIX: &[u8] = b".runtimeconfig.json\0";
/// `EINVAL`: what `readlinkat` says of a file that is not a symbolic link.
const EINVAL: sys::Errno = 22;

/// Room for the executable's path (and its `.runtimeconfig.json` sibling).
pub type Room = [MaybeUninit<u8>; PATH_ROOM];

/// What the path given to `execve` tells about the process.
pub enum Screen {
    /// Certainly not a runtime candidate: the library stops here.
    NotARuntime,
    /// Run directly as the file at `room[..len]` (the links of its last component followed),
    /// whose name is a runtime's or which has a `runtimeconfig.json` beside it, by the kernel
    /// (not by a loader run as the program).
    Candidate(usize),
    /// The path cannot tell: the exact test asks `/proc`.
    Unknown,
}

/// Screens the process by the path given to `execve` (see the module's documentation).
#[link_section = ".text.hot.apm_start"]
pub fn screen(startup: &Startup, room: &mut Room) -> Screen {
    let Some(path) = startup.execfn() else {
        return Screen::Unknown;
    };
    if may_be_interpreted(startup, path) {
        return Screen::Unknown;
    }
    let Some(len) = follow_links(path, room) else {
        return Screen::Unknown;
    };
    // SAFETY: `follow_links` initialised the first `len` bytes.
    let executable = unsafe { core::slice::from_raw_parts(room.as_ptr().cast::<u8>(), len) };
    if analyzer::runtime::detect(contract::path::file_name(executable)).is_some() {
        return candidate(startup, len);
    }
    if analyzer::dotnet::in_system_directory(executable) {
        return Screen::NotARuntime;
    }
    let Some(suffix) = room
        .get_mut(len..)
        .and_then(|r| sys::concat_in(r, APPHOST_SUFFIX, b""))
    else {
        return Screen::Unknown;
    };
    let config_len = len + suffix.len();
    // SAFETY: the executable's path and the suffix after it are initialised.
    let config = unsafe { core::slice::from_raw_parts(room.as_ptr().cast::<u8>(), config_len) };
    match sys::stat(CPath(config)) {
        Ok(st) if st.mode & sys::S_IFMT == sys::S_IFREG => candidate(startup, len),
        _ => Screen::NotARuntime,
    }
}

/// A candidate at `room[..len]`, unless the loader was run as the program (then its path
/// names the program the loader runs, not the executable: `/proc` must tell).
fn candidate(startup: &Startup, len: usize) -> Screen {
    if startup.auxv.interpreter == 0 {
        return Screen::Unknown;
    }
    Screen::Candidate(len)
}

/// Whether `path` is among the first arguments after `argv[0]`, as when an interpreter runs it.
#[link_section = ".text.hot.apm_start"]
fn may_be_interpreted(startup: &Startup, path: &CStr) -> bool {
    (1..startup.argc().min(INTERPRETED_WITHIN + 1))
        .any(|i| startup.arg(i).is_some_and(|arg| same(arg, path)))
}

/// `a == b`, read up to the first difference: arguments can be long, and almost all differ
/// from the path in their first bytes.
#[link_section = ".text.hot.apm_start"]
fn same(a: &CStr, b: &CStr) -> bool {
    let (mut a, mut b) = (a.as_ptr(), b.as_ptr());
    loop {
        // SAFETY: both are NUL-terminated and read no further than `a`'s NUL (where `b`, if
        // it has not differed, has its own).
        let (x, y) = unsafe { (*a, *b) };
        if x != y {
            return false;
        }
        if x == 0 {
            return true;
        }
        // SAFETY: not past either NUL.
        unsafe { (a, b) = (a.add(1), b.add(1)) };
    }
}

/// Copies `path` into `room` with the symbolic links of its last component followed, as
/// `execve` followed them, NUL-terminated; returns its length without the NUL. `None` if a
/// link cannot be read, the path does not fit, or the links go on too long.
#[link_section = ".text.hot.apm_start"]
fn follow_links(path: &CStr, room: &mut Room) -> Option<usize> {
    let mut len = sys::concat_in(room, path.to_bytes_with_nul(), b"")?.len() - 1;
    for _ in 0..MAX_LINKS {
        let mut target = [MaybeUninit::<u8>::uninit(); LINK_ROOM];
        // SAFETY: `room[..=len]` is initialised: the path and its NUL.
        let current = unsafe { core::slice::from_raw_parts(room.as_ptr().cast::<u8>(), len + 1) };
        let target = match sys::readlink(CPath(current), &mut target) {
            Err(EINVAL) => return Some(len),
            Err(_) => return None,
            Ok(target) => target,
        };
        // A relative target is relative to the link's directory: `current` up to its last `/`.
        let start = match target.first() {
            Some(b'/') => 0,
            _ => current[..len]
                .iter()
                .rposition(|&c| c == b'/')
                .map_or(0, |i| i + 1),
        };
        len = start + sys::concat_in(room.get_mut(start..)?, target, b"\0")?.len() - 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::path::Path;

    /// The exact test, as the library makes it from `/proc/self/exe` (which names the file with
    /// every link resolved, as `canonicalize` does).
    fn exact(executable: &Path) -> bool {
        let canonical = std::fs::canonicalize(executable).unwrap();
        let bytes = canonical.as_os_str().as_encoded_bytes();
        let name = contract::path::file_name(bytes);
        let config = [bytes, b".runtimeconfig.json"].concat();
        analyzer::runtime::detect(name).is_some()
            || (analyzer::dotnet::apphost_candidate(bytes)
                && Path::new(std::str::from_utf8(&config).unwrap()).is_file())
    }

    /// Whether a process started as `execfn` with `args` is ruled out.
    fn rules_out(startup: &Startup) -> bool {
        let mut room = [MaybeUninit::uninit(); PATH_ROOM];
        matches!(screen(startup, &mut room), Screen::NotARuntime)
    }

    /// Whether a process started directly as `path` (argv[0] its file name) is ruled out.
    fn ruled_out(path: &Path) -> bool {
        let name = path.file_name().unwrap().to_str().unwrap();
        rules_out(&Startup::fake(&[name, "--version"], path.to_str().unwrap()))
    }

    #[test]
    fn every_program_on_this_machine_is_ruled_out_only_if_proc_self_exe_would_rule_it_out() {
        let (mut ruled, mut kept) = (0, 0);
        for dir in [
            "/usr/bin",
            "/usr/sbin",
            "/bin",
            "/usr/local/bin",
            "/usr/lib/jvm",
        ] {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                if !path.is_file() || path.to_str().is_none() {
                    continue; // dangling links, directories
                }
                if ruled_out(&path) {
                    assert!(!exact(&path), "{} ruled out", path.display());
                    ruled += 1;
                } else {
                    kept += 1;
                }
            }
        }
        // Everything that is not a runtime is ruled out without /proc, runtimes are not
        // (`python3`, `java` and `node` are links on this machine).
        assert!(ruled > 500, "{ruled} ruled out, {kept} kept");
        for runtime in ["/usr/bin/python3", "/usr/bin/java", "/usr/bin/node"] {
            assert!(!ruled_out(Path::new(runtime)), "{runtime}");
        }
        assert!(ruled_out(Path::new("/bin/sh")), "/bin/sh -> dash");
    }

    #[test]
    fn links_under_other_names_lead_to_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("bin")).unwrap();
        std::fs::create_dir_all(d.join("lib/app")).unwrap();
        symlink("/usr/bin/python3", d.join("bin/service")).unwrap();
        symlink("service", d.join("bin/chain")).unwrap();
        symlink("../lib/app/tool", d.join("bin/relative")).unwrap();
        symlink("/usr/bin/node", d.join("lib/app/tool")).unwrap();
        symlink("/bin/true", d.join("bin/plain")).unwrap();
        for kept in ["bin/service", "bin/chain", "bin/relative"] {
            assert!(!ruled_out(&d.join(kept)), "{kept}");
            assert!(exact(&d.join(kept)), "{kept}");
        }
        assert!(ruled_out(&d.join("bin/plain")));
    }

    #[test]
    fn an_apphost_is_kept_whatever_leads_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("app");
        std::fs::create_dir(&app).unwrap();
        std::fs::copy("/bin/true", app.join("Shop.Api")).unwrap();
        std::fs::write(app.join("Shop.Api.runtimeconfig.json"), "{}").unwrap();
        symlink(app.join("Shop.Api"), dir.path().join("shop")).unwrap();
        // A directory link: the name is the apphost's own, the directory another.
        symlink(&app, dir.path().join("current")).unwrap();
        for path in ["app/Shop.Api", "shop", "current/Shop.Api"] {
            assert!(exact(&dir.path().join(path)), "{path}");
            assert!(!ruled_out(&dir.path().join(path)), "{path}");
        }
        std::fs::remove_file(app.join("Shop.Api.runtimeconfig.json")).unwrap();
        assert!(ruled_out(&dir.path().join("shop")));
    }

    #[test]
    fn what_cannot_be_followed_is_not_ruled_out() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        symlink("missing", d.join("dangling")).unwrap();
        symlink("loop-b", d.join("loop-a")).unwrap();
        symlink("loop-a", d.join("loop-b")).unwrap();
        let long = "x".repeat(300);
        symlink(format!("/usr/bin/{long}"), d.join("long-target")).unwrap();
        for path in ["dangling", "loop-a", "long-target"] {
            let path = d.join(path);
            assert!(!rules_out(&Startup::fake(&["p"], path.to_str().unwrap())));
        }
        let deep = format!("/{}", "d/".repeat(300));
        assert!(
            !rules_out(&Startup::fake(&["p"], &deep)),
            "longer than the room"
        );
        assert!(!rules_out(&Startup::fake(&["p"], "/proc/self/fd/999")));
    }

    #[test]
    fn a_path_among_the_first_arguments_may_be_a_script() {
        // `./configure` with `#!/bin/sh`: the kernel runs `/bin/sh ./configure ...`.
        let script = |args: &[&str]| rules_out(&Startup::fake(args, "/usr/bin/true"));
        assert!(!script(&["/bin/sh", "/usr/bin/true", "--help"]));
        assert!(!script(&["/usr/bin/env", "python3", "/usr/bin/true"]));
        assert!(script(&["true", "/usr/bin/truer", "/usr/bin/tru"]));
        let mut late: Vec<&str> = vec!["x"; INTERPRETED_WITHIN + 1];
        late.push("/usr/bin/true");
        assert!(script(&late), "beyond the levels the kernel allows");
    }

    #[test]
    fn a_runtime_run_directly_is_named_by_its_path_unless_the_loader_ran_it() {
        let mut startup = Startup::fake(&["python3", "-c", "pass"], "/usr/bin/python3");
        let mut room = [MaybeUninit::uninit(); PATH_ROOM];
        let named = match screen(&startup, &mut room) {
            // SAFETY: the screen initialised the first `len` bytes.
            Screen::Candidate(len) => room[..len].iter().map(|b| unsafe { b.assume_init() }),
            _ => panic!("/usr/bin/python3 is a candidate"),
        };
        let expected = std::fs::canonicalize("/usr/bin/python3").unwrap();
        let expected = expected.file_name().unwrap().as_encoded_bytes();
        assert!(named.collect::<Vec<u8>>().ends_with(expected));
        // `ld.so /usr/bin/python3`: AT_EXECFN names python3, the executable is the loader.
        startup.auxv.interpreter = 0;
        assert!(matches!(screen(&startup, &mut room), Screen::Unknown));
        assert!(ruled_out(Path::new("/bin/true")));
    }

    #[test]
    fn c_strings_compare_up_to_the_first_difference() {
        let s = |t: &str| std::ffi::CString::new(t).unwrap();
        assert!(same(&s("/bin/sh"), &s("/bin/sh")));
        assert!(!same(&s("/bin/sh"), &s("/bin/shx")));
        assert!(!same(&s("/bin/shx"), &s("/bin/sh")));
        assert!(same(&s(""), &s("")));
    }
}
