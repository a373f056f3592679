//! The host configuration the library reads: the compiled form of `host_config.yaml`.
//!
//! `apm-inject config apply` compiles the YAML into this binary form ([`encode`], written
//! atomically); the library reads it in place with no YAML parser ([`Config::parse`];
//! `analyzer::config::load` finds, checks and reads the file). Encoding (little-endian,
//! `str` = u16 length + bytes):
//! ```text
//! "APMC" u8 version=2
//! u8 log level (0 off/default, 1 debug), str output paths, u8 disabled runtimes (bit per
//! Runtime, see `runtime_bit`), str env, str version, u32 time budget ms (0 = default),
//! u8 SDK family (`Sdk::code`), u32 rules length, rules (a compiled rule set, see `crate::rules`)
//! ```
//! Version 1 (written before the SDK setting existed) has no SDK byte and is still read, as
//! Datadog's SDK.

use crate::cursor::Cursor;
use crate::rules::{self, RuleSet};
use crate::runtime::Runtime;
use crate::sdk::Sdk;
use alloc::string::String;
use alloc::vec::Vec;

/// Magic bytes of a compiled host configuration.
pub const MAGIC: &[u8; 4] = b"APMC";
/// Encoding version.
pub const VERSION: u8 = 2;
/// The previous encoding version, without the SDK byte, still read.
const VERSION_WITHOUT_SDK: u8 = 1;
/// Default configuration directory; `DD_APM_INSTRUMENTATION_CONFIG_DIR` overrides it.
pub const DEFAULT_DIR: &str = "/etc/datadog-agent/inject";
/// Variable naming another configuration directory.
pub const DIR_VARIABLE: &str = "DD_APM_INSTRUMENTATION_CONFIG_DIR";
/// The YAML users edit, in the configuration directory.
pub const SOURCE_FILE: &str = "host_config.yaml";
/// The OpenTelemetry injector's configuration file, compiled in as a drop-in by `apm-inject
/// config apply`; its rules' ids are `otelinject.conf:<line>`.
pub const DROPIN_FILE: &str = "/etc/opentelemetry/otelinject.conf";
/// The compiled form the library reads, in the configuration directory.
pub const COMPILED_FILE: &str = "host_config.bin";
/// Largest compiled file read.
pub const COMPILED_LIMIT: usize = 1 << 20;
/// Default time budget for one decision.
pub const DEFAULT_TIME_BUDGET_MS: u32 = 1000;

/// A configuration, borrowed from its compiled bytes.
#[derive(Clone, Copy, Debug)]
pub struct Config<'a> {
    /// Debug logging requested (`log_level: debug`).
    pub debug: bool,
    /// Log destinations, comma-separated, as in `DD_APM_INSTRUMENTATION_OUTPUT_PATHS`.
    pub output_paths: &'a [u8],
    /// Runtimes disabled by the user, one bit each (`runtime_bit`).
    pub disabled: u8,
    /// `DD_ENV` for processes that have none.
    pub env: &'a [u8],
    /// `DD_VERSION` for processes that have none.
    pub version: &'a [u8],
    /// Time budget for one decision, in milliseconds.
    pub time_budget_ms: u32,
    /// The SDK family injected (`sdk:`), unless a process's `DD_APM_INSTRUMENTATION_SDK` says
    /// otherwise.
    pub sdk: Sdk,
    /// The user's rules, in order.
    pub rules: RuleSet<'a>,
}

impl Default for Config<'_> {
    fn default() -> Self {
        Config {
            debug: false,
            output_paths: &[],
            disabled: 0,
            env: &[],
            version: &[],
            time_budget_ms: DEFAULT_TIME_BUDGET_MS,
            sdk: Sdk::Datadog,
            rules: RuleSet::EMPTY,
        }
    }
}

/// The bit standing for `runtime` in `Config::disabled`.
pub fn runtime_bit(runtime: Runtime) -> u8 {
    1 << (runtime as u8)
}

impl<'a> Config<'a> {
    /// Whether the user disabled `runtime`.
    pub fn is_disabled(&self, runtime: Runtime) -> bool {
        self.disabled & runtime_bit(runtime) != 0
    }

