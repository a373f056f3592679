//! The variables the OpenTelemetry SDKs read, for a process given the OpenTelemetry SDK (the
//! per-runtime edit itself is the runtime module's, as for Datadog's tracers).
//!
//! - `OTEL_SERVICE_NAME`: the same derived service name as `DD_SERVICE` in Datadog's mode,
//!   where it is unset or was derived for a parent (marked alike in `DD_INJECTION_ENABLED`),
//!   and where the user gave no `service.name` in `OTEL_RESOURCE_ATTRIBUTES` (the variable
//!   would win over it).
//! - `OTEL_RESOURCE_ATTRIBUTES`: extended, never overwritten: the host configuration's `env`
//!   and `version` as `deployment.environment.name` and `service.version`, each only where the
//!   user's value has no such key. Values are percent-encoded as the specification asks.
//! - `OTEL_EXPORTER_OTLP_*` are never touched: the SDKs' defaults (a collector on localhost)
//!   or the user's endpoint apply.

use crate::decision::Edit;
use crate::process::Process;
use alloc::vec::Vec;

/// The service name variable of the OpenTelemetry SDKs.
pub const SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// The resource attributes variable, `key=value` pairs separated by commas.
pub const RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
/// The resource attribute the host configuration's `env` becomes.
const ENVIRONMENT: &str = "deployment.environment.name";
/// The resource attribute the host configuration's `version` becomes.
const VERSION: &str = "service.version";
/// The resource attribute `OTEL_SERVICE_NAME` overrides.
const SERVICE: &str = "service.name";

/// Whether the user's `OTEL_RESOURCE_ATTRIBUTES` names the service itself.
pub fn names_service(process: &Process) -> bool {
    has_key(process.var(RESOURCE_ATTRIBUTES), SERVICE)
}

/// The edit of `OTEL_RESOURCE_ATTRIBUTES` adding the configured `env` and `version` where the
/// user's value lacks them; `None` when there is nothing to add.
pub fn resource_attributes(process: &Process, env: &[u8], version: &[u8]) -> Option<Edit> {
    let current = process.var(RESOURCE_ATTRIBUTES);
    let mut value = current.unwrap_or_default().to_vec();
    for (key, configured) in [(ENVIRONMENT, env), (VERSION, version)] {
        if configured.is_empty() || has_key(current, key) {
            continue;
        }
        if !value.is_empty() {
            value.push(b',');
        }
        value.extend_from_slice(key.as_bytes());
        value.push(b'=');
        percent_encode(configured, &mut value);
    }
    (value != current.unwrap_or_default()).then_some(Edit::Set {
        name: RESOURCE_ATTRIBUTES,
        value,
    })
}

/// Whether the `key=value,…` list `value` has `key` (spaces around keys allowed).
fn has_key(value: Option<&[u8]>, key: &str) -> bool {
    value.unwrap_or_default().split(|&c| c == b',').any(|pair| {
        let name = pair.split(|&c| c == b'=').next().unwrap_or_default();
        name.trim_ascii() == key.as_bytes()
    })
}

/// Appends `value` with every byte outside the baggage value's safe set (printable ASCII
/// other than space, `"`, `,`, `;`, `\` and `%`) written as `%XX`.
fn percent_encode(value: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &c in value {
        let safe = c.is_ascii_graphic() && !matches!(c, b'"' | b',' | b';' | b'\\' | b'%');
        if safe {
            out.push(c);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(c >> 4)], HEX[usize::from(c & 15)]]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process<'a>(env: &[&'a [u8]]) -> Process<'a> {
        Process {
            env: env.to_vec(),
            ..Process::default()
        }
    }

    fn value(edit: Option<Edit>) -> Option<Vec<u8>> {
        match edit? {
            Edit::Set { value, .. } => Some(value),
            Edit::Unset { .. } => None,
        }
    }

    #[test]
    fn configured_attributes_extend_the_users() {
        let p = process(&[b"OTEL_RESOURCE_ATTRIBUTES=team=shop,region=eu"]);
        assert_eq!(
            value(resource_attributes(&p, b"prod", b"1.4")).unwrap(),
            b"team=shop,region=eu,deployment.environment.name=prod,service.version=1.4"
        );
        let empty = process(&[]);
        assert_eq!(
            value(resource_attributes(&empty, b"prod", b"")).unwrap(),
            b"deployment.environment.name=prod"
        );
        assert_eq!(resource_attributes(&empty, b"", b""), None);
    }

    #[test]
    fn the_users_keys_win() {
        let p = process(&[b"OTEL_RESOURCE_ATTRIBUTES= deployment.environment.name=dev"]);
        assert_eq!(resource_attributes(&p, b"prod", b""), None);
        let p = process(&[b"OTEL_RESOURCE_ATTRIBUTES=service.name=mine"]);
        assert!(names_service(&p));
        assert!(!names_service(&process(&[
            b"OTEL_RESOURCE_ATTRIBUTES=service.namespace=x"
        ])));
    }

    #[test]
    fn values_are_percent_encoded() {
        let p = process(&[]);
        assert_eq!(
            value(resource_attributes(&p, b"a b,c=d%", b"")).unwrap(),
            b"deployment.environment.name=a%20b%2Cc=d%25"
        );
    }
}
