//! Raw Linux system calls: the only way the library talks to the kernel.
//!
//! The library links no libc (it must load into glibc, musl and libc-free processes), so it
//! issues system calls itself. Raw calls never touch the process's `errno`. Every function
//! returns `Err(errno)` on failure. Paths are NUL-terminated byte strings (`CPath`).

use core::arch::asm;
use core::mem::MaybeUninit;

#[cfg(not(target_arch = "x86_64"))]
compile_error!("launcher-preload supports x86_64 Linux only (see README: Platforms)");

/// An error number from the kernel, e.g. 2 for `ENOENT`.
pub type Errno = i32;

/// `EINTR`: interrupted system call.
const EINTR: Errno = 4;
/// `ENAMETOOLONG`: a path or link target too long for the buffer.
const ENAMETOOLONG: Errno = 36;

const SYS_READ: usize = 0;
const SYS_PREAD64: usize = 17;
const SYS_WRITE: usize = 1;
const SYS_CLOSE: usize = 3;
const SYS_FSTAT: usize = 5;
const SYS_MMAP: usize = 9;
const SYS_MUNMAP: usize = 11;
const SYS_GETPID: usize = 39;
const SYS_GETEUID: usize = 107;
const SYS_CLOCK_GETTIME: usize = 228;
const SYS_GETCWD: usize = 79;
const SYS_OPENAT: usize = 257;
const SYS_NEWFSTATAT: usize = 262;
const SYS_READLINKAT: usize = 267;
const SYS_RENAMEAT: usize = 264;
const SYS_FTRUNCATE: usize = 77;

const AT_FDCWD: isize = -100;
/// `openat` flags.
pub const O_RDONLY: usize = 0;
/// Open for writing only.
pub const O_WRONLY: usize = 1;
/// Create the file if missing.
pub const O_CREAT: usize = 0o100;
/// Every write goes to the end of the file.
pub const O_APPEND: usize = 0o2000;
/// Never block on open or read (FIFOs, devices).
pub const O_NONBLOCK: usize = 0o4000;
/// Do not make the file the controlling terminal.
pub const O_NOCTTY: usize = 0o400;
/// Closed on `exec`: nothing we open leaks into children.
pub const O_CLOEXEC: usize = 0o2000000;

const PROT_READ: usize = 1;
const PROT_WRITE: usize = 2;
const MAP_PRIVATE: usize = 2;
const MAP_ANONYMOUS: usize = 0x20;
const MAP_NORESERVE: usize = 0x4000;
const CLOCK_MONOTONIC: usize = 1;

/// File type bits of `st_mode`.
pub const S_IFMT: u32 = 0o170000;
/// Regular file type.
pub const S_IFREG: u32 = 0o100000;

/// A NUL-terminated path, e.g. `CPath(b"/proc/self/exe\0")`.
#[derive(Clone, Copy)]
pub struct CPath<'a>(pub &'a [u8]);

/// The fields of `struct stat` the library uses.
#[derive(Clone, Copy, Debug, Default)]
pub struct FileStat {
    /// File type and permission bits, e.g. `0o100644`.
    pub mode: u32,
    /// Owner user id.
    pub uid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Device and inode: which file it is.
    pub id: (u64, u64),
}

/// Kernel `struct stat` layout on x86_64.
#[repr(C)]
struct KernelStat {
    dev: u64,
    ino: u64,
    nlink: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    pad0: u32,
    rdev: u64,
    size: i64,
    blksize: i64,
    blocks: i64,
    times: [u64; 6],
    reserved: [i64; 3],
}

#[inline(always)]
fn result(ret: isize) -> Result<usize, Errno> {
    if (-4095..0).contains(&ret) {
        Err(-ret as Errno)
    } else {
        Ok(ret as usize)
    }
}

/// System call `n` with up to four arguments (unused ones 0); the raw return value (`-errno` on
/// failure).
///
/// # Safety
/// The arguments must be valid for system call `n`: pointers to memory of the sizes the call
/// reads or writes, descriptors the caller owns.
#[inline(always)]
unsafe fn syscall4(n: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller passes arguments valid for system call `n`; the kernel clobbers only
    // rax, rcx and r11 and does not touch our stack.
    asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a, in("rsi") b, in("rdx") c,
         in("r10") d, lateout("rcx") _, lateout("r11") _, options(nostack));
    ret
}

/// System call `n` with six arguments; the raw return value (`-errno` on failure).
///
/// # Safety
/// As for [`syscall4`].
#[inline(always)]
unsafe fn syscall6(n: usize, args: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: as for `syscall4`, with six arguments.
    asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") args[0], in("rsi") args[1],
         in("rdx") args[2], in("r10") args[3], in("r8") args[4], in("r9") args[5],
         lateout("rcx") _, lateout("r11") _, options(nostack));
    ret
}

