//! Fail-open recovery: a panic anywhere in the decision returns to the constructor instead of
//! aborting the process.
//!
//! `guarded_call(f, arg)` saves the callee-saved registers and the stack pointer, then calls
//! `f(arg)`. The panic handler calls `recover()`, which restores that stack pointer and makes
//! `guarded_call` return 1 as if `f` had returned. Nothing is unwound: the decision keeps all
//! its data in the arena (released by the caller) and changes the process only after it has
//! finished deciding, so a panic leaves the process exactly as it started. Constructors run on
//! one thread before `main`, so one saved stack pointer suffices.

core::arch::global_asm!(
    ".data",
    ".balign 8",
    ".Lguard_saved_sp:",
    "    .zero 8",
    ".text",
    ".globl apm_guarded_call",
    ".hidden apm_guarded_call",
    ".type apm_guarded_call,@function",
    "apm_guarded_call:",
    "    push rbp",
    "    push rbx",
    "    push r12",
    "    push r13",
    "    push r14",
    "    push r15",
    "    sub rsp, 8",
    "    mov [rip + .Lguard_saved_sp], rsp",
    "    mov rax, rdi",
    "    mov rdi, rsi",
    "    call rax",
    "    xor eax, eax",
    ".Lguard_return:",
    "    mov qword ptr [rip + .Lguard_saved_sp], 0",
    "    add rsp, 8",
    "    pop r15",
    "    pop r14",
    "    pop r13",
    "    pop r12",
    "    pop rbx",
    "    pop rbp",
    "    ret",
    ".globl apm_recover",
    ".hidden apm_recover",
    ".type apm_recover,@function",
    "apm_recover:",
    "    mov rax, [rip + .Lguard_saved_sp]",
    "    test rax, rax",
    "    jz .Lguard_trap",
    "    mov rsp, rax",
    "    cld",
    "    mov eax, 1",
    "    jmp .Lguard_return",
    ".Lguard_trap:",
    "    ud2",
);

/// Runs `f(state)`; returns `false` if it panicked (and was abandoned), `true` otherwise.
pub fn run<T>(f: extern "C" fn(*mut u8), state: &mut T) -> bool {
    let abandoned: u64;
    // SAFETY: `apm_guarded_call` follows the C ABI and calls `f` with `state` as its argument.
    // Called from assembly (not as an `extern` function), so the call is direct: an extern
    // declaration would cost a GOT entry the loader relocates in every process.
    unsafe {
        core::arch::asm!("call apm_guarded_call", in("rdi") f, in("rsi") state as *mut T,
                         lateout("rax") abandoned, clobber_abi("C"));
    }
    abandoned == 0
}

/// Abandons the running `run` call. Outside one, traps (there is nothing to return to).
pub fn abandon() -> ! {
    // SAFETY: only called from the panic handler, i.e. from code running inside `run`.
    unsafe { core::arch::asm!("jmp apm_recover", options(noreturn)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" fn finishes(state: *mut u8) {
        // SAFETY: `run` passes the `u32` below.
        unsafe { *(state as *mut u32) += 1 };
    }

    extern "C" fn gives_up(state: *mut u8) {
        // SAFETY: as above.
        unsafe { *(state as *mut u32) += 1 };
        abandon();
    }

    /// One test only: the guard keeps one saved stack pointer, as the library runs its
    /// constructor on one thread, so it must not be used by parallel tests.
    #[test]
    fn normal_and_abandoned_calls_return_to_the_caller() {
        let mut calls = 0u32;
        assert!(run(finishes, &mut calls));
        assert!(!run(gives_up, &mut calls));
        assert!(!run(gives_up, &mut calls), "the guard can be used again");
        assert!(run(finishes, &mut calls));
        assert_eq!(calls, 4);
    }
}
