//! Package arguments and the frozen-environment format.
//!
//! A package argument reaches uv's command line, so it is checked to be a requirement and
//! nothing else: no option (`-e`, `--index-url=...` smuggled as a name), no URL, path or
//! direct reference (`pkg @ https://...`) unless `allow_direct_references`, no whitespace
//! that could split it, no environment markers. A requirements file is read by the engine
//! (in the workspace, checked like any path) and each line checked the same way; uv never
//! reads the file itself, so its `-r`, `--index-url` and `-e` lines cannot act.

use crate::error::PackageError;
use serde::{Deserialize, Serialize};

/// The documented format of `freeze` (`"format": "canopy-python-env/v1"`).
pub const FROZEN_FORMAT: &str = "canopy-python-env/v1";

/// One installed distribution.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Package {
    pub name: String,
    pub version: String,
}

/// An environment as JSON: `{"format": "canopy-python-env/v1", "python_version": "3.11.2",
/// "packages": [{"name": "six", "version": "1.17.0"}, ...]}`, packages sorted by name,
/// names as the installer reports them. `restore` makes an equal environment from it: the
/// same interpreter minor version (the exact one when the host has it) and exactly these
/// pins, installed without resolving dependencies again.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Frozen {
    pub format: String,
    pub python_version: String,
    pub packages: Vec<Package>,
}

const MAX_REQUIREMENT: usize = 200;

/// Checks one requirement (`numpy`, `pandas>=2,<3`, `requests[socks]==2.32.3`).
pub fn check_requirement(req: &str, allow_direct: bool) -> Result<(), &'static str> {
    if req.is_empty() {
        return Err("empty");
    }
    if req.len() > MAX_REQUIREMENT {
        return Err("longer than 200 characters");
    }
    if req.starts_with('-') {
        return Err("starts with `-`: options are not package names");
    }
    if req.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace or control characters");
    }
    let direct =
        req.contains("://") || req.contains('@') || req.contains('/') || req.contains('\\') || req.starts_with('.');
    if direct {
        return if allow_direct { Ok(()) } else { Err("URLs, paths and direct references are not allowed here") };
    }
    if !req.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("a package name starts with a letter or digit");
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._-[],<>=!~*+".contains(c);
    if !req.chars().all(allowed) {
        return Err("only a name, [extras] and version specifiers are allowed (no markers, URLs or options)");
    }
    Ok(())
}

pub fn check_all(packages: &[String], allow_direct: bool) -> Result<(), PackageError> {
    if packages.is_empty() {
        return Err(PackageError::Empty);
    }
    for p in packages {
        check_requirement(p, allow_direct).map_err(|why| PackageError::InvalidPackage { package: p.clone(), why })?;
    }
    Ok(())
}

/// The requirements of a requirements file, each line checked (comments and blank lines
/// dropped, `\` continuations joined).
pub fn parse_requirements(path: &str, text: &str, allow_direct: bool) -> Result<Vec<String>, PackageError> {
    let mut out = Vec::new();
    let mut pending = String::new();
    let mut first_line = 0;
    for (n, raw) in text.lines().enumerate() {
        if pending.is_empty() {
            first_line = n + 1;
        }
        let line = match raw.find(" #") {
            Some(i) => &raw[..i],
            None if raw.trim_start().starts_with('#') => "",
            None => raw,
        };
        if let Some(cont) = line.trim_end().strip_suffix('\\') {
            pending.push_str(cont.trim());
            continue;
        }
        pending.push_str(line.trim());
        let entry = std::mem::take(&mut pending);
        if entry.is_empty() {
            continue;
        }
        check_requirement(&entry, allow_direct).map_err(|why| PackageError::InvalidRequirement {
            path: path.to_owned(),
            line: first_line,
            entry: entry.clone(),
            why,
        })?;
        out.push(entry);
    }
    if out.is_empty() {
        return Err(PackageError::InvalidRequirement {
            path: path.to_owned(),
            line: 0,
            entry: String::new(),
            why: "the file lists no requirement",
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_requirements_pass_as_packages() {
        for ok in ["numpy", "pandas>=2,<3", "requests[socks]==2.32.3", "zope.interface", "a_b-c~=1.0"] {
            assert!(check_requirement(ok, false).is_ok(), "{ok}");
        }
        let refused = [
            "-e",
            "--index-url=https://evil/simple",
            "-rrequirements.txt",
            "pkg @ https://x/y.whl",
            "pkg@https://x",
            "https://x/y.whl",
            "./local",
            "/abs/dir",
            "..\\x",
            "numpy pandas",
            "numpy;os_name=='nt'",
            "",
            "a\nb",
            "git+https://x/y",
        ];
        for bad in refused {
            assert!(check_requirement(bad, false).is_err(), "{bad:?} must be refused");
        }
        assert!(check_requirement("pkg@https://x/y.whl", true).is_ok());
        assert!(check_requirement("-e", true).is_err(), "options stay refused with direct references allowed");
        let e = check_all(&["--pre".into()], false).unwrap_err().to_string();
        assert!(e.starts_with("packages: \"--pre\""), "{e}");
    }

    #[test]
    fn a_requirements_file_is_read_line_by_line() {
        let text = "# deps\nsix==1.17.0  # pinned\n\nattrs \\\n  >=23\n";
        assert_eq!(parse_requirements("r.txt", text, false).unwrap(), vec!["six==1.17.0", "attrs>=23"]);
        let e = parse_requirements("r.txt", "six\n--index-url https://evil\n", false).unwrap_err().to_string();
        assert!(e.contains("requirements_path \"r.txt\" line 2"), "{e}");
        assert!(parse_requirements("r.txt", "-r other.txt\n", false).is_err());
        assert!(parse_requirements("r.txt", "# nothing\n", false).is_err());
    }
}