/// The target of symbolic link `path`, read into `buf`: `Err(EINVAL)` if `path` is not a
/// link, `Err(ENAMETOOLONG)` if the target may not fit in `buf`.
#[inline(always)]
pub fn readlink<'b>(path: CPath, buf: &'b mut [MaybeUninit<u8>]) -> Result<&'b [u8], Errno> {
    // SAFETY: `path` is NUL-terminated and `buf` is writable for `buf.len()` bytes.
    let ret = unsafe {
        syscall4(
            SYS_READLINKAT,
            AT_FDCWD as usize,
            path.0.as_ptr() as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
        )
    };
    match result(ret)? {
        n if n > 0 && n < buf.len() => {
            // SAFETY: the kernel initialised the first `n` bytes.
            Ok(unsafe { core::slice::from_raw_parts(buf.as_ptr().cast(), n) })
        }
        _ => Err(ENAMETOOLONG),
    }
}

/// `a` followed by `b`, written into `buf`; `None` if they do not fit.
#[link_section = ".text.hot.apm_start"]
pub fn concat_in<'b>(buf: &'b mut [MaybeUninit<u8>], a: &[u8], b: &[u8]) -> Option<&'b [u8]> {
    let len = a.len().checked_add(b.len()).filter(|&n| n <= buf.len())?;
    // SAFETY: `buf` has room for both (checked above) and overlaps neither: it is borrowed
    // mutably while they are borrowed shared.
    unsafe {
        let start = buf.as_mut_ptr().cast::<u8>();
        core::ptr::copy_nonoverlapping(a.as_ptr(), start, a.len());
        core::ptr::copy_nonoverlapping(b.as_ptr(), start.add(a.len()), b.len());
        Some(core::slice::from_raw_parts(start, len))
    }
}

/// Opens `path` with `flags` (`O_CLOEXEC` is always added), creating it with `mode` if asked.
pub fn open(path: CPath, flags: usize, mode: usize) -> Result<Fd, Errno> {
    loop {
        // SAFETY: `path` is NUL-terminated.
        let ret = unsafe {
            syscall4(
                SYS_OPENAT,
                AT_FDCWD as usize,
                path.0.as_ptr() as usize,
                flags | O_CLOEXEC,
                mode,
            )
        };
        match result(ret) {
            Err(EINTR) => continue,
            other => return other.map(|fd| Fd(fd as i32)),
        }
    }
}

/// `stat(2)` of `path`, following symbolic links.
#[link_section = ".text.hot.apm_start"]
pub fn stat(path: CPath) -> Result<FileStat, Errno> {
    let mut st = core::mem::MaybeUninit::<KernelStat>::uninit();
    // SAFETY: `path` is NUL-terminated and `st` is a writable `struct stat`.
    result(unsafe {
        syscall4(
            SYS_NEWFSTATAT,
            AT_FDCWD as usize,
            path.0.as_ptr() as usize,
            st.as_mut_ptr() as usize,
            0,
        )
    })?;
    // SAFETY: the kernel filled `st` on success.
    Ok(unsafe { file_stat(st.assume_init_ref()) })
}

fn file_stat(st: &KernelStat) -> FileStat {
    FileStat {
        mode: st.mode,
        uid: st.uid,
        size: st.size as u64,
        id: (st.dev, st.ino),
    }
}

/// Renames `from` to `to` (replacing it).
pub fn rename(from: CPath, to: CPath) -> Result<(), Errno> {
    // SAFETY: both paths are NUL-terminated.
    result(unsafe {
        syscall4(
            SYS_RENAMEAT,
            AT_FDCWD as usize,
            from.0.as_ptr() as usize,
            AT_FDCWD as usize,
            to.0.as_ptr() as usize,
        )
    })
    .map(drop)
}

/// An open file descriptor, closed when dropped.
pub struct Fd(i32);

impl Fd {
    /// Reads up to `max` more bytes into the spare capacity of `buf` (growing it as needed)
    /// and returns how many were read; nothing is zeroed first.
    pub fn read_append(&self, buf: &mut alloc::vec::Vec<u8>, max: usize) -> Result<usize, Errno> {
        buf.reserve(max);
        let spare = buf.spare_capacity_mut();
        let len = spare.len().min(max);
        loop {
            // SAFETY: `spare` is writable for at least `len` bytes.
            let ret = unsafe {
                syscall4(
                    SYS_READ,
                    self.0 as usize,
                    spare.as_mut_ptr() as usize,
                    len,
                    0,
                )
            };
            match result(ret) {
                Err(EINTR) => continue,
                Err(e) => return Err(e),
                Ok(n) => {
                    // SAFETY: the kernel initialised `n <= len` bytes after the current length.
                    unsafe { buf.set_len(buf.len() + n) };
                    return Ok(n);
                }
            }
        }
    }

