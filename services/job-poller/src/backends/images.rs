//! Which `image` names this deployment runs, and on what. Jobs name container images
//! (`python:3.11-slim`); Canopy's backends run no containers, so each accepted image maps to a
//! [`Runtime`]: the interpreter the job's commands resolve to. Anything else is refused at
//! submit with `INVALID_REQUEST`, naming the images that do run ([`ImageError`]).
//!
//! The default ([`ImageCatalog::default`]) maps every Python 3 image (`python`, `python:3`,
//! `python:3.11`, `python:3.11-slim`, ...) to the host's Python 3 at `/usr/bin/python3`, with
//! `python` and `python3` both on the job's `PATH`, so the seed's examples run as written. The
//! interpreter must live under a path the sandbox's unprivileged uid can traverse (not under
//! `/root`): `/usr/bin/python3` is Debian's. An operator adds or replaces rules in
//! configuration ([`ImageCatalog::with_rule`], [`ImageCatalog::new`]); rules are tried in
//! order, the first match wins.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// What an accepted image runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Runtime {
    /// For logs and error messages (`host python3`).
    pub name: String,
    /// Command names put on the job's `PATH`, each a link to a program that the sandbox can
    /// see (`python` → `/usr/bin/python3`).
    pub commands: BTreeMap<String, PathBuf>,
    /// Environment the runtime needs; the job's own `env` wins over it.
    /// `PYTHONUNBUFFERED=1` makes a Python job's lines reach its logs as printed.
    pub env: BTreeMap<String, String>,
    /// Host directories the runtime needs besides `/usr` (bound read-only at the same path),
    /// e.g. `/opt/python3.12` for an interpreter installed there.
    pub read_only_paths: Vec<PathBuf>,
}

impl Runtime {
    /// The host's Python 3: `python` and `python3` → `interpreter`.
    pub fn host_python(interpreter: impl Into<PathBuf>) -> Self {
        let interpreter = interpreter.into();
        let commands = ["python", "python3"].into_iter().map(|c| (c.to_owned(), interpreter.clone())).collect();
        let env = [("PYTHONUNBUFFERED", "1"), ("PYTHONDONTWRITEBYTECODE", "1")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Runtime { name: format!("host python ({})", interpreter.display()), commands, env, read_only_paths: Vec::new() }
    }
}

/// One accepted image pattern: an exact name, or a prefix ending in `*` (`python:3*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRule {
    pub pattern: String,
    pub runtime: Runtime,
}

impl ImageRule {
    pub fn new(pattern: impl Into<String>, runtime: Runtime) -> Self {
        ImageRule { pattern: pattern.into(), runtime }
    }

    pub fn matches(&self, image: &str) -> bool {
        match self.pattern.strip_suffix('*') {
            Some(prefix) => image.starts_with(prefix),
            None => image == self.pattern,
        }
    }
}

/// The images a backend accepts, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageCatalog {
    rules: Vec<ImageRule>,
}

/// `image` names nothing this deployment runs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("image {image:?} is not available on this deployment; it runs: {}", supported.join(", "))]
pub struct ImageError {
    pub image: String,
    /// The patterns that would have been accepted.
    pub supported: Vec<String>,
}

impl ImageError {
    /// The field the error names on the jobs surface.
    pub const FIELD: &'static str = "image";
}

impl canopy_domain::HasErrorCode for ImageError {
    fn code(&self) -> canopy_domain::ErrorCode {
        canopy_domain::ErrorCode::InvalidRequest
    }
}

/// Where Debian's Python 3 is; reachable by the sandbox's uid, unlike a pyenv under `/root`.
pub const HOST_PYTHON: &str = "/usr/bin/python3";

impl Default for ImageCatalog {
    fn default() -> Self {
        let python = Runtime::host_python(HOST_PYTHON);
        ImageCatalog::new(vec![ImageRule::new("python", python.clone()), ImageRule::new("python:3*", python)])
    }
}

impl ImageCatalog {
    pub fn new(rules: Vec<ImageRule>) -> Self {
        ImageCatalog { rules }
    }

    /// The defaults with `rule` tried first (an operator's override or addition).
    pub fn with_rule(mut self, rule: ImageRule) -> Self {
        self.rules.insert(0, rule);
        self
    }

    pub fn rules(&self) -> &[ImageRule] {
        &self.rules
    }

    /// The runtime `image` runs on, or the error naming what does run here.
    pub fn resolve(&self, image: &str) -> Result<&Runtime, ImageError> {
        let image = image.trim();
        self.rules.iter().find(|r| r.matches(image)).map(|r| &r.runtime).ok_or_else(|| ImageError {
            image: image.to_owned(),
            supported: self.rules.iter().map(|r| r.pattern.clone()).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_images_map_to_the_host_python_and_others_are_refused_by_name() {
        let catalog = ImageCatalog::default();
        for accepted in ["python", "python:3", "python:3.11", "python:3.11-slim", "python:3.12-bookworm"] {
            let runtime = catalog.resolve(accepted).unwrap_or_else(|e| panic!("{accepted}: {e}"));
            assert_eq!(runtime.commands["python"], PathBuf::from(HOST_PYTHON));
        }
        for refused in ["python:2.7", "pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime", "ubuntu", "pythonic"] {
            let error = catalog.resolve(refused).expect_err(refused);
            assert_eq!(error.supported, vec!["python".to_owned(), "python:3*".to_owned()]);
            assert!(error.to_string().contains(refused), "{error}");
            assert!(error.to_string().contains("python:3*"), "{error}");
        }
    }

    #[test]
    fn an_operator_rule_is_tried_first() {
        let custom = Runtime::host_python("/opt/py312/bin/python3");
        let catalog = ImageCatalog::default().with_rule(ImageRule::new("python:3.12*", custom.clone()));
        assert_eq!(catalog.resolve("python:3.12-slim"), Ok(&custom));
        assert_ne!(catalog.resolve("python:3.11"), Ok(&custom));
    }
}
