//! An MCP client's allow list: which servers, groups and single tools it may see and use.

use crate::target::Target;
use crate::view::TenantView;
use canopy_domain::server::FeatureKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// MCPJungle's `allowed_servers`, extended with groups and single tools. Empty admits nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowList {
    /// Server names; [`AllowList::EVERY_SERVER`] (`"*"`) admits every server, including ones
    /// registered later.
    #[serde(default)]
    pub servers: BTreeSet<String>,
    /// Group names: the members of each group, as its spec says now.
    #[serde(default)]
    pub groups: BTreeSet<String>,
    /// Single tools, as `server__tool`.
    #[serde(default)]
    pub tools: BTreeSet<String>,
}

/// The allow list an MCP client aggregate records.
impl From<&canopy_domain::identity::AllowSpec> for AllowList {
    fn from(spec: &canopy_domain::identity::AllowSpec) -> Self {
        AllowList {
            servers: spec.servers.iter().cloned().collect(),
            groups: spec.groups.iter().cloned().collect(),
            tools: spec.tools.iter().cloned().collect(),
        }
    }
}

impl AllowList {
    pub const EVERY_SERVER: &'static str = "*";

    /// `servers: ["*"]`: everything in the tenant, now and later.
    pub fn everything() -> Self {
        AllowList { servers: [Self::EVERY_SERVER.to_string()].into(), ..Self::default() }
    }

    /// Whether the whole server is admitted (listed, or `"*"`).
    pub fn admits_server(&self, server: &str) -> bool {
        self.servers.contains(Self::EVERY_SERVER) || self.servers.contains(server)
    }

    /// Whether the client may see a group and open its endpoint: listed, or `"*"` in servers
    /// (every member of every group is admitted then anyway).
    pub fn admits_group(&self, group: &str) -> bool {
        self.servers.contains(Self::EVERY_SERVER) || self.groups.contains(group)
    }

    /// Whether `target` is within the list. Tools: their server, a group they belong to, or the
    /// tool by name. Prompts, resources and templates: their server or a group they belong to.
    /// Servers and groups: see [`admits_server`](Self::admits_server) and
    /// [`admits_group`](Self::admits_group); partial access to a server (single tools, group
    /// members) does not open the server's own endpoint. The tenant: always (its `/mcp` shows
    /// what the list admits). The platform: never.
    pub fn admits(&self, target: &Target<'_>, view: &TenantView) -> bool {
        match *target {
            Target::Tool { server, name } => {
                self.admits_server(server)
                    || self.lists_tool(server, name)
                    || self.in_allowed_group(view, FeatureKind::Tool, server, name)
            }
            Target::Prompt { server, name } => {
                self.admits_server(server) || self.in_allowed_group(view, FeatureKind::Prompt, server, name)
            }
            Target::Resource { server, uri: name } | Target::Template { server, uri_template: name } => {
                self.admits_server(server) || self.in_allowed_group(view, FeatureKind::Resource, server, name)
            }
            Target::Server { name } => self.admits_server(name),
            Target::Group { name } => self.admits_group(name),
            Target::Jobs(tool) => {
                let (server, name) = (crate::jobs::GRID_SERVER, tool.name());
                self.admits_server(server)
                    || self.lists_tool(server, name)
                    || self.in_allowed_group(view, FeatureKind::Tool, server, name)
            }
            Target::Tenant => true,
            Target::Platform => false,
        }
    }

    fn lists_tool(&self, server: &str, name: &str) -> bool {
        // Server names never contain `__`, so the first `__` is the separator.
        self.tools.iter().any(|t| t.split_once("__") == Some((server, name)))
    }

