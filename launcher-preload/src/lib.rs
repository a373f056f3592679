//! `launcher.preload.so`: loaded into every process through `/etc/ld.so.preload` or
//! `LD_PRELOAD`, it decides at start-up whether the process is a runtime to instrument and, if
//! so, gives the runtime its variables in a new environment (see `environment`).
//!
//! Shape (see DESIGN.md in the repository for the reasons):
//! - no libc, no std, no imports, no TLS: it loads into glibc, musl and libc-free programs;
//! - a constructor in `.init_array` (glibc passes argc/argv/envp, musl nothing: `loader`);
//!   under glibc, `screen` rules most processes out from the path given to `execve` without
//!   reading `/proc`, and `canonical` names a runtime run directly from that path; the rest
//!   read `/proc/self/exe` and return at once unless the file name is a runtime;
//! - runtime candidates: the auxiliary vector (do nothing under `AT_SECURE`), the loader's
//!   object list for libc and its `environ`, argv (from memory under glibc, else
//!   `/proc/self/auxv` and `/proc/self/cmdline`), then `analyzer::decide`;
//! - every failure, even a panic (see `guard`), leaves the process as it was, silently unless
//!   debug logging is on. No libc function that could change `errno` is called.
#![cfg_attr(not(test), no_std)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

extern crate alloc;

mod arena;
mod canonical;
mod environment;
mod guard;
mod host;
mod libc;
mod loader;
mod log;
#[cfg(not(test))]
mod mem;
mod screen;
mod status;
mod sys;

use alloc::vec::Vec;
use analyzer::{auxv, config, Decision, Outcome, Process, Reason};
use contract::config::{DEFAULT_DIR, DEFAULT_TIME_BUDGET_MS, DIR_VARIABLE};
use contract::render;
use core::ffi::c_int;
use core::mem::MaybeUninit;
use sys::CPath;

/// In `.data` rather than `.bss`: a `.bss` makes the loader zero the rest of a page in every
/// process.
#[cfg(not(test))]
#[global_allocator]
#[link_section = ".data.arena"]
static ARENA: arena::Arena = arena::Arena::with_reserve();

#[cfg(not(test))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    guard::abandon()
}

/// The constructor, run by the dynamic loader before the program's own initialisers.
#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn(c_int, *const *const u8, *const *const u8) = start;

/// Largest `/proc/self/cmdline` considered (the kernel allows argv + environ of about 2 MiB
/// with the default stack limit); anything larger is left alone.
const CMDLINE_LIMIT: usize = 8 << 20;

/// The constructor. glibc passes `(argc, argv, envp)`, musl nothing (then the three registers
/// hold garbage, which `loader` never reads through).
#[link_section = ".text.hot.apm_start"]
extern "C" fn start(argc: c_int, argv: *const *const u8, envp: *const *const u8) {
    let startup = loader::Startup::from_constructor(argc, argv, envp);
    let mut room = [MaybeUninit::<u8>::uninit(); screen::PATH_ROOM];
    let direct = match &startup {
        Some(s) if s.auxv.secure => return,
        Some(s) => match screen::screen(s, &mut room) {
            screen::Screen::NotARuntime => return,
            screen::Screen::Candidate(len) => {
                // SAFETY: the screen initialised the first `len` bytes.
                Some(unsafe { core::slice::from_raw_parts(room.as_ptr().cast::<u8>(), len) })
            }
            screen::Screen::Unknown => None,
        },
        None => None,
    };
    start_candidate(startup, direct);
}

