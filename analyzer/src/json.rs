//! A small JSON reader for the files the library reads at start-up (`requirements.json`,
//! `*.runtimeconfig.json`, `package.json`): no_std, bounded nesting, strings kept as bytes.
//!
//! Strict enough to refuse malformed input, lenient where it costs nothing: string escapes
//! are decoded except `\u`, which is kept verbatim (the product only compares ASCII names).

use alloc::vec::Vec;

/// Deepest nesting accepted: deeper input is refused, never a stack overflow.
const MAX_DEPTH: usize = 32;

/// A JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number, kept as its text, e.g. `b"2.17"`.
    Number(Vec<u8>),
    /// A string, escapes decoded.
    String(Vec<u8>),
    /// An array.
    Array(Vec<Value>),
    /// An object, members in order.
    Object(Vec<(Vec<u8>, Value)>),
}

impl Value {
    /// Member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members
                .iter()
                .find(|(k, _)| k == key.as_bytes())
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The bytes of a string value.
    pub fn as_str(&self) -> Option<&[u8]> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The items of an array (empty for anything else).
    pub fn items(&self) -> &[Value] {
        match self {
            Value::Array(items) => items,
            _ => &[],
        }
    }
}

/// Parses a whole JSON document; `None` if it is malformed or nested too deeply.
pub fn parse(text: &[u8]) -> Option<Value> {
    let mut p = Parser { text, at: 0 };
    let value = p.value(0)?;
    p.space();
    (p.at == text.len()).then_some(value)
}

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn literal(&mut self, word: &[u8], value: Value) -> Option<Value> {
        let end = self.at + word.len();
        (self.text.get(self.at..end)? == word).then(|| {
            self.at = end;
            value
        })
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.space();
        match self.peek()? {
            b'n' => self.literal(b"null", Value::Null),
            b't' => self.literal(b"true", Value::Bool(true)),
            b'f' => self.literal(b"false", Value::Bool(false)),
            b'"' => self.string().map(Value::String),
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                self.space();
                if self.peek() == Some(b']') {
                    self.at += 1;
                    return Some(Value::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.space();
                    match self.peek()? {
                        b',' => self.at += 1,
                        b']' => {
                            self.at += 1;
                            return Some(Value::Array(items));
                        }
                        _ => return None,
                    }
                }
            }
            b'{' => {
                self.at += 1;
                let mut members = Vec::new();
                self.space();
                if self.peek() == Some(b'}') {
                    self.at += 1;
                    return Some(Value::Object(members));
                }
                loop {
                    self.space();
                    let key = self.string()?;
                    self.space();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.at += 1;
                    members.push((key, self.value(depth + 1)?));
                    self.space();
                    match self.peek()? {
                        b',' => self.at += 1,
                        b'}' => {
                            self.at += 1;
                            return Some(Value::Object(members));
                        }
                        _ => return None,
                    }
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = self.at;
                while matches!(
                    self.peek(),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.at += 1;
                }
                Some(Value::Number(self.text.get(start..self.at)?.to_vec()))
            }
            _ => None,
        }
    }

    fn string(&mut self) -> Option<Vec<u8>> {
        if self.peek()? != b'"' {
            return None;
        }
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let c = self.peek()?;
            self.at += 1;
            match c {
                b'"' => return Some(out),
                b'\\' => {
                    let e = self.peek()?;
                    self.at += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'u' => out.extend_from_slice(b"\\u"),
                        b'"' | b'\\' | b'/' => out.push(e),
                        _ => return None,
                    }
                }
                0..=0x1f => return None,
                _ => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_requirements_file() {
        let text = br#"{"version":1,"native_deps":{"glibc":[{"arch":"x64","supported":true,"min":"2.17"}]},
            "deny":[{"id":"java_version","cmds":["**/java"],"args":[{"args":["-version"],"position":1}],"envars":null}]}"#;
        let v = parse(text).unwrap();
        assert_eq!(v.get("version"), Some(&Value::Number(b"1".to_vec())));
        let deny = &v.get("deny").unwrap().items()[0];
        assert_eq!(deny.get("id").unwrap().as_str(), Some(&b"java_version"[..]));
        assert_eq!(deny.get("envars"), Some(&Value::Null));
    }

    #[test]
    fn refuses_malformed_and_deep_input() {
        for bad in [
            &b"{"[..],
            b"{\"a\":}",
            b"[1,]",
            b"\"unterminated",
            b"{} x",
            b"",
            b"nul",
        ] {
            assert_eq!(parse(bad), None, "{:?}", core::str::from_utf8(bad));
        }
        let deep = [&[b'['; 100][..], &[b']'; 100]].concat();
        assert_eq!(parse(&deep), None);
        assert!(parse(br#"{"a":"x\"y\\n"}"#).is_some());
    }
}
