//! Built-in servers: the MCP servers Canopy hosts itself (`grid`: Jungle Grid's jobs; `python`:
//! Jumpboot's Python environments) and which every tenant has, registered by the system, never by
//! a user. A built-in is an ordinary server aggregate whose spec has transport `builtin`; which
//! built-in it is follows from its name, which is the kind's name and reserved: no user may
//! register a server under it, whatever the deployment's configuration, so a name means the same
//! thing in every tenant and to every rule that keys on it (the scopes of `canopy-policy`).

use crate::ids::ServerName;
use serde::{Deserialize, Serialize};

/// Which built-in server: its name in every tenant, and what the session-worker hosts for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum BuiltinKind {
    /// Jungle Grid's jobs tools (`estimate_job`, `submit_job`, ...).
    #[serde(rename = "grid")]
    Grid,
    /// Jumpboot's Python environment tools (`create_environment`, `run_code`, ...).
    #[serde(rename = "python")]
    Python,
    /// A diagnostic built-in that echoes, streams progress and waits for cancellation: end-to-end
    /// tests and operators checking a deployment turn it on (`builtin.servers`); off by default.
    #[serde(rename = "canopy-echo")]
    Echo,
}

impl BuiltinKind {
    /// Every kind this build knows. Their names are reserved in every tenant.
    pub const ALL: [BuiltinKind; 3] = [BuiltinKind::Grid, BuiltinKind::Python, BuiltinKind::Echo];

    /// The server's name in every tenant (and the kind's name in configuration).
    pub fn name(self) -> &'static str {
        match self {
            BuiltinKind::Grid => "grid",
            BuiltinKind::Python => "python",
            BuiltinKind::Echo => "canopy-echo",
        }
    }

    /// The kind whose reserved name this is, if any.
    pub fn of_server_name(name: &str) -> Option<BuiltinKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn server_name(self) -> ServerName {
        ServerName::parse(self.name()).expect("built-in names are valid server names")
    }

    /// The registration's description, as `GET /api/v0/servers` shows it.
    pub fn description(self) -> &'static str {
        match self {
            BuiltinKind::Grid => "Built-in: Jungle Grid jobs (estimate, submit, follow, cancel; logs and artifacts)",
            BuiltinKind::Python => "Built-in: sandboxed Python environments (Jumpboot's tools)",
            BuiltinKind::Echo => "Built-in: diagnostics (echo, progress, cancellation)",
        }
    }
}

impl std::fmt::Display for BuiltinKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for BuiltinKind {
    type Err = UnknownBuiltin;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::of_server_name(s).ok_or_else(|| UnknownBuiltin(s.to_string()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a built-in server; known: grid, python, canopy-echo")]
pub struct UnknownBuiltin(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_parse_serde_and_server_names() {
        for kind in BuiltinKind::ALL {
            assert_eq!(kind.name().parse::<BuiltinKind>(), Ok(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::json!(kind.name()));
            assert_eq!(kind.server_name().as_str(), kind.name());
            assert_eq!(BuiltinKind::of_server_name(kind.name()), Some(kind));
        }
        assert_eq!(BuiltinKind::of_server_name("echo"), None);
        assert!("nope".parse::<BuiltinKind>().unwrap_err().to_string().contains("grid, python"));
    }
}