/// The exact test, then the runtime path: the executable (named from `direct`, the path a
/// runtime was run by directly, else by `/proc/self/exe`) is a runtime or an apphost. Kept out
/// of `start` so that its buffers do not grow the stack of every process.
#[inline(never)]
#[cold]
fn start_candidate(startup: Option<loader::Startup>, direct: Option<&[u8]>) {
    let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
    let len = match direct.and_then(|path| canonical::canonical(path, &mut buf)) {
        Some(len) => len,
        None => match sys::readlink(CPath(b"/proc/self/exe\0"), &mut buf) {
            Ok(exe) => exe.len(),
            Err(_) => return,
        },
    };
    // SAFETY: `canonical` or `readlink` initialised the first `len` bytes.
    let exe = unsafe { core::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len) };
    if analyzer::runtime::detect(analyzer::process::file_name(exe)).is_none() && !maybe_apphost(exe)
    {
        return;
    }
    let mut run = Run {
        exe,
        startup,
        log: None,
    };
    if !guard::run(decide_and_apply, &mut run) {
        // A panic abandoned the decision before anything was applied: say so if logging.
        if let Some(mut log) = run.log.take() {
            let failure = Decision::fail(None, Reason::InternalError, Vec::new());
            log.line(&[&render::summary(&failure)]);
            log.flush();
        }
    }
    #[cfg(not(test))]
    ARENA.release();
}

/// What the runtime path shares with `start`, which outlives a decision abandoned by a panic.
struct Run<'a> {
    /// The executable's path.
    exe: &'a [u8],
    /// The initial stack, when the loader passed it.
    startup: Option<loader::Startup>,
    /// The debug log, once configured.
    log: Option<log::Log>,
}

/// Whether `exe` could be a .NET apphost: outside system directories and next to
/// `<exe>.runtimeconfig.json` (one `stat`, path built on the stack: no allocation here). Not
/// inlined: its 4 KiB buffer is off the stack again before a decision runs (every stack page
/// the constructor reaches below what the loader used is a page fault).
#[inline(never)]
fn maybe_apphost(exe: &[u8]) -> bool {
    const SUFFIX: &[u8] = b".runtimeconfig.json\0";
    if !analyzer::dotnet::apphost_candidate(exe) {
        return false;
    }
    // Not zero-initialised: zeroing 4 KiB would cost every candidate ~500 instructions.
    let mut buf = [MaybeUninit::<u8>::uninit(); 4096 + 32];
    let Some(path) = sys::concat_in(&mut buf, exe, SUFFIX) else {
        return false;
    };
    sys::stat(CPath(path)).is_ok_and(|st| st.mode & sys::S_IFMT == sys::S_IFREG)
}

