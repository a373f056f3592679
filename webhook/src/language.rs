//! The tracing libraries a pod can receive, named as in Datadog's configuration and annotations.

use std::fmt;

/// A tracing library's language, e.g. `Language::Js` for `admission.datadoghq.com/js-lib.version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Language {
    /// `java`: dd-java-agent.
    Java,
    /// `js`: dd-trace for Node.js.
    Js,
    /// `python`: ddtrace.
    Python,
    /// `dotnet`: the .NET tracer.
    Dotnet,
    /// `ruby`: the Ruby tracer.
    Ruby,
    /// `php`: the PHP tracer.
    Php,
}

impl Language {
    /// Every language, in the order init containers are added.
    pub const ALL: [Language; 6] = [
        Language::Java,
        Language::Js,
        Language::Python,
        Language::Dotnet,
        Language::Ruby,
        Language::Php,
    ];

    /// What is injected when neither the configuration nor the pod names a library: the
    /// languages whose library images `make images` builds (Python and Node.js).
    pub const DEFAULTS: [Language; 2] = [Language::Js, Language::Python];

    /// The name used in configuration keys, annotations and image names, e.g. `"js"`.
    pub fn id(self) -> &'static str {
        match self {
            Language::Java => "java",
            Language::Js => "js",
            Language::Python => "python",
            Language::Dotnet => "dotnet",
            Language::Ruby => "ruby",
            Language::Php => "php",
        }
    }

    /// The language named `id`, e.g. `"python"`.
    pub fn from_id(id: &str) -> Option<Language> {
        Language::ALL.into_iter().find(|l| l.id() == id)
    }

    /// The image tag used for `default`, e.g. `"v4"` for Python (ddtrace 4).
    pub fn default_tag(self) -> &'static str {
        match self {
            Language::Java => "v1",
            Language::Js => "v6",
            Language::Python => "v4",
            Language::Dotnet => "v3",
            Language::Ruby => "v2",
            Language::Php => "v1",
        }
    }

    /// The library image's repository name, e.g. `"dd-lib-python-init"`.
    pub fn image_name(self) -> String {
        format!("dd-lib-{}-init", self.id())
    }

    /// The package directory, e.g. `"datadog-apm-library-python"`.
    pub fn package(self) -> String {
        format!("datadog-apm-library-{}", self.id())
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_name_packages() {
        for l in Language::ALL {
            assert_eq!(Language::from_id(l.id()), Some(l));
        }
        assert_eq!(Language::from_id("node"), None);
        assert_eq!(Language::Js.package(), "datadog-apm-library-js");
        assert_eq!(Language::Python.image_name(), "dd-lib-python-init");
    }
}
