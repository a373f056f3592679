//! `apm-inject uninstall`: our entry leaves `<root>/etc/ld.so.preload` first (the file goes if
//! it was the only entry), then our packages leave `<root>/opt/datadog-packages`, so that no
//! process ever preloads a missing file. Works on a tree deleted by hand too: the entry that
//! points at nothing is removed.

use crate::layout::Root;
use crate::output::say;
use crate::{lock, preload_file, signals, system_file, tree};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Uninstalls from `root`.
pub fn run(root: &Path) -> Result<(), String> {
    crate::install::require_root("uninstall")?;
    signals::defer();
    let root = Root::new(root)?;
    let _lock = lock::exclusive(&root)?;
    let preload_path = root.ld_so_preload();
    match system_file::read(&preload_path)? {
        Some(content)
            if preload_file::entries(&content)
                .into_iter()
                .any(preload_file::is_ours) =>
        {
            let remaining = preload_file::without_ours(&content);
            system_file::replace(&preload_path, Some(&content), remaining.as_deref())?;
            match remaining {
                Some(_) => say!("{}: launcher entry removed", preload_path.display()),
                None => say!(
                    "{}: removed (the launcher was its only entry)",
                    preload_path.display()
                ),
            }
        }
        _ => say!("{}: no launcher entry", preload_path.display()),
    }
    for dir in root.our_packages()? {
        tree::remove(&dir)?;
        say!("removed {}", dir.display());
    }
    // The packages directory goes too if nothing else lives there.
    let _ = std::fs::remove_dir(root.packages());
    if std::env::var_os("LD_PRELOAD").is_some_and(|v| {
        preload_file::entries(v.as_bytes())
            .into_iter()
            .any(preload_file::is_ours)
    }) {
        say!("note: LD_PRELOAD here still names the launcher (an image's ENV line?): remove it");
    }
    Ok(())
}
