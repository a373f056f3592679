//! `apm-inject webhook`: a Kubernetes mutating admission webhook that adds the injector and the
//! tracing libraries to new pods, drop-in compatible with the configuration and annotations of
//! Datadog's Cluster Agent (init-container mode).
//!
//! Pure parts: [`config`] (the YAML configuration), [`select`] (which pods, which libraries),
//! [`mutate`] (the change to a pod), [`review`] (AdmissionReview in and out). The server
//! ([`server`], [`tls`], [`namespaces`], [`metrics`]) wraps them in HTTPS.
#![forbid(unsafe_code)]

pub mod config;
pub mod keys;
pub mod language;
pub mod metrics;
pub mod mutate;
pub mod namespaces;
pub mod quantity;
pub mod review;
pub mod select;
pub mod selector;
pub mod server;
pub mod tls;
