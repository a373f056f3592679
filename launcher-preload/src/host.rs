//! The analyzer's questions, answered with raw system calls: never blocking (files are opened
//! `O_NONBLOCK` and must be regular), size-capped, and against a deadline.
//!
//! One decision asks about the same few files several times (the library package directory is
//! checked for trust, then as the tracer's directory; the entry point for its kind, then for
//! trust; `supported_runtimes.json` for trust, then read). Each path is `stat`ed once per
//! decision and the answer kept: the decision sees one snapshot of the files' metadata, as it
//! would if the calls came a few microseconds sooner. A file that `stat` found missing is not
//! opened again to be read, and one it found is read without an `fstat` more (its kind and size
//! are the snapshot's).

use crate::libc;
use crate::sys::{self, CPath, FileStat, S_IFMT, S_IFREG};
use alloc::vec::Vec;
use analyzer::host::{FileInfo, FileKind, ReadError};
use core::cell::RefCell;

/// `S_IFDIR`: directory file type.
const S_IFDIR: u32 = 0o040000;
/// `ENOENT`: no such file.
const ENOENT: sys::Errno = 2;
/// `ENOTDIR`: a path component is not a directory.
const ENOTDIR: sys::Errno = 20;

/// A path (NUL-terminated) and what `stat` answered for it.
type Answer = (Vec<u8>, Result<FileStat, sys::Errno>);

/// Answers `analyzer::Host` for the running process, for one decision.
pub struct SysHost {
    /// The vDSO's `clock_gettime`, if there is one (else the system call).
    clock: Option<libc::ClockFn>,
    /// When the decision started (monotonic nanoseconds).
    started_ns: u64,
    /// Time budget of the decision.
    pub budget_ms: u32,
    /// What `stat` answered for each path asked about so far.
    stats: RefCell<Vec<Answer>>,
}

impl SysHost {
    /// A host for a decision starting now, within `budget_ms`, reading the clock through
    /// `clock` where the vDSO has one.
    pub fn new(budget_ms: u32, clock: Option<libc::ClockFn>) -> SysHost {
        SysHost {
            clock,
            started_ns: monotonic_ns(clock),
            budget_ms,
            stats: RefCell::new(Vec::new()),
        }
    }

    /// `stat` of `path` (NUL-terminated), asked of the kernel once per decision.
    fn stat_once(&self, path: &[u8]) -> Result<FileStat, sys::Errno> {
        if let Some(known) = self.known(path) {
            return known;
        }
        let answer = sys::stat(CPath(path));
        self.stats.borrow_mut().push((path.to_vec(), answer));
        answer
    }

    /// What `stat` already answered for `path` (NUL-terminated), if it was asked.
    fn known(&self, path: &[u8]) -> Option<Result<FileStat, sys::Errno>> {
        let stats = self.stats.borrow();
        stats
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, answer)| *answer)
    }

    /// `Err(Missing)` if `stat` already found `path` (NUL-terminated) missing.
    fn known_missing(&self, path: &[u8]) -> Result<(), ReadError> {
        match self.known(path) {
            Some(Err(ENOENT | ENOTDIR)) => Err(ReadError::Missing),
            _ => Ok(()),
        }
    }
}

/// Monotonic time in nanoseconds, through the vDSO's `clock` if given (no system call), else
/// the system call; 0 if the clock cannot be read.
fn monotonic_ns(clock: Option<libc::ClockFn>) -> u64 {
    const CLOCK_MONOTONIC: i32 = 1;
    let Some(clock) = clock else {
        return sys::monotonic_ns();
    };
    let mut ts = [0i64; 2];
    // SAFETY: the vDSO's `clock_gettime`, given a writable `struct timespec`.
    if unsafe { clock(CLOCK_MONOTONIC, &mut ts) } != 0 {
        return 0;
    }
    (ts[0] as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts[1] as u64)
}

