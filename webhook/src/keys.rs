//! Kubernetes' limits on the metadata we write, checked before a patch is sent, so that a pod
//! is never refused by the API server because of something the webhook added.

/// Annotations of one object may hold at most this many bytes, keys and values together.
pub const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

/// Checks a label or annotation key: an optional DNS-subdomain prefix (at most 253
/// characters) and `/`, then a name of at most 63 characters of `[A-Za-z0-9-_.]` that starts
/// and ends with a letter or digit, e.g. `internal.apm.datadoghq.com/applied-target`.
pub fn check(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if prefix.len() > 253 || !prefix.split('.').all(label_ok) {
            return Err(format!(
                "key {key:?}: the prefix must be a DNS subdomain of at most 253 characters"
            ));
        }
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if name.is_empty()
        || name.len() > 63
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || !alnum(name.chars().next())
        || !alnum(name.chars().last())
    {
        return Err(format!(
            "key {key:?}: the name part must be 1 to 63 characters [A-Za-z0-9-_.], starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// Checks that annotations fit Kubernetes' total size limit.
pub fn check_total<'a>(
    annotations: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<(), String> {
    let total: usize = annotations
        .into_iter()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if total > ANNOTATIONS_MAX_BYTES {
        return Err(format!(
            "annotations would take {total} bytes, over Kubernetes' limit of {ANNOTATIONS_MAX_BYTES}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_keys_we_write() {
        check("internal.apm.datadoghq.com/applied-target").unwrap();
        check("apm.datadoghq.com/injection-error").unwrap();
        check("internal.apm.datadoghq.com/python-canonical-version").unwrap();
        check("plain_name.1").unwrap();
    }

    #[test]
    fn refuses_long_or_malformed_keys() {
        let long = format!("admission.datadoghq.com/{}", "a".repeat(64));
        assert!(check(&long).unwrap_err().contains("63"));
        check(&format!("admission.datadoghq.com/{}", "a".repeat(63))).unwrap();
        for bad in [
            "",
            "/x",
            "Upper.Example/x",
            "x/-a",
            "x/a-",
            "x/a b",
            "a/b/c",
            "-x.io/a",
        ] {
            assert!(check(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check(&format!("{}.io/x", "a".repeat(250))).is_err());
    }

    #[test]
    fn limits_the_total_size() {
        let big = ("k".to_string(), "v".repeat(ANNOTATIONS_MAX_BYTES));
        assert!(check_total([(&big.0, &big.1)]).is_err());
        let small = ("k".to_string(), "v".to_string());
        check_total([(&small.0, &small.1)]).unwrap();
    }
}
