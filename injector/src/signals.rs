//! Termination signals while the system is being changed: `SIGINT`, `SIGTERM`, `SIGHUP` and
//! `SIGQUIT` are blocked ([`defer`]) so that they cannot stop `install` or `uninstall` between
//! two steps; the change looks for a pending one at its checkpoints ([`pending`]), then rolls
//! back (before its commit point) or finishes (after it), and only then lets the signal end the
//! process ([`die_by`]). `SIGPIPE` is ignored (Rust's default) and output errors are ignored
//! ([`crate::output`]), so a closed pipe never stops a change either. `SIGKILL` cannot be
//! caught: the next run finds the journal and finishes the job ([`crate::transaction`]).
//!
//! Programs started meanwhile get the default signal mask back (Rust's `Command` resets it).
//!
//! Tests interrupt a change at every checkpoint with `APM_INJECT_TEST_SIGNAL_AT=N:SIGNAL`
//! ([`checkpoint`]): the process sends itself signal number `SIGNAL` at its `N`th checkpoint
//! (from 1). Nothing else reads that variable.

use std::sync::atomic::{AtomicU32, Ordering};

/// The signals that ask a process to stop.
const TERMINATING: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];
/// The test hook's variable.
const TEST_SIGNAL_AT: &str = "APM_INJECT_TEST_SIGNAL_AT";

/// Checkpoints passed so far.
static CHECKPOINTS: AtomicU32 = AtomicU32::new(0);

fn terminating_set() -> libc::sigset_t {
    // SAFETY: sigemptyset and sigaddset only write the set they are given.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in TERMINATING {
            libc::sigaddset(&mut set, signal);
        }
        set
    }
}

/// Blocks the terminating signals for this process (call before starting any thread).
pub fn defer() {
    let set = terminating_set();
    // SAFETY: changes this thread's mask only; threads started later inherit it.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// A terminating signal that arrived while blocked, if any.
pub fn pending() -> Option<libc::c_int> {
    // SAFETY: sigpending writes the set it is given; sigismember only reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        if libc::sigpending(&mut set) != 0 {
            return None;
        }
        TERMINATING
            .into_iter()
            .find(|&s| libc::sigismember(&set, s) == 1)
    }
}

/// A point where a change may stop: counts it for the test hook (see the module docs), then
/// returns a pending terminating signal, if any.
pub fn checkpoint() -> Option<libc::c_int> {
    let passed = CHECKPOINTS.fetch_add(1, Ordering::Relaxed) + 1;
    let hook = std::env::var(TEST_SIGNAL_AT).ok().and_then(|v| {
        let (at, signal) = v.split_once(':')?;
        Some((at.parse::<u32>().ok()?, signal.parse::<libc::c_int>().ok()?))
    });
    if let Some((_, signal)) = hook.filter(|(at, _)| *at == passed) {
        // SAFETY: sends a signal to this very process.
        unsafe {
            libc::kill(libc::getpid(), signal);
        }
    }
    pending()
}

/// The signal's name, e.g. `SIGTERM`.
pub fn name(signal: libc::c_int) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        libc::SIGQUIT => "SIGQUIT",
        _ => "a signal",
    }
}

/// Ends the process by `signal`, as if it had not been blocked (the parent sees the signal,
/// not an exit status).
pub fn die_by(signal: libc::c_int) -> ! {
    // SAFETY: restores the default action, then unblocks the signal, which is delivered at
    // once; `_exit` only if it was not (SIGQUIT's default would dump core: not for a request to
    // stop).
    unsafe {
        if signal != libc::SIGQUIT {
            libc::signal(signal, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, signal);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        }
        libc::_exit(128 + signal)
    }
}
