//! Redaction of secrets from text that leaves the host (flares): the value of every variable,
//! option or configuration key whose name contains KEY, TOKEN, SECRET or PASSWORD (in any
//! case) becomes `<redacted>`.
//!
//! A name is a run of letters, digits, `_`, `.` and `-` followed (after an optional closing
//! quote and spaces) by `=` or `:`, which covers `DD_API_KEY=…`, `api_key: …`,
//! `"api_key": "…"`, `--api-key=…` and `-Ddd.api.key=…`. A quoted value is redacted up to its
//! closing quote; an unquoted one up to the end of the line (more than needed rather than
//! less).

/// Words that mark a name as secret.
const SECRET_WORDS: &[&[u8]] = &[b"KEY", b"TOKEN", b"SECRET", b"PASSWORD"];
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
    fn other_text_is_unchanged() {
        let text =
            "apm-inject[12]: process_exe: '/usr/bin/python3'\nurl: http://x:8126\nkeyless line\n";
        assert_eq!(r(text), text);
        assert_eq!(r("API_KEY="), "API_KEY=");
    }
}
