//! A YAML document as a tree of nodes that remember where they were written.

use std::fmt;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A position in the source, 1-based line and column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

/// An error at a position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// Where.
    pub pos: Pos,
    /// What, e.g. `unknown key "exec"`.
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}:{}: {}", self.pos.line, self.pos.column, self.message)
    }
}

impl Error {
    /// An error at `pos`.
    pub fn at(pos: Pos, message: impl Into<String>) -> Error {
        Error {
            pos,
            message: message.into(),
        }
    }
}

/// A node and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Where it starts.
    pub pos: Pos,
    /// What it is.
    pub value: Value,
}

/// The shape of a node.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A scalar; `quoted` when written in quotes (so `"1"` is a string, `1` may be a number).
    Scalar {
        /// The text.
        text: String,
        /// Written in quotes.
        quoted: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, keys in order (duplicates are refused while reading).
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The text of a scalar key or value.
    pub fn text(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Whether this is YAML's null (`~`, `null`, or nothing).
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, quoted: false } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// A string, or an error naming `what`.
    pub fn string(&self, what: &str) -> Result<String, Error> {
        match &self.value {
            Value::Scalar { text, .. } if !self.is_null() => Ok(text.clone()),
            _ => Err(Error::at(self.pos, format!("{what}: expected a string"))),
        }
    }

    /// A boolean (`true`/`false`), or an error naming `what`.
    pub fn boolean(&self, what: &str) -> Result<bool, Error> {
        match &self.value {
            Value::Scalar {
                text,
                quoted: false,
            } if text == "true" => Ok(true),
            Value::Scalar {
                text,
                quoted: false,
            } if text == "false" => Ok(false),
            _ => Err(Error::at(
                self.pos,
                format!("{what}: expected true or false"),
            )),
        }
    }

    /// An unsigned integer, or an error naming `what`.
    pub fn integer(&self, what: &str) -> Result<u64, Error> {
        match &self.value {
            Value::Scalar {
                text,
                quoted: false,
            } => text
                .parse()
                .map_err(|_| Error::at(self.pos, format!("{what}: expected a whole number"))),
            _ => Err(Error::at(
                self.pos,
                format!("{what}: expected a whole number"),
            )),
        }
    }

    /// A list of strings (a single string counts as a list of one).
    pub fn strings(&self, what: &str) -> Result<Vec<String>, Error> {
        match &self.value {
            Value::Seq(items) => items.iter().map(|i| i.string(what)).collect(),
            _ => Ok(vec![self.string(what)?]),
        }
    }

    /// The entries of a mapping, or an error naming `what`.
    pub fn entries(&self, what: &str) -> Result<&[(Node, Node)], Error> {
        match &self.value {
            Value::Map(entries) => Ok(entries),
            _ => Err(Error::at(self.pos, format!("{what}: expected a mapping"))),
        }
    }

    /// The items of a sequence, or an error naming `what`.
    pub fn items(&self, what: &str) -> Result<&[Node], Error> {
        match &self.value {
            Value::Seq(items) => Ok(items),
            _ => Err(Error::at(self.pos, format!("{what}: expected a list"))),
        }
    }

    /// Checks that a mapping has only `allowed` keys, and returns a lookup for them.
    pub fn fields<'a>(&'a self, what: &str, allowed: &[&str]) -> Result<Fields<'a>, Error> {
        let entries = self.entries(what)?;
        for (key, _) in entries {
            let name = key.text().unwrap_or("");
            if !allowed.contains(&name) {
                return Err(Error::at(
                    key.pos,
                    format!(
                        "{what}: unknown key \"{name}\" (expected one of: {})",
                        allowed.join(", ")
                    ),
                ));
            }
        }
        Ok(Fields(entries))
    }
}

/// The checked keys of a mapping.
pub struct Fields<'a>(&'a [(Node, Node)]);

impl<'a> Fields<'a> {
    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&'a Node> {
        self.0
            .iter()
            .find(|(k, _)| k.text() == Some(key))
            .map(|(_, v)| v)
    }
}