    fn in_allowed_group(&self, view: &TenantView, kind: FeatureKind, server: &str, name: &str) -> bool {
        self.groups.iter().any(|g| view.group(g).is_some_and(|spec| spec.includes(kind, server, name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_domain::group::GroupSpec;

    fn list(servers: &[&str], groups: &[&str], tools: &[&str]) -> AllowList {
        let set = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        AllowList { servers: set(servers), groups: set(groups), tools: set(tools) }
    }

    fn servers(names: &[&str]) -> GroupSpec {
        GroupSpec { included_servers: names.iter().map(|s| s.to_string()).collect(), ..GroupSpec::default() }
    }

    /// (target, admitted) pairs checked against one list and view.
    fn check(allow: &AllowList, view: &TenantView, cases: &[(Target<'_>, bool)]) {
        for (target, expected) in cases {
            assert_eq!(allow.admits(target, view), *expected, "{target:?} with {allow:?}");
        }
    }

    #[test]
    fn star_admits_every_server_including_future_ones_and_every_group() {
        let view = TenantView::new();
        check(
            &AllowList::everything(),
            &view,
            &[
                (Target::tool("registered-tomorrow", "anything"), true),
                (Target::prompt("x", "p"), true),
                (Target::resource("x", "file:///etc/hosts"), true),
                (Target::template("x", "file:///{path}"), true),
                (Target::server("never-seen"), true),
                (Target::group("any-group"), true),
                (Target::Tenant, true),
                (Target::Platform, false),
            ],
        );
        // "*" is a server wildcard only: in groups or tools it is a name like any other.
        check(
            &list(&[], &["*"], &["*"]),
            &view,
            &[(Target::tool("x", "t"), false), (Target::server("x"), false), (Target::group("g"), false)],
        );
    }

    #[test]
    fn empty_list_admits_only_the_tenant() {
        check(
            &AllowList::default(),
            &TenantView::new().with_group("g", servers(&["x"])),
            &[
                (Target::tool("x", "t"), false),
                (Target::server("x"), false),
                (Target::group("g"), false),
                (Target::Tenant, true),
            ],
        );
    }

    #[test]
    fn single_tools_admit_that_tool_only() {
        let allow = list(&[], &[], &["time__now", "fs__read__file"]);
        check(
            &allow,
            &TenantView::new(),
            &[
                (Target::tool("time", "now"), true),
                (Target::tool("time", "convert"), false),
                (Target::tool("fs", "read__file"), true), // tool names may contain `__`
                (Target::tool("fs__read", "file"), false),
                (Target::prompt("time", "now"), false),
                (Target::resource("time", "now"), false),
                (Target::server("time"), false),
                (Target::tool("timex", "now"), false),
            ],
        );
    }

    #[test]
    fn listed_server_admits_all_its_items_and_only_its_items() {
        check(
            &list(&["github"], &[], &[]),
            &TenantView::new(),
            &[
                (Target::tool("github", "t"), true),
                (Target::prompt("github", "p"), true),
                (Target::resource("github", "repo://readme"), true),
                (Target::template("github", "repo://{path}"), true),
                (Target::server("github"), true),
                (Target::tool("github-enterprise", "t"), false),
                (Target::server("git"), false),
            ],
        );
    }

    #[test]
    fn groups_follow_their_current_spec() {
        let allow = list(&[], &["triage"], &[]);
        let jira = Target::tool("jira", "search");
        let time = Target::tool("time", "now");

        let v1 = TenantView::new().with_group("triage", servers(&["jira"]));
        check(&allow, &v1, &[(jira, true), (time, false), (Target::group("triage"), true)]);

        // The group is updated: its members change for the client at once.
        let v2 = TenantView::new().with_group("triage", servers(&["time"]));
        check(&allow, &v2, &[(jira, false), (time, true)]);

        // The group is deleted: nothing through it (its name stays allowed, for when it returns).
        let v3 = TenantView::new();
        check(&allow, &v3, &[(jira, false), (time, false), (Target::group("triage"), true)]);

        // Another group containing the item does not help: only the allowed group counts.
        let v4 = TenantView::new().with_group("ops", servers(&["jira"]));
        check(&allow, &v4, &[(jira, false), (Target::group("ops"), false)]);
    }

    #[test]
    fn group_exclusions_apply_to_clients() {
        let spec = GroupSpec {
            included_servers: vec!["jira".into()],
            included_tools: vec!["time__now".into()],
            excluded_tools: vec!["jira__delete_issue".into(), "time__now".into()],
            excluded_prompts: vec!["jira__internal".into()],
            included_resources: vec!["canopy://fs/file:///a".into()],
            excluded_resources: vec!["canopy://jira/jira://secret".into()],
            ..GroupSpec::default()
        };
        let view = TenantView::new().with_group("triage", spec);
        check(
            &list(&[], &["triage"], &[]),
            &view,
            &[
                (Target::tool("jira", "search"), true),
                (Target::tool("jira", "delete_issue"), false),
                (Target::tool("time", "now"), false), // exclusion is applied last
                (Target::prompt("jira", "summary"), true),
                (Target::prompt("jira", "internal"), false),
                (Target::resource("jira", "jira://board"), true),
                (Target::resource("jira", "jira://secret"), false),
                (Target::template("jira", "jira://issue/{id}"), true),
                (Target::resource("fs", "file:///a"), true),
                (Target::resource("fs", "file:///b"), false),
                // A group's members do not open their servers' own endpoints.
                (Target::server("jira"), false),
            ],
        );
        // A single tool listed beside the group is admitted even though the group excludes it.
        check(&list(&[], &["triage"], &["jira__delete_issue"]), &view, &[(Target::tool("jira", "delete_issue"), true)]);
    }
}