    /// Reads a compiled configuration; `None` if it is malformed in any way.
    pub fn parse(bytes: &'a [u8]) -> Option<Config<'a>> {
        let mut r = Cursor(bytes);
        if r.take(4)? != MAGIC {
            return None;
        }
        let encoding = r.u8()?;
        if encoding != VERSION && encoding != VERSION_WITHOUT_SDK {
            return None;
        }
        let debug = match r.u8()? {
            0 => false,
            1 => true,
            _ => return None,
        };
        let output_paths = r.str()?;
        let disabled = r.u8()?;
        let env = r.str()?;
        let version = r.str()?;
        let budget = r.u32()?;
        let sdk = if encoding == VERSION_WITHOUT_SDK {
            Sdk::Datadog
        } else {
            Sdk::from_code(r.u8()?)?
        };
        let rules_len = r.u32()? as usize;
        let rules = RuleSet::parse(r.take(rules_len)?)?;
        if !r.0.is_empty() {
            return None;
        }
        let time_budget_ms = if budget == 0 {
            DEFAULT_TIME_BUDGET_MS
        } else {
            budget
        };
        Some(Config {
            debug,
            output_paths,
            disabled,
            env,
            version,
            time_budget_ms,
            sdk,
            rules,
        })
    }
}

/// A configuration to compile (what `apm-inject config apply` produces).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Source {
    /// Debug logging.
    pub debug: bool,
    /// Log destinations, comma-separated.
    pub output_paths: String,
    /// Disabled runtimes.
    pub disabled: Vec<Runtime>,
    /// `DD_ENV` default.
    pub env: String,
    /// `DD_VERSION` default.
    pub version: String,
    /// Time budget (0 = default).
    pub time_budget_ms: u32,
    /// The SDK family.
    pub sdk: Sdk,
    /// Compiled rules (`contract::rules::encode`).
    pub rules: Vec<u8>,
}

/// Encodes `source`, or says which field is too long.
pub fn encode(source: &Source) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(source.debug as u8);
    put_str(&mut out, &source.output_paths, "output_paths")?;
    out.push(
        source
            .disabled
            .iter()
            .fold(0, |bits, r| bits | runtime_bit(*r)),
    );
    put_str(&mut out, &source.env, "env")?;
    put_str(&mut out, &source.version, "version")?;
    out.extend_from_slice(&source.time_budget_ms.to_le_bytes());
    out.push(source.sdk.code());
    let len = u32::try_from(source.rules.len()).map_err(|_| String::from("rules: too large"))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&source.rules);
    Ok(out)
}

fn put_str(out: &mut Vec<u8>, value: &str, name: &str) -> Result<(), String> {
    rules::put_str(out, value).map_err(|e| [name, ": ", &e].concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusal_of_corruption() {
        let rules = rules::encode(&[rules::Rule {
            id: "batch".into(),
            description: String::new(),
            runtime: Some("java".into()),
            action: rules::Action::Allow,
            alternatives: alloc::vec![alloc::vec![rules::Clause::NoProgram]],
        }])
        .unwrap();
        let source = Source {
            debug: true,
            output_paths: "/var/log/inject.log".into(),
            disabled: alloc::vec![Runtime::Java],
            env: "prod".into(),
            version: "1.2".into(),
            time_budget_ms: 250,
            sdk: Sdk::OpenTelemetry,
            rules,
        };
        let bytes = encode(&source).unwrap();
        let config = Config::parse(&bytes).unwrap();
        assert!(
            config.debug && config.is_disabled(Runtime::Java) && !config.is_disabled(Runtime::Node)
        );
        assert_eq!(
            (config.env, config.version, config.time_budget_ms),
            (&b"prod"[..], &b"1.2"[..], 250)
        );
        assert_eq!(config.output_paths, b"/var/log/inject.log");
        assert_eq!(config.sdk, Sdk::OpenTelemetry);
        let rule = config.rules.rules().next().unwrap();
        assert_eq!(
            (rule.id, rule.action),
            (&b"batch"[..], rules::Action::Allow)
        );
        for cut in 0..bytes.len() {
            assert!(Config::parse(&bytes[..cut]).is_none(), "truncated at {cut}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(Config::parse(&extra).is_none());
        let sdk_at = bytes.len() - source.rules.len() - 5;
        let mut unknown_sdk = bytes.clone();
        unknown_sdk[sdk_at] = 9;
        assert!(Config::parse(&unknown_sdk).is_none());
    }

    #[test]
    fn version_1_reads_as_datadog() {
        let source = Source {
            env: "prod".into(),
            sdk: Sdk::OpenTelemetry,
            rules: rules::encode(&[]).unwrap(),
            ..Source::default()
        };
        let mut bytes = encode(&source).unwrap();
        let sdk_at = bytes.len() - source.rules.len() - 5;
        bytes.remove(sdk_at);
        bytes[4] = VERSION_WITHOUT_SDK;
        let config = Config::parse(&bytes).unwrap();
        assert_eq!((config.sdk, config.env), (Sdk::Datadog, &b"prod"[..]));
    }
}