/// The runtime path, run under `guard::run` with a pointer to `start`'s `Run`.
extern "C" fn decide_and_apply(run: *mut u8) {
    // SAFETY: `start` passes a pointer to its `Run`, alive and unaliased during the call.
    let run: &mut Run = unsafe { &mut *(run as *mut Run) };
    let exe = run.exe;
    let auxv = match &run.startup {
        Some(startup) => Some(startup.auxv),
        None => host::read_file(CPath(b"/proc/self/auxv\0"), 4096)
            .ok()
            .and_then(|b| auxv::parse(&b)),
    };
    let Some(auxv) = auxv.filter(|a| !a.secure) else {
        return;
    };
    let mut host = host::SysHost::new(DEFAULT_TIME_BUDGET_MS, libc::vdso_clock_gettime(&auxv));
    let loaded = libc::inspect(&auxv);
    let Some(libc) = loaded.libc else { return };
    let cwd = working_directory();
    let mut process = Process {
        exe,
        args: Vec::new(),
        env: libc.environment().collect(),
        env_index: Default::default(),
        cwd: cwd.as_deref(),
        euid: auxv.euid.unwrap_or_else(sys::geteuid),
        libc: libc.info,
    };
    // One pass over the environment for the decision's twenty-odd look-ups.
    process.index_env();
    let dir = process
        .var(DIR_VARIABLE)
        .filter(|d| !d.is_empty())
        .unwrap_or(DEFAULT_DIR.as_bytes());
    let mut storage = Vec::new();
    let (config, status) = config::load(&host, dir, process.euid, &mut storage);
    host.budget_ms = config.time_budget_ms;
    let log = run.log.insert(log::Log::new(&process, &config));
    log.line(&[b"process_exe: '", exe, b"'"]);
    if !matches!(status, config::Status::Loaded | config::Status::Missing) {
        log.line(&[b"host configuration ignored: ", status.id().as_bytes()]);
    }
    // argv from memory where glibc gave it, else `/proc/self/cmdline` (the same strings).
    let cmdline;
    let args = match &run.startup {
        Some(startup) => Ok(startup.args()),
        None => {
            cmdline = host::read_file(CPath(b"/proc/self/cmdline\0"), CMDLINE_LIMIT);
            cmdline.as_deref().map(analyzer::process::split_cmdline)
        }
    };
    let self_path = loaded.self_path.map(absolute);
    let root = self_path
        .as_deref()
        .and_then(contract::layout::packages_root);
    let decision = match args {
        Ok(args) => {
            process.args = args;
            let decision = analyzer::decide(&process, &host, root, &config);
            apply(&libc, &process, decision)
        }
        Err(_) => Decision::fail(
            analyzer::runtime::detect(analyzer::process::file_name(exe)),
            Reason::ProcessUnreadable,
            Vec::new(),
        ),
    };
    if log.enabled() {
        log.line(&[&render::summary(&decision)]);
        if let (Some(Reason::LibraryMissing), Some(runtime), Some(root)) =
            (decision.outcome.reason(), decision.runtime, root)
        {
            let (entry, _) = analyzer::library_entry_point(runtime, process.libc, decision.sdk);
            let dir = contract::layout::library_dir(root, runtime, decision.sdk);
            log.line(&[b"missing: ", &dir, b"/", entry.as_bytes()]);
        }
    }
    if let Some(log) = run.log.take() {
        log.flush();
    }
    status::record(exe, &decision);
}

/// Applies the decision's edits, all or nothing: the environment with them made becomes the
/// program's (see `environment`); if it cannot be built, nothing changes and the decision
/// becomes a failure (`setenv_failed`, the reason's name since the library used `setenv`).
fn apply(libc: &libc::Libc, process: &Process, mut decision: Decision) -> Decision {
    if decision.edits.is_empty() {
        return decision;
    }
    match environment::build(&process.env, &decision.edits, keep) {
        // SAFETY: `build` wrote a null-terminated array of C strings into memory that `keep`
        // gave for the rest of the process: the new strings there, the others the environment's.
        Some(entries) => unsafe { libc.set_environment(entries) },
        None => {
            decision.outcome = Outcome::Failed(Reason::SetenvFailed);
            decision.edits.clear();
        }
    }
    decision
}

/// Memory that outlives the constructor, for the program's environment.
fn keep(layout: core::alloc::Layout) -> *mut u8 {
    #[cfg(not(test))]
    return ARENA.keep(layout);
    // SAFETY: a non-zero layout (the array holds at least its null pointer); leaked on purpose.
    #[cfg(test)]
    return unsafe { alloc::alloc::alloc(layout) };
}

/// The working directory, `None` if it cannot be read. Read into room that the arena takes
/// back at once past the path's end; the room is not zeroed, so only the bytes the kernel
/// writes are touched.
fn working_directory() -> Option<Vec<u8>> {
    let mut cwd = Vec::with_capacity(4096);
    let len = sys::getcwd(cwd.spare_capacity_mut()).ok()?.len();
    // SAFETY: `getcwd` initialised the first `len` bytes of the spare capacity.
    unsafe { cwd.set_len(len) };
    cwd.shrink_to_fit();
    Some(cwd)
}

/// `path` made absolute against the working directory (the loader records `LD_PRELOAD`
/// entries as given).
fn absolute(path: &[u8]) -> Vec<u8> {
    if path.starts_with(b"/") {
        return path.to_vec();
    }
    match working_directory() {
        Some(cwd) => {
            let path = path.strip_prefix(b"./").unwrap_or(path);
            [&cwd[..], b"/", path].concat()
        }
        None => Vec::new(),
    }
}