/// `path` with a NUL appended, or `None` if it contains one.
fn c_path(path: &[u8]) -> Option<Vec<u8>> {
    (!path.contains(&0)).then(|| [path, b"\0"].concat())
}

fn info(st: FileStat) -> FileInfo {
    let kind = match st.mode & S_IFMT {
        S_IFREG => FileKind::File,
        S_IFDIR => FileKind::Dir,
        _ => FileKind::Other,
    };
    FileInfo {
        kind,
        mode: st.mode & 0o7777,
        uid: st.uid,
    }
}

impl analyzer::Host for SysHost {
    fn stat(&self, path: &[u8]) -> Option<FileInfo> {
        let c = c_path(path)?;
        self.stat_once(&c).ok().map(info)
    }

    fn read_file(&self, path: &[u8], limit: usize) -> Result<Vec<u8>, ReadError> {
        let c = c_path(path).ok_or(ReadError::Missing)?;
        self.known_missing(&c)?;
        let fd = open_for_reading(CPath(&c))?;
        let st = match self.known(&c) {
            Some(Ok(known)) => known,
            _ => fd.stat().map_err(|_| ReadError::Unreadable)?,
        };
        read_whole(&fd, &st, limit)
    }

    fn peek(&self, path: &[u8], head: usize, tail: usize) -> Result<(Vec<u8>, Vec<u8>), ReadError> {
        let c = c_path(path).ok_or(ReadError::Missing)?;
        self.known_missing(&c)?;
        let fd = open_for_reading(CPath(&c))?;
        // Whether it opens is all a peek of nothing asks (the entry point's check): its kind
        // is the decision's snapshot's, when the path was `stat`ed, with no `fstat` more.
        let known = self.known(&c).filter(|_| head == 0 && tail == 0);
        let (kind, size) = match known {
            Some(Ok(known)) => (info(known).kind, 0),
            _ => {
                let st = fd.stat().map_err(|_| ReadError::Unreadable)?;
                (info(st).kind, st.size)
            }
        };
        match kind {
            FileKind::Dir => return Ok((Vec::new(), Vec::new())),
            FileKind::Other => return Err(ReadError::NotRegular),
            FileKind::File => {}
        }
        let head = fd.read_at(head, 0).map_err(|_| ReadError::Unreadable)?;
        let tail = fd
            .read_at(tail, size.saturating_sub(tail as u64))
            .map_err(|_| ReadError::Unreadable)?;
        Ok((head, tail))
    }

    fn out_of_time(&self) -> bool {
        monotonic_ns(self.clock).saturating_sub(self.started_ns) > self.budget_ms as u64 * 1_000_000
    }
}

/// Opens `path` for reading without blocking (a FIFO without writer, a device).
fn open_for_reading(path: CPath) -> Result<sys::Fd, ReadError> {
    sys::open(path, sys::O_RDONLY | sys::O_NONBLOCK | sys::O_NOCTTY, 0).map_err(|e| match e {
        ENOENT | ENOTDIR => ReadError::Missing,
        _ => ReadError::Unreadable,
    })
}

/// Reads a whole regular file of at most `limit` bytes without blocking. Once the size `fstat`
/// gave has been read, the file is taken as read (no further call to see its end); a file of
/// size 0 (procfs) or one that grew is read to its end.
pub fn read_file(path: CPath, limit: usize) -> Result<Vec<u8>, ReadError> {
    let fd = open_for_reading(path)?;
    let st = fd.stat().map_err(|_| ReadError::Unreadable)?;
    read_whole(&fd, &st, limit)
}

