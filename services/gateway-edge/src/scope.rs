//! What an MCP endpoint exposes and how names map between the client and the upstreams:
//! `/mcp` shows every server, names as `server__name` and resource URIs as
//! `canopy://server/<original uri>`; `/servers/{server}/mcp` shows one server under the
//! upstream's own names and URIs.

use crate::cache::CachedServer;
use crate::CatalogCache;
use canopy_mcp::names;
use std::sync::Arc;

const URI_SCHEME: &str = "canopy://";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Server(String),
}

impl Scope {
    /// The scope of a request path, if it is an MCP endpoint.
    pub fn from_path(path: &str) -> Option<Scope> {
        if path == "/mcp" || path == "/mcp/" {
            return Some(Scope::All);
        }
        let rest = path.strip_prefix("/servers/")?;
        let server = rest
            .strip_suffix("/mcp")
            .or_else(|| rest.strip_suffix("/mcp/"))?;
        (!server.is_empty() && !server.contains('/')).then(|| Scope::Server(server.to_string()))
    }

    pub fn includes(&self, server: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Server(s) => s == server,
        }
    }

    /// The enabled servers visible through this scope, in name order.
    pub fn servers(&self, cache: &CatalogCache, tenant: &str) -> Vec<Arc<CachedServer>> {
        let all = match self {
            Scope::All => cache.servers(tenant),
            Scope::Server(s) => cache.server(tenant, s).into_iter().collect(),
        };
        all.into_iter().filter(|s| s.state.enabled).collect()
    }

    /// The client-facing name of an upstream tool or prompt.
    pub fn expose(&self, server: &str, name: &str) -> String {
        match self {
            Scope::All => names::prefixed(server, name),
            Scope::Server(_) => name.to_string(),
        }
    }

    /// The (server, upstream name) behind a client-facing name.
    pub fn resolve<'a>(&'a self, name: &'a str) -> Option<(&'a str, &'a str)> {
        match self {
            Scope::All => names::split(name),
            Scope::Server(s) => Some((s.as_str(), name)),
        }
    }

    /// The client-facing URI (or URI template) of an upstream resource.
    pub fn expose_uri(&self, server: &str, uri: &str) -> String {
        match self {
            Scope::All => format!("{URI_SCHEME}{server}/{uri}"),
            Scope::Server(_) => uri.to_string(),
        }
    }

    /// The (server, upstream URI) behind a client-facing URI.
    pub fn resolve_uri<'a>(&'a self, uri: &'a str) -> Option<(&'a str, &'a str)> {
        match self {
            Scope::All => uri
                .strip_prefix(URI_SCHEME)?
                .split_once('/')
                .filter(|(s, u)| !s.is_empty() && !u.is_empty()),
            Scope::Server(s) => Some((s.as_str(), uri)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(Scope::from_path("/mcp"), Some(Scope::All));
        assert_eq!(
            Scope::from_path("/servers/fx/mcp"),
            Some(Scope::Server("fx".into()))
        );
        assert_eq!(Scope::from_path("/servers//mcp"), None);
        assert_eq!(Scope::from_path("/servers/a/b/mcp"), None);
        assert_eq!(Scope::from_path("/api/v0/tools"), None);
    }

    #[test]
    fn names_and_uris_round_trip() {
        let all = Scope::All;
        let exposed = all.expose("fx", "echo");
        assert_eq!(exposed, "fx__echo");
        assert_eq!(all.resolve(&exposed), Some(("fx", "echo")));
        for uri in [
            "test://static-text",
            "file:///etc/hosts",
            "https://x.y/a?b=c#d",
            "test://t/{id}",
        ] {
            let exposed = all.expose_uri("fx", uri);
            assert_eq!(all.resolve_uri(&exposed), Some(("fx", uri)), "{exposed}");
        }
        assert_eq!(all.resolve_uri("test://static-text"), None);
        let one = Scope::Server("fx".into());
        assert_eq!(one.expose("fx", "echo"), "echo");
        assert_eq!(one.resolve("echo"), Some(("fx", "echo")));
        assert_eq!(one.resolve_uri("test://x"), Some(("fx", "test://x")));
    }
}
