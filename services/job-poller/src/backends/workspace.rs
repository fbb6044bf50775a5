//! The host side of a job's `/workspace`: the three directories the poller fills and the
//! links that let a script run by its bare name. One layout for every backend: local binds
//! this directory, Ray ships it as the job's working directory.

use std::io;
use std::path::Path;

/// Inputs (`/workspace/inputs/<filename>`), read-only for the job.
pub const INPUTS: &str = "inputs";
/// Scripts (`/workspace/scripts/<filename>`), read-only for the job.
pub const SCRIPTS: &str = "scripts";
/// Outputs (`/workspace/artifacts/`), collected after the job ends.
pub const ARTIFACTS: &str = "artifacts";

/// Creates `inputs/`, `scripts/` and `artifacts/` under `workspace` (and `workspace` itself).
pub fn prepare_layout(workspace: &Path) -> io::Result<()> {
    for dir in [INPUTS, SCRIPTS, ARTIFACTS] {
        std::fs::create_dir_all(workspace.join(dir))?;
    }
    Ok(())
}

/// Links each script at the workspace's top (`main.py` → `scripts/main.py`, relative, so it
/// resolves wherever the workspace is mounted), so `python main.py` runs from `/workspace`
/// as the seed's examples do. A name already taken at the top is left alone.
pub fn link_scripts_at_top(workspace: &Path) -> io::Result<()> {
    let scripts = match std::fs::read_dir(workspace.join(SCRIPTS)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in scripts {
        let name = entry?.file_name();
        let at_top = workspace.join(&name);
        if [INPUTS, SCRIPTS, ARTIFACTS].iter().any(|d| name == *d) || at_top.symlink_metadata().is_ok() {
            continue;
        }
        std::os::unix::fs::symlink(Path::new(SCRIPTS).join(&name), &at_top)?;
    }
    Ok(())
}
