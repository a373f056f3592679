//! The contract of `analyzer::Host`: what the decision may ask of the machine, and the answers
//! every host must give, so that `apm-inject explain` (the CLI's `StdHost`) decides exactly as
//! the library (its `SysHost`) does. [`check`] is run by both crates' unit tests.
//!
//! Over real files in a temporary directory: a regular file, an empty one, one over the size
//! limit, a directory, a FIFO (never opened for reading: it would block), a character device,
//! a symbolic link (followed) and a dangling one, a missing path, a path through a regular file
//! (`ENOTDIR`: missing, like `ENOENT`), a path with a NUL byte (missing), a file the process may
//! not read (unreadable, unless running as root), and `/proc/self` files (size 0 in `stat`, read
//! to their end).
#![forbid(unsafe_code)]

use analyzer::host::{FileKind, Host, ReadError};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Checks every answer of `host` against the contract (panics with the first difference).
pub fn check<H: Host>(host: &H) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = |name: &str| dir.path().join(name).as_os_str().as_bytes().to_vec();
    std::fs::write(dir.path().join("file"), "hello").unwrap();
    std::fs::set_permissions(
        dir.path().join("file"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    std::fs::write(dir.path().join("empty"), "").unwrap();
    std::fs::write(dir.path().join("large"), vec![b'x'; 100]).unwrap();
    std::fs::create_dir(dir.path().join("dir")).unwrap();
    make_fifo(&dir.path().join("fifo"));
    std::os::unix::fs::symlink("file", dir.path().join("link")).unwrap();
    std::os::unix::fs::symlink("nowhere", dir.path().join("dangling")).unwrap();
    std::fs::write(dir.path().join("secret"), "s").unwrap();
    std::fs::set_permissions(
        dir.path().join("secret"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();

    // Missing in every way: no such file, a dangling link, a path through a regular file
    // (`ENOTDIR`), a NUL byte.
    let missing_paths = [
        path("missing"),
        path("dangling"),
        path("file/child"),
        nul(&path("file")),
    ];

    // stat: symbolic links followed; missing in every way is `None`.
    let info = host.stat(&path("file")).expect("stat of a file");
    assert_eq!((info.kind, info.mode), (FileKind::File, 0o640));
    assert_eq!(info.uid, std::fs::metadata(dir.path()).unwrap().uid());
    assert_eq!(
        host.stat(&path("link")).map(|i| i.kind),
        Some(FileKind::File)
    );
    assert_eq!(host.stat(&path("dir")).map(|i| i.kind), Some(FileKind::Dir));
    assert_eq!(
        host.stat(&path("fifo")).map(|i| i.kind),
        Some(FileKind::Other)
    );
    assert_eq!(
        host.stat(b"/dev/null").map(|i| i.kind),
        Some(FileKind::Other)
    );
    for missing in &missing_paths {
        assert_eq!(host.stat(missing), None, "{}", show(missing));
    }
    assert!(host.is_file(&path("link")) && !host.is_file(&path("dir")));

    // read_file: regular files only, whole, at most `limit` bytes, never blocking.
    assert_eq!(host.read_file(&path("file"), 5), Ok(b"hello".to_vec()));
    assert_eq!(host.read_file(&path("link"), 64), Ok(b"hello".to_vec()));
    assert_eq!(host.read_file(&path("empty"), 0), Ok(Vec::new()));
    assert_eq!(host.read_file(&path("file"), 4), Err(ReadError::TooLarge));
    assert_eq!(host.read_file(&path("large"), 99), Err(ReadError::TooLarge));
    for not_regular in [path("dir"), path("fifo"), b"/dev/null".to_vec()] {
        assert_eq!(
            host.read_file(&not_regular, 64),
            Err(ReadError::NotRegular),
            "{}",
            show(&not_regular)
        );
    }
    for missing in &missing_paths {
        assert_eq!(
            host.read_file(missing, 64),
            Err(ReadError::Missing),
            "{}",
            show(missing)
        );
    }
    let secret = host.read_file(&path("secret"), 64);
    if is_root() {
        assert_eq!(secret, Ok(b"s".to_vec()), "root reads any file");
    } else {
        assert_eq!(secret, Err(ReadError::Unreadable));
    }
    let cmdline = host
        .read_file(b"/proc/self/cmdline", 1 << 20)
        .expect("/proc/self/cmdline");
    assert!(
        !cmdline.is_empty(),
        "proc files are read to their end, not to their size 0"
    );

    // peek: head and tail of a regular file; a directory yields nothing.
    assert_eq!(
        host.peek(&path("file"), 2, 3),
        Ok((b"he".to_vec(), b"llo".to_vec()))
    );
    assert_eq!(
        host.peek(&path("file"), 10, 10),
        Ok((b"hello".to_vec(), b"hello".to_vec()))
    );
    assert_eq!(
        host.peek(&path("empty"), 4, 4),
        Ok((Vec::new(), Vec::new()))
    );
    assert_eq!(host.peek(&path("dir"), 4, 4), Ok((Vec::new(), Vec::new())));
    assert_eq!(host.peek(&path("fifo"), 4, 4), Err(ReadError::NotRegular));
    assert_eq!(host.peek(b"/dev/null", 4, 4), Err(ReadError::NotRegular));
    for missing in &missing_paths {
        assert_eq!(
            host.peek(missing, 4, 4),
            Err(ReadError::Missing),
            "{}",
            show(missing)
        );
    }
    let secret = host.peek(&path("secret"), 1, 1);
    if is_root() {
        assert_eq!(secret, Ok((b"s".to_vec(), b"s".to_vec())));
    } else {
        assert_eq!(secret, Err(ReadError::Unreadable));
    }

    // The clock: a fresh host with a 1 s budget has time left.
    assert!(!host.out_of_time());
}

/// `path` with a NUL byte in the middle.
fn nul(path: &[u8]) -> Vec<u8> {
    [path, b"\0x"].concat()
}

fn show(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

/// Whether the test runs as root (the owner of a new file is the effective user).
fn is_root() -> bool {
    let probe = tempfile::NamedTempFile::new().unwrap();
    probe.as_file().metadata().unwrap().uid() == 0
}

/// Makes a FIFO at `path`.
fn make_fifo(path: &Path) {
    let made = std::process::Command::new("mkfifo").arg(path).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", path.display());
}