/// Reads file `fd`, which `st` describes, whole: at most `limit` bytes, regular files only,
/// taken as read once `st.size` bytes are (a size of 0, as procfs says, reads to the end).
fn read_whole(fd: &sys::Fd, st: &FileStat, limit: usize) -> Result<Vec<u8>, ReadError> {
    if st.mode & S_IFMT != S_IFREG {
        return Err(ReadError::NotRegular);
    }
    if st.size > limit as u64 {
        return Err(ReadError::TooLarge);
    }
    let mut data = Vec::new();
    loop {
        match fd.read_append(&mut data, 16 << 10) {
            Ok(0) => return Ok(data),
            Ok(_) if data.len() > limit => return Err(ReadError::TooLarge),
            Ok(_) if st.size != 0 && data.len() as u64 == st.size => return Ok(data),
            Ok(_) => {}
            Err(_) => return Err(ReadError::Unreadable),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sys_host_keeps_the_host_contract() {
        host_contract::check(&SysHost::new(1000, None));
    }

    #[test]
    fn the_vdso_clock_agrees_with_the_system_call() {
        let bytes = std::fs::read("/proc/self/auxv").unwrap();
        let auxv = analyzer::auxv::parse(&bytes).unwrap();
        let clock = libc::vdso_clock_gettime(&auxv).expect("x86_64 Linux has one");
        let before = sys::monotonic_ns();
        let now = monotonic_ns(Some(clock));
        let after = sys::monotonic_ns();
        assert!(before <= now && now <= after, "{before} {now} {after}");
        let no_vdso = analyzer::auxv::Auxv { vdso: 0, ..auxv };
        assert!(libc::vdso_clock_gettime(&no_vdso).is_none());
    }

    #[test]
    fn files_are_read_whole_whatever_their_size() {
        let dir = tempfile::tempdir().unwrap();
        for size in [1, 254, 16 << 10, (16 << 10) + 1, 40_000] {
            let path = dir.path().join(format!("f{size}"));
            let content: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            std::fs::write(&path, &content).unwrap();
            let c = c_path(path.as_os_str().as_encoded_bytes()).unwrap();
            assert_eq!(read_file(CPath(&c), 1 << 20), Ok(content), "{size}");
            assert_eq!(read_file(CPath(&c), size - 1), Err(ReadError::TooLarge));
        }
        // procfs says 0 and has more: read to the end.
        let status = read_file(CPath(b"/proc/self/status\0"), 1 << 20).unwrap();
        assert!(status.ends_with(b"\n") && status.len() > 100);
    }

    #[test]
    fn each_path_is_stated_once_and_a_missing_file_is_not_opened() {
        use analyzer::Host;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sitecustomize.py");
        let missing = dir.path().join("requirements.json");
        let bytes = |p: &std::path::Path| p.as_os_str().as_encoded_bytes().to_vec();
        let host = SysHost::new(1000, None);
        assert_eq!(host.stat(&bytes(&file)), None);
        assert_eq!(host.stat(&bytes(&missing)), None);
        std::fs::write(&file, "x").unwrap();
        std::fs::write(&missing, "{}").unwrap();
        assert_eq!(host.stat(&bytes(&file)), None, "the decision's snapshot");
        assert_eq!(
            host.read_file(&bytes(&missing), 64),
            Err(ReadError::Missing)
        );
        assert_eq!(host.peek(&bytes(&missing), 0, 0), Err(ReadError::Missing));
        let grown = dir.path().join("supported_runtimes.json");
        std::fs::write(&grown, "[0123456789]").unwrap();
        assert!(host.stat(&bytes(&grown)).is_some());
        std::fs::write(&grown, "[]").unwrap();
        assert_eq!(
            host.read_file(&bytes(&grown), 8),
            Err(ReadError::TooLarge),
            "read by the snapshot's size, with no fstat more"
        );
        let fresh = SysHost::new(1000, None);
        assert_eq!(
            fresh.stat(&bytes(&file)).map(|i| i.kind),
            Some(FileKind::File)
        );
        assert_eq!(fresh.read_file(&bytes(&missing), 64), Ok(b"{}".to_vec()));
        assert_eq!(fresh.read_file(&bytes(&grown), 8), Ok(b"[]".to_vec()));
    }
}
