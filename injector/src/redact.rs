//! Redaction of secrets from text that leaves the host (flares): the value of every variable,
//! option or configuration key whose name contains KEY, TOKEN, SECRET, PASSWORD, PASSWD or
//! CREDENTIAL (in any case) becomes `<redacted>`.
//!
//! YAML (and JSON) configuration is redacted structurally ([`yaml`]): parsed, every value under
//! a secret key replaced (all of it, for a mapping or a list; a null stays null, it holds
//! nothing), every other string passed through the text rules below, and re-emitted, so
//! that the result is valid YAML with the same structure. Comments and formatting are not
//! kept: a comment may hold a secret too.
//!
//! Other text ([`redact`]: logs, environments) goes line by line. A name is a run of letters,
//! digits, `_`, `.` and `-` followed (after an optional closing quote and spaces) by `=` or
//! `:`, which covers `DD_API_KEY=…`, `api_key: …`, `"api_key": "…"`, `--api-key=…` and
//! `-Ddd.api.key=…`. A quoted value is redacted up to its closing quote; an unquoted one up to
//! the end of the line (more than needed rather than less).

use yaml_rust2::{Yaml, YamlEmitter, YamlLoader};

/// Words that mark a name as secret.
const SECRET_WORDS: &[&[u8]] = &[
    b"KEY",
    b"TOKEN",
    b"SECRET",
    b"PASSWORD",
    b"PASSWD",
    b"CREDENTIAL",
];
/// What a secret value becomes.
const REDACTED: &[u8] = b"<redacted>";

/// `text` with secret values replaced, line by line.
pub fn redact(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for line in text.split_inclusive(|&c| c == b'\n') {
        redact_line(line, &mut out);
    }
    out
}

/// YAML `text` (one or more documents) with the values of secret keys replaced, re-emitted;
/// an error (without any of the text) if it does not parse.
pub fn yaml(text: &str) -> Result<String, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let documents = YamlLoader::load_from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
    let mut out = String::new();
    for document in documents {
        let mut emitted = String::new();
        YamlEmitter::new(&mut emitted)
            .dump(&redact_node(document, false))
            .map_err(|e| format!("cannot write YAML: {e}"))?;
        out += &emitted;
        out.push('\n');
    }
    Ok(out)
}

/// `node` with secrets replaced; `secret`: it is (inside) the value of a secret key.
fn redact_node(node: Yaml, secret: bool) -> Yaml {
    match node {
        Yaml::Hash(entries) => Yaml::Hash(
            entries
                .into_iter()
                .map(|(key, value)| {
                    let secret_key =
                        secret || key_text(&key).is_some_and(|k| is_secret(k.as_bytes()));
                    (key, redact_node(value, secret_key))
                })
                .collect(),
        ),
        Yaml::Array(items) => Yaml::Array(
            items
                .into_iter()
                .map(|item| redact_node(item, secret))
                .collect(),
        ),
        Yaml::Null => Yaml::Null,
        _ if secret => Yaml::String(String::from_utf8_lossy(REDACTED).into_owned()),
        Yaml::String(text) => {
            Yaml::String(String::from_utf8_lossy(&redact(text.as_bytes())).into_owned())
        }
        Yaml::Alias(_) | Yaml::BadValue => Yaml::Null,
        other => other,
    }
}