/// Reads a configuration file of at most `max_bytes` bytes as UTF-8 text; errors name the
/// file (`path: not a regular file`, `path:1:1: larger than N bytes`, `path:1:1: not UTF-8 text`).
pub fn read_file(path: &std::path::Path, max_bytes: u64) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    if meta.len() > max_bytes {
        return Err(format!(
            "{}:1:1: larger than {max_bytes} bytes",
            path.display()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| format!("{}:1:1: not UTF-8 text", path.display()))
}

/// Parses one YAML document. Anchors and aliases are refused (a rule file has no use for
/// them, and aliases allow exponential expansion).
pub fn parse(text: &str) -> Result<Option<Node>, Error> {
    let mut builder = Builder {
        stack: Vec::new(),
        root: None,
        error: None,
    };
    let mut parser = Parser::new_from_str(text);
    parser
        .load(&mut builder, false)
        .map_err(|e| Error::at(pos(e.marker()), e.info().to_string()))?;
    match builder.error {
        Some(e) => Err(e),
        None => Ok(builder.root),
    }
}

fn pos(m: &Marker) -> Pos {
    Pos {
        line: m.line(),
        column: m.col() + 1,
    }
}

enum Open {
    Seq(Pos, Vec<Node>),
    Map(Pos, Vec<(Node, Node)>, Option<Node>),
}

struct Builder {
    stack: Vec<Open>,
    root: Option<Node>,
    error: Option<Error>,
}

impl Builder {
    fn add(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::Seq(_, items)) => items.push(node),
            Some(Open::Map(_, entries, pending)) => match pending.take() {
                None => {
                    if let Some((first, _)) = entries
                        .iter()
                        .find(|(k, _)| k.text().is_some() && k.text() == node.text())
                    {
                        let message = format!(
                            "duplicate key \"{}\" (first at line {})",
                            node.text().unwrap_or(""),
                            first.pos.line
                        );
                        self.error.get_or_insert(Error::at(node.pos, message));
                    }
                    *pending = Some(node);
                }
                Some(key) => entries.push((key, node)),
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, marker: Marker) {
        let at = pos(&marker);
        match event {
            Event::Scalar(text, style, anchor, _) => {
                if anchor != 0 {
                    self.error
                        .get_or_insert(Error::at(at, "anchors are not supported"));
                }
                let quoted = !matches!(style, yaml_rust2::scanner::TScalarStyle::Plain);
                self.add(Node {
                    pos: at,
                    value: Value::Scalar { text, quoted },
                });
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) if anchor != 0 => {
                self.error
                    .get_or_insert(Error::at(at, "anchors are not supported"));
                self.stack.push(Open::Seq(at, Vec::new()));
            }
            Event::SequenceStart(..) => self.stack.push(Open::Seq(at, Vec::new())),
            Event::MappingStart(..) => self.stack.push(Open::Map(at, Vec::new(), None)),
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Open::Seq(p, items)) => Node {
                        pos: p,
                        value: Value::Seq(items),
                    },
                    Some(Open::Map(p, entries, _)) => {
                        // A block mapping's start marker points past its first key: use the key's.
                        let p = entries.first().map_or(p, |(k, _)| k.pos);
                        Node {
                            pos: p,
                            value: Value::Map(entries),
                        }
                    }
                    None => return,
                };
                self.add(node);
            }
            Event::Alias(_) => {
                self.error
                    .get_or_insert(Error::at(at, "aliases are not supported"));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions_and_refuses_duplicates_tabs_and_aliases() {
        let root = parse("a: 1\nlist:\n  - x\n  - {b: c}\n").unwrap().unwrap();
        let fields = root.fields("top", &["a", "list"]).unwrap();
        assert_eq!(fields.get("a").unwrap().pos, Pos { line: 1, column: 4 });
        assert_eq!(
            fields.get("list").unwrap().items("list").unwrap()[1]
                .pos
                .line,
            4
        );
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.to_string(), "3:1: duplicate key \"a\" (first at line 1)");
        assert_eq!(parse("a:\n\t- 1\n").unwrap_err().pos.line, 2);
        assert!(parse("a: &x 1\nb: *x\n").is_err());
        let e = root.fields("top", &["a"]).err().unwrap();
        assert!(
            e.to_string().starts_with("2:1: top: unknown key \"list\""),
            "{e}"
        );
    }
}
