//! Variables of Datadog's tracers that more than one module reads: the decision sets them and
//! a runtime module looks at them (the OpenTelemetry SDKs' are in `opentelemetry.rs`). A leaf:
//! it imports nothing of this crate.

/// Tracers print a configuration banner at start when this is on (dd-trace 6 and the Java
/// tracer by default): an instrumented process must print what it prints without the launcher.
pub(crate) const STARTUP_LOGS: &str = "DD_TRACE_STARTUP_LOGS";
