//! AdmissionReview v1 in, AdmissionReview v1 out. Every answer to a readable review is
//! `allowed: true`: a pod that cannot be instrumented starts unchanged, with the reason in
//! `status.message` (and, when it was selected, in its `…/injection-error` annotation).
//!
//! The patch is a JSONPatch computed between the pod as received and as mutated, both read
//! through the same typed model (so fields unknown to it are neither touched nor removed), and
//! sent base64-encoded as the API requires. kube-rs' `AdmissionResponse` serialises `patch` as
//! an array of numbers (kube-rs issue #1781), which the API server refuses; the response is
//! therefore written here, and only the request side of kube's admission types is used.

use crate::config::Config;
use crate::language::Language;
use crate::mutate;
use crate::select::{self, Decision, Namespace, Skip};
use base64::Engine;
use k8s_openapi::api::core::v1::Pod;
use kube::core::admission::{AdmissionRequest, AdmissionReview, Operation};
use kube::core::DynamicObject;
use serde::Serialize;

/// A review that could be read: what the server needs to answer it.
pub struct Request {
    /// The request itself.
    pub request: AdmissionRequest<DynamicObject>,
}

impl Request {
    /// Parses a request body; an error is a refusal of the whole request (HTTP 400).
    pub fn parse(body: &[u8]) -> Result<Request, String> {
        let review: AdmissionReview<DynamicObject> =
            serde_json::from_slice(body).map_err(|e| format!("not an AdmissionReview: {e}"))?;
        if review.types.api_version != "admission.k8s.io/v1"
            || review.types.kind != "AdmissionReview"
        {
            return Err(format!(
                "expected an admission.k8s.io/v1 AdmissionReview, got {}/{}",
                review.types.api_version, review.types.kind
            ));
        }
        let request = review.request.ok_or("the AdmissionReview has no request")?;
        Ok(Request { request })
    }

    /// The namespace whose labels answering needs, if any: that of a Pod CREATE.
    pub fn namespace(&self) -> Option<&str> {
        self.is_pod_create()
            .then_some(self.request.namespace.as_deref())
            .flatten()
    }

    fn is_pod_create(&self) -> bool {
        let r = &self.request;
        r.kind.group.is_empty()
            && r.kind.version == "v1"
            && r.kind.kind == "Pod"
            && r.sub_resource.is_none()
            && matches!(r.operation, Operation::Create)
    }
}

/// What happened to one review, for the response and the metrics.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Not a Pod CREATE, or no pod to read: passed through.
    Ignored(String),
    /// Selection said no.
    Skipped(Skip),
    /// Instrumented with these libraries.
    Injected(Vec<Language>),
    /// Selected (libraries known or not) and not instrumented.
    Failed(Vec<Language>, String),
}

/// An answer: the response body and what happened.
pub struct Answer {
    /// The AdmissionReview to send back.
    pub body: Vec<u8>,
    /// What happened.
    pub outcome: Outcome,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Review<'a> {
    api_version: &'static str,
    kind: &'static str,
    response: Response<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Response<'a> {
    uid: &'a str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    /// Base64 of the JSONPatch.
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

#[derive(Serialize)]
struct Status {
    message: String,
}

/// Answers `request`, for a pod in `namespace` (as the server found it), at Unix time `now`.
pub fn answer(
    request: &Request,
    config: &Config,
    namespace: &Namespace,
    own_namespace: &str,
    now: u64,
) -> Answer {
    let (outcome, patch, warnings) = decide(request, config, namespace, own_namespace, now);
    let message = match &outcome {
        Outcome::Ignored(m) => Some(m.clone()),
        Outcome::Skipped(skip) => Some(format!("not instrumented: {}", skip.id())),
        Outcome::Injected(_) => None,
        Outcome::Failed(_, m) => Some(format!("not instrumented: {m}")),
    };
    let encoded = patch.map(|p| base64::engine::general_purpose::STANDARD.encode(p));
    let review = Review {
        api_version: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        response: Response {
            uid: &request.request.uid,
            allowed: true,
            status: message.map(|message| Status { message }),
            patch_type: encoded.as_ref().map(|_| "JSONPatch"),
            patch: encoded,
            warnings,
        },
    };
    Answer {
        body: serde_json::to_vec(&review).expect("a review serialises"),
        outcome,
    }
}

type Decided = (Outcome, Option<Vec<u8>>, Vec<String>);

fn decide(
    request: &Request,
    config: &Config,
    namespace: &Namespace,
    own: &str,
    now: u64,
) -> Decided {
    if !request.is_pod_create() {
        let r = &request.request;
        let what = format!("{} {}", r.kind.kind, operation_name(&r.operation));
        return (
            Outcome::Ignored(format!("ignored: {what} (only Pod CREATE is mutated)")),
            None,
            vec![],
        );
    }
    let pod: Pod = match request
        .request
        .object
        .as_ref()
        .map(|o| serde_json::to_value(o).and_then(serde_json::from_value))
    {
        None => {
            return (
                Outcome::Ignored("ignored: the request has no object".into()),
                None,
                vec![],
            )
        }
        Some(Err(e)) => {
            return (
                Outcome::Ignored(format!("ignored: the object is not a Pod: {e}")),
                None,
                vec![],
            )
        }
        Some(Ok(pod)) => pod,
    };
    let plan = match select::decide(config, &pod, namespace, own) {
        Ok(Decision::Skip(skip)) => return (Outcome::Skipped(skip), None, vec![]),
        Ok(Decision::Inject(plan)) => plan,
        Err(e) => return failed(&pod, vec![], e),
    };
    let languages: Vec<Language> = plan.libraries.iter().map(|l| l.language).collect();
    let labels = match &namespace.labels {
        Ok(labels) => labels,
        Err(e) => {
            let message = format!(
                "the labels of namespace {:?} are unknown: {e}",
                namespace.name
            );
            return failed(&pod, languages, message);
        }
    };
    let mut mutated = pod.clone();
    match mutate::apply(&mut mutated, &plan, config, labels, now) {
        Ok(warnings) => (
            Outcome::Injected(languages),
            patch(&pod, &mutated),
            warnings,
        ),
        Err(e) => failed(&pod, languages, e),
    }
}

/// A selected pod that is not instrumented: only the error annotation is added.
fn failed(pod: &Pod, languages: Vec<Language>, message: String) -> Decided {
    let mut annotated = pod.clone();
    let patch = match mutate::annotate_error(&mut annotated, &message) {
        Ok(()) => patch(pod, &annotated),
        Err(_) => None,
    };
    (Outcome::Failed(languages, message), patch, vec![])
}

/// The JSONPatch from `before` to `after`, or `None` if they are equal.
fn patch(before: &Pod, after: &Pod) -> Option<Vec<u8>> {
    let before = serde_json::to_value(before).ok()?;
    let after = serde_json::to_value(after).ok()?;
    let patch = json_patch::diff(&before, &after);
    if patch.0.is_empty() {
        return None;
    }
    serde_json::to_vec(&patch).ok()
}

fn operation_name(operation: &Operation) -> &'static str {
    match operation {
        Operation::Create => "CREATE",
        Operation::Update => "UPDATE",
        Operation::Delete => "DELETE",
        Operation::Connect => "CONNECT",
    }
}
