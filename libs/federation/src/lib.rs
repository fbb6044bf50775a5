//! Jumpboot's federation (`shared/seeds/jumpboot-mcp-readme.md`, "Server Federation (mDNS)"),
//! the parts that are not Canopy's registrations: the mDNS side ([`Mdns`], over the `mdns-sd`
//! crate) and the rules that name and describe a discovered server, shared by the api (which
//! registers discoveries: `canopy_api::federation`) and the session-worker (whose `python`
//! built-in lists them: `list_servers`).
//!
//! - **What is announced**: the service type `_jumpboot-mcp._tcp` (`SERVICE_TYPE`), an instance
//!   name (the host name unless configured), the SRV record's port (the public URL's) and the
//!   addresses of the interfaces mDNS is bound to, and Jumpboot's TXT keys: `endpoint` (the full
//!   URL of the MCP endpoint a discoverer connects to; Canopy's is its `python` server,
//!   `<public base>/servers/python/mcp`), `tls` (`true`/`false`) and `note` (free text).
//! - **What a discoverer takes**: the instance name (from the service's full name, unescaped),
//!   and the TXT keys; an instance without `endpoint` is reached as Jumpboot would, at
//!   `http(s)://<address>:<port>/mcp`. An endpoint that is not an http(s) URL is ignored.
//! - **Names**: a discovered server is registered under [`server_name`] of its instance:
//!   lowercased, every character a server name does not allow (and `_`, so no `__` can appear)
//!   turned into `-`, runs of `-` made one, at most [`NAME_BASE_MAX`] bytes, `jumpboot` if
//!   nothing is left. When that name is taken (by a server that did not come from discovery, a
//!   built-in, or another instance that sanitises to the same name), [`candidate_names`] gives
//!   `name-2`, `name-3`, ... in order.
//! - **Provenance**: a discovered server's description is [`description`]`(instance, note)`,
//!   `mDNS federation: instance "gpu-server", note "GPU server for ML"` (both JSON strings), so an
//!   admin sees in every server list where it came from and what its note says, and
//!   [`parse_description`] gives both back to whoever lists them. It is the registration's own
//!   text, in the event log like any registration, so it survives restarts and `canopy rebuild`,
//!   and needs no table of its own. A server registered by hand with such a description is
//!   treated as a discovered one of that instance; its tenant's admins wrote it.
//! - **Interfaces**: [`Mdns::start`] with names binds mDNS to those interfaces only (every
//!   other one is disabled before anything is announced or browsed); with none, to every
//!   interface mdns-sd finds (loopback included). mdns-sd's daemon thread joins the multicast
//!   group on every interface when it starts, just before the selection reaches it: it sends
//!   no mDNS query or answer on those, only the kernel's IGMP membership report.

mod mdns;

pub use mdns::{Announcement, Browse, Discovered, Event, Mdns};

/// Jumpboot's mDNS service type (with mdns-sd's domain).
pub const SERVICE_TYPE: &str = "_jumpboot-mcp._tcp.local.";

/// The longest name [`server_name`] gives, leaving room for a `-NN` suffix within the 64 bytes
/// of a server name.
pub const NAME_BASE_MAX: usize = 56;

/// How many names [`candidate_names`] tries before giving up on an instance.
pub const CANDIDATES: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    #[error("python.federation.interfaces: there is no network interface named '{0}' on this host")]
    NoInterface(String),
    #[error("mDNS: {0}")]
    Mdns(String),
}

impl From<mdns_sd::Error> for FederationError {
    fn from(e: mdns_sd::Error) -> Self {
        FederationError::Mdns(e.to_string())
    }
}

const DESCRIPTION_PREFIX: &str = "mDNS federation: instance ";
const NOTE_SEPARATOR: &str = ", note ";

/// The description of a server discovered as `instance` with `note`.
pub fn description(instance: &str, note: &str) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    format!("{DESCRIPTION_PREFIX}{}{NOTE_SEPARATOR}{}", quote(instance), quote(note))
}