    /// Reads up to `len` bytes at `offset` into a new vector (short at the end of the file).
    /// Nothing is asked of the kernel for `len` 0.
    pub fn read_at(&self, len: usize, offset: u64) -> Result<alloc::vec::Vec<u8>, Errno> {
        let mut buf = alloc::vec::Vec::with_capacity(len);
        if len == 0 {
            return Ok(buf);
        }
        loop {
            let spare = buf.spare_capacity_mut();
            // SAFETY: `spare` is writable for `len` bytes.
            let ret = unsafe {
                syscall4(
                    SYS_PREAD64,
                    self.0 as usize,
                    spare.as_mut_ptr() as usize,
                    len,
                    offset as usize,
                )
            };
            match result(ret) {
                Err(EINTR) => continue,
                Err(e) => return Err(e),
                Ok(n) => {
                    // SAFETY: the kernel initialised `n <= len` bytes.
                    unsafe { buf.set_len(n) };
                    return Ok(buf);
                }
            }
        }
    }

    /// Writes all of `data` (best effort: stops at the first error).
    pub fn write_all(&self, mut data: &[u8]) {
        while !data.is_empty() {
            // SAFETY: `data` is readable for `data.len()` bytes.
            let ret = unsafe {
                syscall4(
                    SYS_WRITE,
                    self.0 as usize,
                    data.as_ptr() as usize,
                    data.len(),
                    0,
                )
            };
            match result(ret) {
                Ok(0) => return,
                Ok(n) => data = data.get(n..).unwrap_or_default(),
                Err(EINTR) => continue,
                Err(_) => return,
            }
        }
    }

    /// Empties the open file (`ftruncate(2)` to 0).
    pub fn truncate(&self) -> Result<(), Errno> {
        // SAFETY: changes only the size of our own open file.
        result(unsafe { syscall4(SYS_FTRUNCATE, self.0 as usize, 0, 0, 0) }).map(drop)
    }

    /// `fstat(2)` of the open file.
    pub fn stat(&self) -> Result<FileStat, Errno> {
        let mut st = core::mem::MaybeUninit::<KernelStat>::uninit();
        // SAFETY: `st` is a writable `struct stat`.
        result(unsafe { syscall4(SYS_FSTAT, self.0 as usize, st.as_mut_ptr() as usize, 0, 0) })?;
        // SAFETY: the kernel filled `st` on success.
        Ok(unsafe { file_stat(st.assume_init_ref()) })
    }

    /// Standard error, which is never closed by us.
    pub fn stderr() -> core::mem::ManuallyDrop<Fd> {
        core::mem::ManuallyDrop::new(Fd(2))
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own this descriptor; closing it has no memory effects. `close` is not
        // retried on EINTR (Linux always releases the descriptor).
        unsafe { syscall4(SYS_CLOSE, self.0 as usize, 0, 0, 0) };
    }
}

/// Maps `len` bytes of private, zeroed, lazily committed memory.
pub fn map_anonymous(len: usize) -> Result<*mut u8, Errno> {
    // SAFETY: an anonymous mapping has no effect on existing memory.
    let ret = unsafe {
        syscall6(
            SYS_MMAP,
            [
                0,
                len,
                PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                usize::MAX,
                0,
            ],
        )
    };
    result(ret).map(|addr| addr as *mut u8)
}

/// Unmaps memory returned by `map_anonymous`.
///
/// # Safety
/// Nothing may use the memory afterwards.
pub unsafe fn unmap(addr: *mut u8, len: usize) {
    syscall4(SYS_MUNMAP, addr as usize, len, 0, 0);
}

/// The current working directory, written into `buf` (uninitialised room is fine): the path,
/// without its NUL.
pub fn getcwd(buf: &mut [MaybeUninit<u8>]) -> Result<&[u8], Errno> {
    // SAFETY: `buf` is writable for `buf.len()` bytes.
    let n = result(unsafe { syscall4(SYS_GETCWD, buf.as_mut_ptr() as usize, buf.len(), 0, 0) })?;
    let len = n.saturating_sub(1).min(buf.len());
    // SAFETY: the kernel wrote `n` bytes (the path and its NUL) at the start of `buf`.
    Ok(unsafe { core::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len) })
}

/// This process's id.
pub fn getpid() -> u32 {
    // SAFETY: getpid has no arguments and cannot fail.
    unsafe { syscall4(SYS_GETPID, 0, 0, 0, 0) as u32 }
}

/// This process's effective user id.
pub fn geteuid() -> u32 {
    // SAFETY: geteuid has no arguments and cannot fail.
    unsafe { syscall4(SYS_GETEUID, 0, 0, 0, 0) as u32 }
}

/// Monotonic time in nanoseconds (0 if the clock cannot be read).
pub fn monotonic_ns() -> u64 {
    let mut ts = [0i64; 2];
    // SAFETY: `ts` is a writable `struct timespec`.
    let ret = unsafe {
        syscall4(
            SYS_CLOCK_GETTIME,
            CLOCK_MONOTONIC,
            ts.as_mut_ptr() as usize,
            0,
            0,
        )
    };
    if ret != 0 {
        return 0;
    }
    (ts[0] as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts[1] as u64)
}