/// A mapping key as text, e.g. `DB_PASSWORD`.
fn key_text(key: &Yaml) -> Option<String> {
    match key {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn redact_line(line: &[u8], out: &mut Vec<u8>) {
    let end_of_line = line.strip_suffix(b"\n").map_or(line.len(), <[u8]>::len);
    let mut copied = 0;
    let mut i = 0;
    while i < end_of_line {
        if !matches!(line[i], b'=' | b':') || !is_secret(name_before(&line[..i])) {
            i += 1;
            continue;
        }
        let mut start = i + 1;
        while start < end_of_line && matches!(line[start], b' ' | b'\t') {
            start += 1;
        }
        let (value_start, value_end) = match line.get(start) {
            Some(&quote @ (b'"' | b'\'')) if start < end_of_line => {
                let close = line[start + 1..end_of_line]
                    .iter()
                    .position(|&c| c == quote)
                    .map_or(end_of_line, |p| start + 1 + p);
                (start + 1, close)
            }
            _ => (start, end_of_line),
        };
        if value_start < value_end {
            out.extend_from_slice(&line[copied..value_start]);
            out.extend_from_slice(REDACTED);
            copied = value_end;
        }
        i = value_end.max(i + 1);
    }
    out.extend_from_slice(&line[copied..]);
}

/// The name just before a `=` or `:` ending `head`, skipping a closing quote and spaces.
fn name_before(head: &[u8]) -> &[u8] {
    let head = head.trim_ascii_end();
    let head = head
        .strip_suffix(b"\"")
        .or_else(|| head.strip_suffix(b"'"))
        .unwrap_or(head);
    let start = head
        .iter()
        .rposition(|&c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')))
        .map_or(0, |p| p + 1);
    &head[start..]
}

fn is_secret(name: &[u8]) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_WORDS
        .iter()
        .any(|word| upper.windows(word.len()).any(|w| w == *word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> String {
        String::from_utf8(redact(text.as_bytes())).unwrap()
    }

    #[test]
    fn variables_are_redacted() {
        assert_eq!(r("DD_API_KEY=abc123\n"), "DD_API_KEY=<redacted>\n");
        assert_eq!(
            r("export DD_APP_KEY=\"x y\" # c"),
            "export DD_APP_KEY=\"<redacted>\" # c"
        );
        assert_eq!(
            r("GITHUB_TOKEN=t\nDD_SERVICE=web\n"),
            "GITHUB_TOKEN=<redacted>\nDD_SERVICE=web\n"
        );
        assert_eq!(r("db_password=hunter2"), "db_password=<redacted>");
    }

    #[test]
    fn config_keys_are_redacted() {
        assert_eq!(
            r("api_key: abc\nsite: datadoghq.com\n"),
            "api_key: <redacted>\nsite: datadoghq.com\n"
        );
        assert_eq!(
            r("  Client_Secret : 's3'"),
            "  Client_Secret : '<redacted>'"
        );
        assert_eq!(
            r(r#"{"api_key": "abc", "site": "x"}"#),
            r#"{"api_key": "<redacted>", "site": "x"}"#
        );
    }

    #[test]
    fn options_on_command_lines_are_redacted() {
        assert_eq!(
            r("process: 'java -Ddd.api.key=abc -jar app.jar'"),
            "process: 'java -Ddd.api.key=<redacted>"
        );
        assert_eq!(
            r("node app.js --auth-token=xyz"),
            "node app.js --auth-token=<redacted>"
        );
    }

    #[test]
    fn yaml_is_redacted_structurally_and_still_parses() {
        let text = "rules:\n  - action: deny\n    env: {DB_PASSWORD: \"hunter2*\", STAGE: prod}\n    \
                    args: [{any: [\"--api-key=k1\"]}]\nAPI_TOKEN: null\nclient_secret:\n  - a\n  - {b: c}\n\
                    env: prod # comment\n";
        let redacted = yaml(text).unwrap();
        let parsed = &YamlLoader::load_from_str(&redacted).unwrap()[0];
        let rule = &parsed["rules"][0];
        assert_eq!(rule["env"]["DB_PASSWORD"].as_str(), Some("<redacted>"));
        assert_eq!(rule["env"]["STAGE"].as_str(), Some("prod"));
        assert_eq!(
            rule["args"][0]["any"][0].as_str(),
            Some("--api-key=<redacted>")
        );
        assert!(parsed["API_TOKEN"].is_null(), "{redacted}");
        assert_eq!(parsed["client_secret"][0].as_str(), Some("<redacted>"));
        assert_eq!(parsed["client_secret"][1]["b"].as_str(), Some("<redacted>"));
        assert_eq!(parsed["env"].as_str(), Some("prod"));
        for secret in ["hunter2", "k1", "c\n"] {
            assert!(!redacted.contains(secret), "{redacted}");
        }
        assert!(yaml("a: [unclosed").is_err());
    }

    #[test]
    fn other_text_is_unchanged() {
        let text =
            "apm-inject[12]: process_exe: '/usr/bin/python3'\nurl: http://x:8126\nkeyless line\n";
        assert_eq!(r(text), text);
        assert_eq!(r("API_KEY="), "API_KEY=");
    }
}
