//! One change at a time per root: `install`, `uninstall` and `boot` hold an exclusive `flock`
//! on the root's `etc` directory while they work. A second one waits, saying for whom, and
//! gives up after [`PATIENCE`]; a terminating signal ends the wait.
//!
//! The directory itself is locked, not a lock file: `etc` always exists in a root we change,
//! is never replaced by us, and nothing is left behind. The lock goes with the process, even
//! when it is killed.

use crate::errors;
use crate::layout::Root;
use crate::output::say_err;
use crate::signals;
use rustix::fs::{flock, FlockOperation};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a change waits for another one to finish.
pub const PATIENCE: Duration = Duration::from_secs(600);
/// How often the lock is tried again.
const RETRY: Duration = Duration::from_millis(100);

/// The held lock; dropping it releases it.
pub struct Lock {
    _dir: File,
}

/// The directory locked for `root`: `<root>/etc`.
fn locked_dir(root: &Root) -> PathBuf {
    root.path(Path::new("/etc"))
}

/// Takes the lock of `root`, waiting for the holder, if any, to finish.
pub fn exclusive(root: &Root) -> Result<Lock, String> {
    let path = locked_dir(root);
    let dir = File::open(&path).map_err(errors::io("open", &path))?;
    let started = Instant::now();
    let mut announced = false;
    loop {
        match flock(&dir, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(Lock { _dir: dir }),
            Err(rustix::io::Errno::WOULDBLOCK) => {}
            Err(e) => return Err(format!("cannot lock {}: {e}", path.display())),
        }
        let holder = holder_of(&path).map_or("another apm-inject".into(), |pid| {
            format!("apm-inject (pid {pid})")
        });
        if !announced {
            say_err!(
                "waiting for {holder} to finish changing {}",
                root.dir.display()
            );
            announced = true;
        }
        if let Some(signal) = signals::pending() {
            return Err(format!(
                "interrupted by {} while waiting for {holder}: nothing was changed",
                signals::name(signal)
            ));
        }
        if started.elapsed() > PATIENCE {
            return Err(format!(
                "{holder} has been changing {} for over {} s: is it stuck? nothing was changed",
                root.dir.display(),
                PATIENCE.as_secs()
            ));
        }
        std::thread::sleep(RETRY);
    }
}

/// The process holding the lock of `root` (0 if `/proc/locks` does not say), if one does.
pub fn holder(root: &Root) -> Option<u32> {
    let path = locked_dir(root);
    let dir = File::open(&path).ok()?;
    match flock(&dir, FlockOperation::NonBlockingLockShared) {
        Ok(()) => None,
        Err(_) => Some(holder_of(&path).unwrap_or(0)),
    }
}

/// The process `/proc/locks` names as holding a `flock` on `path`.
fn holder_of(path: &Path) -> Option<u32> {
    let meta = std::fs::metadata(path).ok()?;
    let dev = meta.dev();
    let id = format!(
        "{:02x}:{:02x}:{}",
        rustix::fs::major(dev),
        rustix::fs::minor(dev),
        meta.ino()
    );
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    holder_in(&locks, &id)
}

/// The pid of the `FLOCK` line of `/proc/locks` on `id` (`MAJOR:MINOR:INODE`, hexadecimal device
/// numbers), e.g. `1: FLOCK  ADVISORY  WRITE 4242 00:2f:1234 0 EOF`.
fn holder_in(locks: &str, id: &str) -> Option<u32> {
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // Blocked waiters are listed as `1: -> FLOCK ...`: skip them.
        (fields.get(1) == Some(&"FLOCK") && fields.get(5) == Some(&id))
            .then(|| fields.get(4)?.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_is_read_from_proc_locks() {
        let locks = "1: POSIX  ADVISORY  WRITE 10 00:2f:99 0 EOF\n\
                     2: FLOCK  ADVISORY  WRITE 4242 08:01:1234 0 EOF\n\
                     2: -> FLOCK  ADVISORY  WRITE 4343 08:01:1234 0 EOF\n";
        assert_eq!(holder_in(locks, "08:01:1234"), Some(4242));
        assert_eq!(holder_in(locks, "00:2f:99"), None);
        assert_eq!(holder_in(locks, "08:01:12345"), None);
    }
}
