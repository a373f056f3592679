//! The executable's path as `/proc/self/exe` names it, without `/proc`, for a runtime started
//! directly: `screen` gives the path `execve` was given with the links of its last component
//! followed; this follows the links of its directories and resolves `.`, `..` and repeated
//! slashes, one `readlinkat` per directory (about 1 µs each, against 20–30 µs for the first
//! `readlink` of `/proc/self/exe` in a process).
//!
//! The result names the file as the kernel does (`d_path`): the same directories, reached from
//! the same root, with the same names. It differs only when the file was renamed or replaced
//! after `execve` opened it, where `/proc/self/exe` would show the new name or a `(deleted)`
//! suffix; the walk then names whatever is now at the path (for a package upgrade, the new
//! version of the same runtime). Anything else unusual is left to `/proc`: a link that cannot
//! be read, a walk into `/proc` (whose magic links do not resolve as text), more than 40 links,
//! a path longer than [`TODO_ROOM`].

use crate::sys::{self, CPath};
use core::mem::MaybeUninit;

/// Room for the part of the path still to walk, and for a link's target with it.
const TODO_ROOM: usize = 1024;
/// Most links followed, as Linux allows in one path.
const MAX_LINKS: usize = 40;
/// `EINVAL`: what `readlinkat` says of a file that is not a symbolic link.
const EINVAL: sys::Errno = 22;

/// A byte buffer filled from the front.
struct Buf<'a, const N: usize> {
    bytes: &'a mut [MaybeUninit<u8>; N],
    len: usize,
}

impl<'a, const N: usize> Buf<'a, N> {
    fn new(bytes: &'a mut [MaybeUninit<u8>; N]) -> Self {
        Buf { bytes, len: 0 }
    }

    fn get(&self) -> &[u8] {
        // SAFETY: the first `len` bytes are initialised.
        unsafe { core::slice::from_raw_parts(self.bytes.as_ptr().cast(), self.len) }
    }

    /// Appends `data`, keeping room for a NUL; `None` if it does not fit.
    fn push(&mut self, data: &[u8]) -> Option<()> {
        let end = self.len.checked_add(data.len()).filter(|&e| e < N)?;
        for (slot, &byte) in self.bytes[self.len..end].iter_mut().zip(data) {
            slot.write(byte);
        }
        self.len = end;
        Some(())
    }

    /// The contents followed by a NUL, as a path for the kernel.
    fn c_path(&mut self) -> CPath<'_> {
        self.bytes[self.len].write(0);
        // SAFETY: the first `len + 1` bytes are initialised (`push` keeps room for the NUL).
        CPath(unsafe { core::slice::from_raw_parts(self.bytes.as_ptr().cast(), self.len + 1) })
    }

    /// Drops the last component (`/usr/bin` -> `/usr`).
    fn pop(&mut self) {
        self.len = self.get().iter().rposition(|&c| c == b'/').unwrap_or(0);
    }
}

