//! What an endpoint exposes and how names map between the client and the upstreams:
//! `/mcp` shows every server, names as `server__name` and resource URIs as
//! `canopy://server/<original uri>`; `/servers/{server}/mcp` shows one server under the
//! upstream's own names and URIs; `/groups/{group}/mcp` (and MCPJungle's
//! `/v0/groups/{group}/mcp`) shows a group's members under `/mcp`'s names. REST invoke, render
//! and read name things as `/mcp` does ([`Scope::All`]).

use canopy_domain::group::GroupSpec;
use canopy_domain::server::FeatureKind;
use canopy_mcp::names;

const URI_SCHEME: &str = "canopy://";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Server(String),
    Group(String),
}

impl Scope {
    /// The scope of a request path, if it is an MCP endpoint.
    pub fn from_path(path: &str) -> Option<Scope> {
        if path == "/mcp" || path == "/mcp/" {
            return Some(Scope::All);
        }
        let segment = |rest: &str| {
            let name = rest.strip_suffix("/mcp").or_else(|| rest.strip_suffix("/mcp/"))?;
            (!name.is_empty() && !name.contains('/')).then(|| name.to_string())
        };
        if let Some(rest) = path.strip_prefix("/servers/") {
            return segment(rest).map(Scope::Server);
        }
        let rest = path.strip_prefix("/groups/").or_else(|| path.strip_prefix("/v0/groups/"))?;
        segment(rest).map(Scope::Group)
    }

    /// Whether a change to `server` (or to `group:NAME`) may change what this scope shows.
    pub fn includes(&self, server: &str) -> bool {
        match self {
            Scope::All => !server.starts_with("group:"),
            Scope::Server(s) => s == server,
            Scope::Group(g) => !server.starts_with("group:") || server == format!("group:{g}"),
        }
    }

    /// Whether one item passes the scope's own filter: a group's membership rule (other scopes
    /// filter by server only). `group` is the group's current spec, if it exists.
    pub fn admits(&self, group: Option<&GroupSpec>, kind: FeatureKind, server: &str, name: &str) -> bool {
        match self {
            Scope::Group(_) => group.is_some_and(|g| g.includes(kind, server, name)),
            _ => true,
        }
    }

    /// The client-facing name of an upstream tool or prompt.
    pub fn expose(&self, server: &str, name: &str) -> String {
        match self {
            Scope::All | Scope::Group(_) => names::prefixed(server, name),
            Scope::Server(_) => name.to_string(),
        }
    }

    /// The (server, upstream name) behind a client-facing name.
    pub fn resolve<'a>(&'a self, name: &'a str) -> Option<(&'a str, &'a str)> {
        match self {
            Scope::All | Scope::Group(_) => names::split(name),
            Scope::Server(s) => Some((s.as_str(), name)),
        }
    }

    /// The client-facing URI (or URI template) of an upstream resource.
    pub fn expose_uri(&self, server: &str, uri: &str) -> String {
        match self {
            Scope::All | Scope::Group(_) => format!("{URI_SCHEME}{server}/{uri}"),
            Scope::Server(_) => uri.to_string(),
        }
    }

    /// The (server, upstream URI) behind a client-facing URI.
    pub fn resolve_uri<'a>(&'a self, uri: &'a str) -> Option<(&'a str, &'a str)> {
        match self {
            Scope::All | Scope::Group(_) => {
                uri.strip_prefix(URI_SCHEME)?.split_once('/').filter(|(s, u)| !s.is_empty() && !u.is_empty())
            }
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
        assert_eq!(Scope::from_path("/servers/fx/mcp"), Some(Scope::Server("fx".into())));
        assert_eq!(Scope::from_path("/groups/g1/mcp"), Some(Scope::Group("g1".into())));
        assert_eq!(Scope::from_path("/v0/groups/g1/mcp"), Some(Scope::Group("g1".into())));
        assert_eq!(Scope::from_path("/servers//mcp"), None);
        assert_eq!(Scope::from_path("/servers/a/b/mcp"), None);
        assert_eq!(Scope::from_path("/api/v0/tools"), None);
    }

    #[test]
    fn names_and_uris_round_trip() {
        for scope in [Scope::All, Scope::Group("g".into())] {
            let exposed = scope.expose("fx", "echo");
            assert_eq!(exposed, "fx__echo");
            assert_eq!(scope.resolve(&exposed), Some(("fx", "echo")));
            for uri in ["test://static-text", "file:///etc/hosts", "https://x.y/a?b=c#d", "test://t/{id}"] {
                let exposed = scope.expose_uri("fx", uri);
                assert_eq!(scope.resolve_uri(&exposed), Some(("fx", uri)), "{exposed}");
            }
            assert_eq!(scope.resolve_uri("test://static-text"), None);
        }
        let one = Scope::Server("fx".into());
        assert_eq!(one.expose("fx", "echo"), "echo");
        assert_eq!(one.resolve("echo"), Some(("fx", "echo")));
        assert_eq!(one.resolve_uri("test://x"), Some(("fx", "test://x")));
    }

    #[test]
    fn change_routing() {
        assert!(Scope::All.includes("fx") && !Scope::All.includes("group:g"));
        assert!(Scope::Server("fx".into()).includes("fx") && !Scope::Server("fx".into()).includes("other"));
        let g = Scope::Group("g".into());
        assert!(g.includes("fx") && g.includes("group:g") && !g.includes("group:h"));
    }
}