/// The instance and note of a [`description`]; `None` for any other description.
pub fn parse_description(description: &str) -> Option<(String, String)> {
    let rest = description.strip_prefix(DESCRIPTION_PREFIX)?;
    let (instance, rest) = json_string(rest)?;
    let (note, rest) = json_string(rest.strip_prefix(NOTE_SEPARATOR)?)?;
    rest.is_empty().then_some((instance, note))
}

/// A JSON string at the start of `text`, and what follows it.
fn json_string(text: &str) -> Option<(String, &str)> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<String>();
    let value = stream.next()?.ok()?;
    Some((value, &text[stream.byte_offset()..]))
}

/// The server name an instance is registered under first (see the module's "Names").
pub fn server_name(instance: &str) -> String {
    let mut name = String::with_capacity(instance.len());
    for c in instance.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if c == '-' && (name.is_empty() || name.ends_with('-')) {
            continue;
        }
        if c != '-' && name.len() >= NAME_BASE_MAX {
            break;
        }
        name.push(c);
    }
    while name.ends_with('-') {
        name.pop();
    }
    if name.is_empty() {
        "jumpboot".into()
    } else {
        name
    }
}

/// The names an instance may be registered under, in order: [`server_name`], then `-2`, `-3`, ...
pub fn candidate_names(instance: &str) -> impl Iterator<Item = String> {
    let base = server_name(instance);
    (1..=CANDIDATES).map(move |n| if n == 1 { base.clone() } else { format!("{base}-{n}") })
}

/// This host's name (the default instance name), or `canopy` if it has none.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..end]) {
        Ok(name) if rc == 0 && !name.trim().is_empty() => name.trim().to_string(),
        _ => "canopy".into(),
    }
}

/// Whether `endpoint` is an http(s) URL with a host, as a discovered server's must be.
pub fn valid_endpoint(endpoint: &str) -> bool {
    match url::Url::parse(endpoint) {
        Ok(u) => matches!(u.scheme(), "http" | "https") && u.host().is_some(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_round_trip_and_others_are_not_discoveries() {
        for (instance, note) in [("gpu-server", "GPU server for ML"), ("a \"b\", note \"c\"", ""), ("é.\\x", "[x]")] {
            let d = description(instance, note);
            assert_eq!(parse_description(&d), Some((instance.to_string(), note.to_string())), "{d}");
        }
        assert_eq!(
            description("gpu-server", "GPU server for ML"),
            r#"mDNS federation: instance "gpu-server", note "GPU server for ML""#
        );
        assert_eq!(parse_description("fixture"), None);
        assert_eq!(parse_description(r#"mDNS federation: instance "x", note "y" and more"#), None);
        assert_eq!(parse_description(r#"mDNS federation: instance "x"#), None);
    }

    #[test]
    fn instance_names_become_valid_server_names() {
        assert_eq!(server_name("gpu-server"), "gpu-server");
        assert_eq!(server_name("Rich's MacBook Pro"), "rich-s-macbook-pro");
        assert_eq!(server_name("a__b"), "a-b");
        assert_eq!(server_name("_x_"), "x");
        assert_eq!(server_name("..."), "jumpboot");
        assert_eq!(server_name("Ünïcode"), "n-code");
        let long = "x".repeat(300);
        assert_eq!(server_name(&long).len(), NAME_BASE_MAX);
        let names: Vec<String> = candidate_names("GPU").take(3).collect();
        assert_eq!(names, ["gpu", "gpu-2", "gpu-3"]);
        for name in candidate_names(&long).chain(candidate_names("Rich's MacBook Pro")) {
            assert!(name.len() <= 64 && !name.contains("__") && !name.starts_with('-'), "{name}");
            assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'), "{name}");
        }
    }

    #[test]
    fn endpoints_must_be_http_urls() {
        assert!(valid_endpoint("http://10.0.0.1:8080/mcp"));
        assert!(valid_endpoint("https://gpu.local/servers/python/mcp"));
        assert!(!valid_endpoint("file:///etc/passwd"));
        assert!(!valid_endpoint("not a url"));
    }
}
