//! Service names for processes whose `DD_SERVICE` is unset, derived from how they were started
//! (each runtime module says what it knows: jar, script, module, package.json, app directory)
//! and normalised to Datadog's tag rules.
//!
//! A derived name is marked by `service_name` in `DD_INJECTION_ENABLED`
//! (`tracer,service_name`), so a child process can tell it from a name the user set and
//! derive its own. (A child that sets its own `DD_SERVICE` under an instrumented parent that
//! derived one is indistinguishable and gets a derived name too.)

use crate::process::{file_name, parent, Process};
use alloc::vec::Vec;

/// Longest service name kept.
pub const MAX_LEN: usize = 100;

/// `name` by Datadog's tag rules: lower case; characters other than `a-z 0-9 _ - : . /`
/// become `_` (runs collapsed); it starts with a letter; at most 100 bytes; `None` if nothing
/// is left.
pub fn normalize(name: &[u8]) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(name.len().min(MAX_LEN));
    for &c in name {
        let c = c.to_ascii_lowercase();
        let keep = c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || matches!(c, b'_' | b'-' | b':' | b'.' | b'/');
        let c = if keep { c } else { b'_' };
        if out.is_empty() && !c.is_ascii_lowercase() {
            continue;
        }
        if c == b'_' && out.last() == Some(&b'_') {
            continue;
        }
        out.push(c);
        if out.len() == MAX_LEN {
            break;
        }
    }
    while out.last().is_some_and(|&c| c == b'_') {
        out.pop();
    }
    (!out.is_empty()).then_some(out)
}

/// A file's name without its extension and without a trailing version, e.g. `payment-service`
/// for `/srv/payment-service-1.4.2.jar`.
pub fn stem(path: &[u8]) -> &[u8] {
    let name = file_name(path);
    let name = match name.iter().rposition(|&c| c == b'.') {
        Some(dot) if dot > 0 => &name[..dot],
        _ => name,
    };
    match name.iter().rposition(|&c| c == b'-') {
        Some(dash) if name.get(dash + 1).is_some_and(u8::is_ascii_digit) && dash > 0 => {
            &name[..dash]
        }
        _ => name,
    }
}

/// Whether an absolute path is in a system directory, where scripts are tools (`bundle`,
/// `puma`, `gunicorn`), not the application.
fn in_system_directory(path: &[u8]) -> bool {
    [&b"/usr/"[..], b"/bin/", b"/sbin/", b"/opt/rh/"]
        .iter()
        .any(|p| path.starts_with(p))
}

/// The application directory's name for `script` (its own directory unless it is a system
/// tool, then the working directory), e.g. `shop` for `/var/www/shop/public/index.php`.
pub fn app_directory_name(process: &Process, script: Option<&[u8]>) -> Option<Vec<u8>> {
    let script = script
        .filter(|s| !s.starts_with(b"-"))
        .and_then(|s| process.absolute(s));
    let dir = match &script {
        Some(path) if !in_system_directory(path) => parent(path)?.to_vec(),
        _ => process.cwd?.to_vec(),
    };
    Some(app_directory(&dir).to_vec()).filter(|n| !n.is_empty())
}

/// The application directory's name for a script: its directory, skipping `bin`, `public`,
/// `script` and `web` (e.g. `shop` for `/var/www/shop/public/index.php`).
pub fn app_directory(script_dir: &[u8]) -> &[u8] {
    let mut dir = script_dir;
    while matches!(
        file_name(dir),
        b"bin" | b"public" | b"script" | b"web" | b""
    ) {
        match parent(dir) {
            Some(up) if !up.is_empty() => dir = up,
            _ => return &[],
        }
    }
    file_name(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_tag_rules() {
        assert_eq!(normalize(b"Payment Service").unwrap(), b"payment_service");
        assert_eq!(normalize(b"@acme/Orders").unwrap(), b"acme/orders");
        assert_eq!(normalize(b"__init__!!").unwrap(), b"init");
        assert_eq!(normalize(b"123"), None);
        assert_eq!(normalize(&[b'a'; 300]).unwrap().len(), MAX_LEN);
        assert_eq!(normalize("caf\u{e9}".as_bytes()).unwrap(), b"caf");
    }

    #[test]
    fn stems_drop_extension_and_version() {
        assert_eq!(stem(b"/srv/payment-service.jar"), b"payment-service");
        assert_eq!(stem(b"/srv/payment-service-1.4.2.jar"), b"payment-service");
        assert_eq!(stem(b"app.py"), b"app");
        assert_eq!(stem(b".hidden"), b".hidden");
        assert_eq!(app_directory(b"/var/www/shop/public"), b"shop");
        assert_eq!(app_directory(b"/srv/blog/bin"), b"blog");
        assert_eq!(app_directory(b"/bin"), b"");
    }
}
