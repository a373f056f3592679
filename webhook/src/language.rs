//! The tracing libraries a pod can receive, named as in Datadog's configuration and annotations.

use contract::sdk::Sdk;
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

    /// Whether `sdk` has a library for this language: Datadog's for all, OpenTelemetry's for
    /// Java, Node.js and Python (the packages `make libraries` builds).
    pub fn has_library(self, sdk: Sdk) -> bool {
        sdk == Sdk::Datadog || matches!(self, Language::Java | Language::Js | Language::Python)
    }

    /// The image tag used for `default`: the major version `make k8s-images` tags, e.g. `"v4"`
    /// for Datadog's Python library (ddtrace 4), `"v2"` for OpenTelemetry's Java agent.
    pub fn default_tag(self, sdk: Sdk) -> &'static str {
        match (sdk, self) {
            (Sdk::Datadog, Language::Java) => "v1",
            (Sdk::Datadog, Language::Js) => "v6",
            (Sdk::Datadog, Language::Python) => "v4",
            (Sdk::Datadog, Language::Dotnet) => "v3",
            (Sdk::Datadog, Language::Ruby) => "v2",
            (Sdk::Datadog, Language::Php) => "v1",
            (Sdk::OpenTelemetry, Language::Java) => "v2",
            // auto-instrumentations-node 0.x and opentelemetry-distro 0.x (`…b1` releases).
            (Sdk::OpenTelemetry, _) => "v0",
        }
    }

    /// The library image's repository name, e.g. `"dd-lib-python-init"`, or
    /// `"otel-lib-python-init"` for OpenTelemetry's.
    pub fn image_name(self, sdk: Sdk) -> String {
        let family = match sdk {
            Sdk::Datadog => "dd",
            Sdk::OpenTelemetry => "otel",
        };
        format!("{family}-lib-{}-init", self.id())
    }

    /// The package directory, e.g. `"datadog-apm-library-python"` or
    /// `"opentelemetry-apm-library-python"`.
    pub fn package(self, sdk: Sdk) -> String {
        format!("{}{}", sdk.library_prefix(), self.id())
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
        assert_eq!(Language::Js.package(Sdk::Datadog), "datadog-apm-library-js");
        assert_eq!(
            Language::Js.package(Sdk::OpenTelemetry),
            "opentelemetry-apm-library-js"
        );
        assert_eq!(
            Language::Python.image_name(Sdk::Datadog),
            "dd-lib-python-init"
        );
        assert_eq!(
            Language::Java.image_name(Sdk::OpenTelemetry),
            "otel-lib-java-init"
        );
        assert!(!Language::Ruby.has_library(Sdk::OpenTelemetry));
        assert!(Language::Ruby.has_library(Sdk::Datadog));
    }
}
