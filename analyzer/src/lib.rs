//! The decision for one process: is it a runtime, may it be instrumented, and which variables
//! change. Pure logic over byte strings, shared by `launcher.preload.so` (no_std, at process
//! start) and `apm-inject explain` (std), so that `explain` shows exactly what the library does.
//!
//! Entry points: [`runtime::detect`] (cheap, from the executable's file name: the library calls
//! it in every process) and [`decide`] (only for runtime candidates).
#![no_std]
#![forbid(unsafe_code)]
#[cfg(test)]
extern crate std;

extern crate alloc;

pub mod auxv;
pub mod config;
mod datadog;
mod decide;
pub mod dotnet;
pub mod env_index;
pub mod host;
pub mod invocation;
pub mod java;
pub mod json;
pub mod language;
pub mod node;
pub mod opentelemetry;
pub mod php;
pub mod process;
pub mod python;
pub mod requirements;
pub mod ruby;
pub mod runtime;
pub mod service;
pub mod supported;
pub mod trust;
pub mod variable;

pub use contract::config::Config;
pub use contract::{decision, layout, sdk};
pub use decide::{decide, library_entry_point};
pub use decision::{Decision, Edit, Outcome, Reason};
pub use host::Host;
pub use process::Process;
pub use runtime::Runtime;