/// `path` (whose last component is no link) as `/proc/self/exe` would name it, written into
/// `out`; returns its length. `None` when the walk must be left to `/proc` (see the module's
/// documentation). Not inlined: its buffers are off the stack again before a decision runs.
#[inline(never)]
pub fn canonical(path: &[u8], out: &mut [MaybeUninit<u8>; 4096]) -> Option<usize> {
    let mut todo_room = [MaybeUninit::<u8>::uninit(); TODO_ROOM];
    let mut todo = Buf::new(&mut todo_room);
    if !path.starts_with(b"/") {
        let mut cwd_room = [MaybeUninit::<u8>::uninit(); TODO_ROOM];
        let cwd = sys::getcwd(&mut cwd_room).ok()?;
        // Linux names a directory outside the process's root `(unreachable)/...`.
        todo.push(Some(cwd).filter(|cwd| cwd.starts_with(b"/"))?)?;
        todo.push(b"/")?;
    }
    todo.push(path)?;
    let mut done = Buf::new(out);
    let mut next = 0;
    let mut links = 0;
    loop {
        let rest = &todo.get()[next..];
        let Some(start) = rest.iter().position(|&c| c != b'/') else {
            return (done.len > 0).then_some(done.len);
        };
        let rest = &rest[start..];
        let len = rest.iter().position(|&c| c == b'/').unwrap_or(rest.len());
        let component = &rest[..len];
        let last = rest[len..].iter().all(|&c| c == b'/');
        next += start + len;
        match component {
            b"." | b".." if last => return None,
            b"." => continue,
            b".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        done.push(b"/")?;
        done.push(component)?;
        if done.get() == b"/proc" || done.get().starts_with(b"/proc/") {
            return None;
        }
        if last {
            return Some(done.len);
        }
        let mut target_room = [MaybeUninit::<u8>::uninit(); TODO_ROOM];
        let target = match sys::readlink(done.c_path(), &mut target_room) {
            Err(EINVAL) => continue,
            Err(_) => return None,
            Ok(target) => target,
        };
        links += 1;
        if links > MAX_LINKS {
            return None;
        }
        // The rest of the walk: the link's target, then what came after the link.
        let mut joined_room = [MaybeUninit::<u8>::uninit(); TODO_ROOM];
        let mut joined = Buf::new(&mut joined_room);
        joined.push(target)?;
        joined.push(&todo.get()[next..])?;
        todo.len = 0;
        todo.push(joined.get())?;
        next = 0;
        if target.starts_with(b"/") {
            done.len = 0;
        } else {
            done.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::path::Path;

    fn walk(path: &Path) -> Option<String> {
        let mut out = [MaybeUninit::uninit(); 4096];
        let len = canonical(path.as_os_str().as_encoded_bytes(), &mut out)?;
        let bytes: Vec<u8> = out[..len]
            .iter()
            // SAFETY: `canonical` initialised the first `len` bytes.
            .map(|b| unsafe { b.assume_init() })
            .collect();
        Some(String::from_utf8(bytes).unwrap())
    }

    fn expected(path: &Path) -> String {
        std::fs::canonicalize(path)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn every_program_on_this_machine_is_named_as_the_kernel_names_it() {
        let mut checked = 0;
        for dir in [
            "/usr/bin",
            "/bin",
            "/usr/sbin",
            "/usr/lib/jvm/default-java/bin",
        ] {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                if path.is_symlink() || !path.is_file() {
                    continue; // the screen has followed the last component's links already
                }
                assert_eq!(walk(&path).as_deref(), Some(&*expected(&path)), "{path:?}");
                checked += 1;
            }
        }
        assert!(checked > 500, "{checked}");
    }

    #[test]
    fn directory_links_dots_and_slashes_are_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let d = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(d.join("opt/v1/bin")).unwrap();
        std::fs::write(d.join("opt/v1/bin/node"), "").unwrap();
        symlink("v1", d.join("opt/current")).unwrap();
        symlink(d.join("opt/current/bin"), d.join("bin")).unwrap();
        symlink("../opt/./current", d.join("opt/up")).unwrap();
        symlink("bin", d.join("chain")).unwrap();
        let file = d.join("opt/v1/bin/node");
        for path in [
            "opt/current/bin/node",
            "bin/node",
            "chain/node",
            "opt//up/bin/./node",
            "opt/v1/bin/../bin/node",
        ] {
            let path = format!("{}/{path}", d.display());
            assert_eq!(walk(Path::new(&path)), Some(expected(&file)), "{path}");
        }
    }

    #[test]
    fn a_relative_path_is_taken_from_the_working_directory() {
        let cwd = std::env::current_dir().unwrap();
        let file = cwd.join("Cargo.toml");
        assert_eq!(walk(Path::new("Cargo.toml")), Some(expected(&file)));
        assert_eq!(
            walk(Path::new("./src/../Cargo.toml")),
            Some(expected(&file))
        );
    }

    #[test]
    fn what_the_walk_cannot_name_is_left_to_proc() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        symlink("loop", d.join("loop")).unwrap();
        symlink("/proc/self", d.join("proc")).unwrap();
        for path in [
            d.join("loop/x"),
            d.join("missing/x"),
            d.join("proc/exe"),
            "/proc/self/exe".into(),
            "/dev/fd/0".into(),
            d.join(".."),
        ] {
            assert_eq!(walk(&path), None, "{path:?}");
        }
        let long = format!("/{}", "x/".repeat(600));
        assert_eq!(walk(Path::new(&long)), None);
    }
}
