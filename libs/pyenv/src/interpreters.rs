//! The host's Python interpreters an environment can be made from. Found by scanning the
//! configured directories for `python3.N` (never downloaded: uv runs with
//! `UV_PYTHON_DOWNLOADS=never`), each asked for its exact version and prefix, and kept only
//! if the sandbox uid can reach it: a venv's `bin/python` is a link to it, resolved inside
//! the sandbox (interpreters under `/root`, such as pyenv's, are not usable there).

use crate::error::EnvError;
use serde::Serialize;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Interpreter {
    /// Exact version, `3.11.2`.
    pub version: String,
    pub path: PathBuf,
    /// `sys.base_prefix`: bound read-only into sandboxes unless it is under `/usr`.
    pub prefix: PathBuf,
}

impl Interpreter {
    pub fn minor(&self) -> &str {
        match self.version.match_indices('.').nth(1) {
            Some((i, _)) => &self.version[..i],
            None => &self.version,
        }
    }
}

/// Scans `dirs` for `python3.N` files and asks each for its version (in a clean environment).
pub async fn discover(dirs: &[PathBuf]) -> Vec<Interpreter> {
    let mut found: Vec<Interpreter> = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        let mut names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                n.strip_prefix("python3.").is_some_and(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()))
            })
            .collect();
        names.sort();
        for name in names {
            let path = dir.join(&name);
            if !reachable_by_sandbox(&path) {
                continue;
            }
            let asked = tokio::process::Command::new(&path)
                .args([
                    "-E",
                    "-s",
                    "-c",
                    "import sys; print('%d.%d.%d' % sys.version_info[:3]); print(sys.base_prefix)",
                ])
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .kill_on_drop(true)
                .output();
            let Ok(Ok(out)) = tokio::time::timeout(std::time::Duration::from_secs(10), asked).await else { continue };
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let (Some(version), Some(prefix)) = (lines.next(), lines.next()) else { continue };
            let interp = Interpreter { version: version.trim().to_owned(), path, prefix: PathBuf::from(prefix.trim()) };
            if reachable_by_sandbox(&interp.prefix) && !found.iter().any(|f| f.version == interp.version) {
                found.push(interp);
            }
        }
    }
    found.sort_by_key(|i| version_key(&i.version));
    found
}

fn version_key(v: &str) -> Vec<u32> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

/// Picks the interpreter for `requested` (`3.11` or `3.11.2`): the newest matching one.
pub fn choose<'a>(interpreters: &'a [Interpreter], requested: &str) -> Result<&'a Interpreter, EnvError> {
    let unknown = || EnvError::UnknownPython {
        requested: requested.to_owned(),
        available: interpreters.iter().map(|i| i.version.clone()).collect(),
    };
    let well_formed = !requested.is_empty()
        && requested.len() <= 16
        && requested.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if !well_formed {
        return Err(unknown());
    }
    interpreters
        .iter()
        .rev()
        .find(|i| i.version == requested || i.version.starts_with(&format!("{requested}.")))
        .ok_or_else(unknown)
}

/// Whether uid 65534 may search every directory above `path` and read/execute it.
pub fn reachable_by_sandbox(path: &Path) -> bool {
    let Ok(real) = std::fs::canonicalize(path) else { return false };
    real.ancestors().all(|p| {
        std::fs::metadata(p).is_ok_and(|m| {
            let mode = m.mode();
            let needed = if m.is_dir() { 0o001 } else { 0o005 };
            (m.uid() == canopy_sandbox::NOBODY && mode & (needed << 6) != 0) || mode & needed == needed
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i(v: &str) -> Interpreter {
        Interpreter { version: v.into(), path: format!("/usr/bin/python{v}").into(), prefix: "/usr".into() }
    }

    #[test]
    fn a_version_picks_the_newest_match_and_an_unknown_one_lists_what_there_is() {
        let all = [i("3.10.4"), i("3.11.2"), i("3.11.9")];
        assert_eq!(choose(&all, "3.11").unwrap().version, "3.11.9");
        assert_eq!(choose(&all, "3.11.2").unwrap().version, "3.11.2");
        assert_eq!(all[1].minor(), "3.11");
        for bad in ["3.1", "2.7", "latest", "3.11; rm -rf /", ""] {
            let e = choose(&all, bad).unwrap_err().to_string();
            assert!(e.contains("python_version") && e.contains("3.10.4, 3.11.2, 3.11.9"), "{e}");
        }
    }
}
