//! The runtimes the product knows, and their names: in rules (`runtime: java`), the host
//! configuration (`languages:`), logs, `explain`, the status record, and library package names
//! (`datadog-apm-library-js`). Recognising a runtime from an executable is
//! `analyzer::runtime::detect`.

/// A runtime the product knows about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// A JVM launcher (`java`, JDK tools, `jsvc`).
    Java,
    /// Node.js.
    Node,
    /// CPython.
    Python,
    /// Ruby (MRI).
    Ruby,
    /// PHP (CLI, FPM, CGI).
    Php,
    /// .NET (`dotnet`).
    Dotnet,
}

impl Runtime {
    /// Every runtime, in this order (also the bit order of disabled runtimes in the compiled
    /// configuration).
    pub const ALL: [Runtime; 6] = [
        Runtime::Java,
        Runtime::Node,
        Runtime::Python,
        Runtime::Ruby,
        Runtime::Php,
        Runtime::Dotnet,
    ];

    /// Stable name used in rules, logs and `explain`, e.g. `"node"`.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Java => "java",
            Runtime::Node => "node",
            Runtime::Python => "python",
            Runtime::Ruby => "ruby",
            Runtime::Php => "php",
            Runtime::Dotnet => "dotnet",
        }
    }

    /// Language name of the library package, as in `datadog-apm-library-js`.
    pub fn package(self) -> &'static str {
        match self {
            Runtime::Node => "js",
            other => other.name(),
        }
    }

    /// The runtime of a stable name, e.g. `Some(Node)` for `"node"`.
    pub fn from_name(name: &str) -> Option<Runtime> {
        Runtime::ALL.into_iter().find(|r| r.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for runtime in Runtime::ALL {
            assert_eq!(Runtime::from_name(runtime.name()), Some(runtime));
        }
        assert_eq!(Runtime::Node.package(), "js");
        assert_eq!(Runtime::from_name("js"), None);
    }
}
