//! `apm-inject uninstall`: our entry leaves `<root>/etc/ld.so.preload` first (the file goes if
//! it was the only entry) and Docker's default runtime is restored (new containers start
//! untouched), then our packages leave `<root>/opt/datadog-packages`, so that no process ever
//! preloads a missing file; so do the links and the systemd unit install added
//! ([`crate::integration`]); with `--purge`, the configuration directory goes too.
//! One transaction ([`crate::transaction`]): the entry's removal is the commit point, the
//! packages are removed after it (a killed run's successor finishes that). Works on a tree
//! deleted by hand too: the entry that points at nothing is removed.

use crate::layout::Root;
use crate::output::say;
use crate::transaction::{self, Plan, Step, Transaction};
use crate::{config, docker_install, integration, preload_file, privilege, signals, system_file};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Uninstalls from `root`; with `purge`, removes the configuration too.
pub fn run(root: &Path, purge: bool) -> Result<(), String> {
    privilege::require_root("uninstall")?;
    signals::defer();
    let root = Root::new(root)?;
    let mut tx = Transaction::begin(&root)?;
    let (mut plan, message) = match plan(&root, purge) {
        Ok(planned) => planned,
        Err(e) => return Err(tx.abort(e)),
    };
    let docker = match docker_install::plan_uninstall(&root) {
        Ok(docker) => docker,
        Err(e) => return Err(tx.abort(e)),
    };
    plan.steps.extend(docker.steps.iter().cloned());
    let touches_unit = integration::touches_unit(&plan.steps);
    let result = tx
        .plan("uninstall", plan)
        .and_then(|()| tx.checkpoint())
        .and_then(|()| tx.apply())
        .and_then(|()| tx.commit());
    if let Err(e) = result {
        return Err(tx.abort(e));
    }
    say!("{message}");
    if !docker.steps.is_empty() {
        say!("{}", docker.message);
        match docker.reload(false) {
            Ok(reloaded) => say!("{reloaded}"),
            Err(e) => say!("note: {e}"),
        }
    }
    tx.finish()?;
    integration::reload(&root, touches_unit);
    if std::env::var_os("LD_PRELOAD").is_some_and(|v| {
        preload_file::entries(v.as_bytes())
            .into_iter()
            .any(preload_file::is_ours)
    }) {
        say!("note: LD_PRELOAD here still names the launcher (an image's ENV line?): remove it");
    }
    transaction::note_late_signal();
    Ok(())
}

/// The steps, and what to say once the entry is gone.
fn plan(root: &Root, purge: bool) -> Result<(Plan, String), String> {
    let mut plan = Plan::default();
    let preload_path = root.ld_so_preload();
    let shown = preload_path.display();
    let message = match system_file::read(&preload_path)? {
        Some(content)
            if preload_file::entries(&content)
                .into_iter()
                .any(preload_file::is_ours) =>
        {
            let remaining = preload_file::without_ours(&content);
            let message = match remaining {
                Some(_) => format!("{shown}: launcher entry removed"),
                None => format!("{shown}: removed (the launcher was its only entry)"),
            };
            plan.steps.push(Step::File {
                path: root.inside(&preload_path),
                existed: true,
                content: remaining,
            });
            message
        }
        _ => format!("{shown}: no launcher entry"),
    };
    integration::uninstall(root, &mut plan);
    for dir in root.our_packages()? {
        plan.remove.push(root.inside(&dir));
    }
    // The packages directory goes too if nothing else lives there.
    plan.prune.push(root.inside(&root.packages()));
    if purge {
        let config = root.path(&config::dir());
        plan.remove.push(root.inside(&config));
        if let Some(parent) = config.parent() {
            plan.prune.push(root.inside(parent));
        }
    }
    Ok((plan, message))
}
