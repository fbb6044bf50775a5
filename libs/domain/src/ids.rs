//! Typed identifiers. Names that reach URLs, bus subjects and tool names (`server__tool`) are
//! validated once, here, so no other layer has to.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum IdError {
    #[error("{kind} must not be empty")]
    Empty { kind: &'static str },
    #[error("{kind} '{value}' is longer than {max} characters")]
    TooLong { kind: &'static str, value: String, max: usize },
    #[error("{kind} '{value}' may only contain {allowed}")]
    BadCharacter { kind: &'static str, value: String, allowed: &'static str },
    #[error("server name '{0}' must not contain '__': it separates server and tool in 'server__tool'")]
    DoubleUnderscore(String),
    #[error("server name '{0}' must not start or end with '_'")]
    EdgeUnderscore(String),
}

/// A tenant (organisation) slug: lowercase letters, digits and `-`, at most 63 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    pub const DEFAULT: &'static str = "default";
    /// Reserved: the streams of the platform itself (its operators), never a tenant's. Tenant
    /// creation refuses it, so no tenant data can ever live under it.
    pub const PLATFORM: &'static str = "platform";

    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        const KIND: &str = "tenant id";
        if value.is_empty() {
            return Err(IdError::Empty { kind: KIND });
        }
        if value.len() > 63 {
            return Err(IdError::TooLong { kind: KIND, value, max: 63 });
        }
        if !value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(IdError::BadCharacter { kind: KIND, value, allowed: "lowercase letters, digits and '-'" });
        }
        Ok(Self(value))
    }

    pub fn default_tenant() -> Self {
        Self(Self::DEFAULT.to_string())
    }

    /// The reserved id of the platform's own streams ([`TenantId::PLATFORM`]).
    pub fn platform() -> Self {
        Self(Self::PLATFORM.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name an admin gives an upstream server; unique within a tenant; the `server` part of
/// `server__tool`. Letters, digits, `-` and `_`; no `__`; no leading or trailing `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServerName(String);

impl ServerName {
    pub const MAX_LEN: usize = 64;

    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        const KIND: &str = "server name";
        if value.is_empty() {
            return Err(IdError::Empty { kind: KIND });
        }
        if value.len() > Self::MAX_LEN {
            return Err(IdError::TooLong { kind: KIND, value, max: Self::MAX_LEN });
        }
        if !value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(IdError::BadCharacter { kind: KIND, value, allowed: "letters, digits, '-' and '_'" });
        }
        if value.contains("__") {
            return Err(IdError::DoubleUnderscore(value));
        }
        if value.starts_with('_') || value.ends_with('_') {
            return Err(IdError::EdgeUnderscore(value));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_newtype_impls {
    ($t:ty) => {
        impl TryFrom<String> for $t {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::parse(value)
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}
string_newtype_impls!(TenantId);
string_newtype_impls!(ServerName);

/// Ids of the jobs surface (`job_…`, `inp_…`, `art_…`): strings on the wire, as Jungle Grid's
/// are, so an agent that stored one keeps it. The prefix says what an id names, so a job id
/// pasted where an input id belongs is refused by its shape, before any lookup.
macro_rules! prefixed_id {
    ($(#[$doc:meta])* $t:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $t(String);

        impl $t {
            pub const PREFIX: &'static str = $prefix;
            pub const MAX_LEN: usize = 64;

            pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
                parse_prefixed(value.into(), $prefix, $kind).map(Self)
            }

            /// A fresh id from a uuid the caller generated (the domain has no randomness).
            pub fn from_uuid(uuid: uuid::Uuid) -> Self {
                Self(format!("{}{}", $prefix, uuid.simple()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        string_newtype_impls!($t);
    };
}

fn parse_prefixed(value: String, prefix: &str, kind: &'static str) -> Result<String, IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if value.len() > 64 {
        return Err(IdError::TooLong { kind, value, max: 64 });
    }
    let body_ok = value.strip_prefix(prefix).is_some_and(|body| {
        !body.is_empty() && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    if !body_ok {
        let allowed = match prefix {
            "job_" => "'job_' followed by letters, digits, '_' and '-'",
            "inp_" => "'inp_' followed by letters, digits, '_' and '-'",
            _ => "'art_' followed by letters, digits, '_' and '-'",
        };
        return Err(IdError::BadCharacter { kind, value, allowed });
    }
    Ok(value)
}

prefixed_id!(
    /// A job (one submitted workload); the id of its event stream within the tenant.
    JobId, "job_", "job id"
);
prefixed_id!(
    /// An uploaded input file or script (`upload_job_input`); the id of its stream.
    InputId, "inp_", "input id"
);
prefixed_id!(
    /// A file a job left in `/workspace/artifacts/`, collected after it ended.
    ArtifactId, "art_", "artifact id"
);

/// A job-poller instance that claims jobs. Reports carry it with the attempt number, so the
/// events say which process ran which attempt.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RunnerId(String);

impl RunnerId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        const KIND: &str = "runner id";
        if value.is_empty() {
            return Err(IdError::Empty { kind: KIND });
        }
        if value.len() > Self::MAX_LEN {
            return Err(IdError::TooLong { kind: KIND, value, max: Self::MAX_LEN });
        }
        if !value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)) {
            return Err(IdError::BadCharacter { kind: KIND, value, allowed: "letters, digits, '-', '_', '.' and ':'" });
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_newtype_impls!(RunnerId);

/// One registration of a server. A forced re-registration gets a new id, so caches and open
/// upstream connections of the previous registration can tell they are stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServerId(pub uuid::Uuid);

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_server(name: &str, ok: bool) {
        assert_eq!(ServerName::parse(name).is_ok(), ok, "{name}");
    }

    #[test]
    fn server_names() {
        for good in ["a", "calculator", "my-server", "my_server", "S3", "a-b_c9"] {
            check_server(good, true);
        }
        for bad in ["", "a__b", "a_", "_a", "a b", "a.b", "a/b", "ünï", &"x".repeat(65)] {
            check_server(bad, false);
        }
    }

    #[test]
    fn server_name_errors_say_why() {
        assert_eq!(
            ServerName::parse("a__b").unwrap_err().to_string(),
            "server name 'a__b' must not contain '__': it separates server and tool in 'server__tool'"
        );
    }

    #[test]
    fn tenant_ids() {
        assert!(TenantId::parse("acme-01").is_ok());
        assert!(TenantId::parse("Acme").is_err());
        assert!(TenantId::parse("a.b").is_err());
        assert!(TenantId::parse("").is_err());
    }

    #[test]
    fn prefixed_ids() {
        for (value, ok) in [
            ("job_123", true),
            ("job_a-b_C", true),
            ("job_", false),
            ("inp_123", false),
            ("job_a b", false),
            ("job_a/b", false),
            ("", false),
        ] {
            assert_eq!(JobId::parse(value).is_ok(), ok, "{value}");
        }
        assert!(JobId::parse(format!("job_{}", "x".repeat(61))).is_err(), "at most 64 characters");
        assert!(InputId::parse("inp_script123").is_ok() && InputId::parse("job_1").is_err());
        assert!(ArtifactId::parse("art_123").is_ok() && ArtifactId::parse("inp_1").is_err());
        let id = JobId::from_uuid(uuid::Uuid::from_u128(1));
        assert_eq!(id.as_str(), "job_00000000000000000000000000000001");
        assert_eq!(JobId::parse(id.as_str()), Ok(id));
        assert_eq!(
            InputId::parse("job_1").unwrap_err().to_string(),
            "input id 'job_1' may only contain 'inp_' followed by letters, digits, '_' and '-'"
        );
    }

    #[test]
    fn prefixed_ids_are_strings_on_the_wire() {
        let id: JobId = serde_json::from_str("\"job_123\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"job_123\"");
        assert!(serde_json::from_str::<ArtifactId>("\"job_123\"").is_err());
        assert!(RunnerId::parse("poller-1.host:42").is_ok());
        assert!(RunnerId::parse("a b").is_err() && RunnerId::parse("").is_err());
    }

    #[test]
    fn serde_validates() {
        assert!(serde_json::from_str::<ServerName>("\"a__b\"").is_err());
        let n: ServerName = serde_json::from_str("\"ok\"").unwrap();
        assert_eq!(n.as_str(), "ok");
    }
}
