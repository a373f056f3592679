//! What crosses a crate or process boundary, in one small `no_std` leaf crate that every other
//! crate uses through its normal dependency:
//!
//! - [`rules`]: the rule model and its binary encoding (the default deny list compiled at build
//!   time, users' rules, `requirements.json` deny entries), read in place by [`cursor`];
//! - [`config`]: the compiled host configuration (`host_config.bin`), written by the CLI and read
//!   by the library;
//! - [`status`]: the decision record the library keeps in each process and `apm-inject status`
//!   reads;
//! - [`layout`] and [`path`]: package-tree names (`datadog-apm-library-<lang>/stable`, …);
//! - [`sdk`]: the SDK family injected (Datadog's or OpenTelemetry's);
//! - [`runtime`] and [`decision`]: runtime names, the decision value and its stable reason ids,
//!   shared by the debug log, `explain`, `status` and telemetry.
//!
//! Each binary format has a round-trip unit test beside its encoder and decoder. Nothing here
//! allocates on the library's non-runtime path, and static tables hold no pointers (each would
//! be a relocation in every process).
#![no_std]
#![forbid(unsafe_code)]
#[cfg(test)]
extern crate std;

extern crate alloc;

pub mod config;
pub mod cursor;
pub mod decision;
pub mod layout;
pub mod path;
pub mod render;
pub mod rules;
pub mod runtime;
pub mod sdk;
pub mod status;
