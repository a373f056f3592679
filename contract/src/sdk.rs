//! The SDK family injected: Datadog's tracers or the OpenTelemetry SDKs. Chosen by the host
//! configuration (`sdk:`), overridden per process by [`VARIABLE`]; everything but the
//! per-runtime edit and the library package it points at is shared.

/// The variable that overrides the host configuration's choice for a process (and its
/// children), e.g. `DD_APM_INSTRUMENTATION_SDK=opentelemetry`.
pub const VARIABLE: &str = "DD_APM_INSTRUMENTATION_SDK";

/// An SDK family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sdk {
    /// Datadog's tracers (`dd-java-agent`, `ddtrace`, `dd-trace`), sending to the Datadog Agent.
    #[default]
    Datadog,
    /// The OpenTelemetry SDKs and their automatic instrumentation, sending OTLP.
    OpenTelemetry,
}

impl Sdk {
    /// Every family, in encoding order.
    pub const ALL: [Sdk; 2] = [Sdk::Datadog, Sdk::OpenTelemetry];

    /// Stable name, in the configuration, the variable, `explain` and `status`, e.g.
    /// `"opentelemetry"`.
    pub fn name(self) -> &'static str {
        match self {
            Sdk::Datadog => "datadog",
            Sdk::OpenTelemetry => "opentelemetry",
        }
    }

    /// The family a name stands for: its [`Sdk::name`], or `otel` for OpenTelemetry, in any
    /// case.
    pub fn from_name(name: &[u8]) -> Option<Sdk> {
        if name.eq_ignore_ascii_case(b"otel") {
            return Some(Sdk::OpenTelemetry);
        }
        Sdk::ALL
            .into_iter()
            .find(|sdk| name.eq_ignore_ascii_case(sdk.name().as_bytes()))
    }

    /// Name prefix of this family's library packages, e.g. `opentelemetry-apm-library-` for
    /// `opentelemetry-apm-library-java`.
    pub const fn library_prefix(self) -> &'static str {
        match self {
            Sdk::Datadog => "datadog-apm-library-",
            Sdk::OpenTelemetry => "opentelemetry-apm-library-",
        }
    }

    /// The encoded byte.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The family of an encoded byte.
    pub fn from_code(code: u8) -> Option<Sdk> {
        Sdk::ALL.into_iter().find(|sdk| sdk.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_round_trip() {
        for sdk in Sdk::ALL {
            assert_eq!(Sdk::from_name(sdk.name().as_bytes()), Some(sdk));
            assert_eq!(Sdk::from_code(sdk.code()), Some(sdk));
        }
        assert_eq!(Sdk::from_name(b"OTel"), Some(Sdk::OpenTelemetry));
        assert_eq!(Sdk::from_name(b"OpenTelemetry"), Some(Sdk::OpenTelemetry));
        assert_eq!(Sdk::from_name(b"dd"), None);
        assert_eq!(Sdk::from_name(b""), None);
        assert_eq!(Sdk::from_code(2), None);
    }
}
