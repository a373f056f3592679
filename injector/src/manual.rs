//! The manual pages and shell completions, generated from the CLI's own definition
//! (`clap_mangen`, `clap_complete`): `make dist` ships them in the injector package
//! (`inject/man/apm-inject.1` and one page per subcommand, `apm-inject-install.1`…;
//! `inject/apm-inject.bash`), and `install` links them where the host looks for them
//! ([`crate::integration`]).

use crate::output::say;
use std::path::Path;

/// `apm-inject man [DIR]`: the main manual page (roff) on standard output, or every page (one
/// per subcommand too) written into `DIR`.
pub fn man(cli: clap::Command, dir: Option<&Path>) -> Result<(), String> {
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).map_err(crate::errors::io("create", dir))?;
        return clap_mangen::generate_to(cli, dir)
            .map_err(|e| format!("cannot write the manual pages into {}: {e}", dir.display()));
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(cli)
        .render(&mut page)
        .map_err(|e| format!("cannot render the manual page: {e}"))?;
    say!("{}", String::from_utf8_lossy(&page).trim_end());
    Ok(())
}

/// `apm-inject completions SHELL`: the completion script for `shell` on standard output.
pub fn completions(shell: clap_complete::Shell, mut cli: clap::Command) -> Result<(), String> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cli, "apm-inject", &mut script);
    say!("{}", String::from_utf8_lossy(&script).trim_end());
    Ok(())
}
