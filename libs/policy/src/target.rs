//! What is asked: an [`Action`] on a [`Target`]. Targets borrow their names, so filtering a long
//! list builds no strings.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Appears in a list, or can be fetched by name (MCP `*/list`, REST list and get).
    Discover,
    /// Call a tool, render or complete a prompt, read, subscribe to or complete a resource or
    /// template; open an endpoint (`Tenant`: `/mcp`, `Server`: `/servers/{s}/mcp`, `Group`:
    /// `/groups/{g}/mcp`).
    Use,
    /// Change it: register, deregister, enable, disable, create/update/delete groups, users and
    /// clients, read the audit log; on `Platform`, create and manage tenants.
    Manage,
}

/// The thing an action is about. Names are the upstream's own (`name` of a tool is `echo`, not
/// `fx__echo`; `uri` is the upstream URI, not `canopy://fx/...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Target<'a> {
    Tool {
        server: &'a str,
        name: &'a str,
    },
    Prompt {
        server: &'a str,
        name: &'a str,
    },
    Resource {
        server: &'a str,
        uri: &'a str,
    },
    Template {
        server: &'a str,
        uri_template: &'a str,
    },
    /// An upstream server as a whole: its registration, and its own endpoint.
    Server {
        name: &'a str,
    },
    /// A group: its definition, and its endpoint.
    Group {
        name: &'a str,
    },
    /// The tenant as a whole: its users, clients and audit log, and the `/mcp` endpoint.
    Tenant,
    /// The tenant's jobs, inputs, logs and artifacts, as one of the `grid` server's tools
    /// reaches them (REST routes name the tool that does the same).
    Jobs(crate::jobs::GridTool),
    /// The deployment, above every tenant: the list of tenants, creating them. The `tenant`
    /// argument of [`decide`](crate::decide) is not consulted for it.
    Platform,
}

impl<'a> Target<'a> {
    pub fn tool(server: &'a str, name: &'a str) -> Self {
        Target::Tool { server, name }
    }

    pub fn prompt(server: &'a str, name: &'a str) -> Self {
        Target::Prompt { server, name }
    }

    pub fn resource(server: &'a str, uri: &'a str) -> Self {
        Target::Resource { server, uri }
    }

    pub fn template(server: &'a str, uri_template: &'a str) -> Self {
        Target::Template { server, uri_template }
    }

    pub fn server(name: &'a str) -> Self {
        Target::Server { name }
    }

    pub fn group(name: &'a str) -> Self {
        Target::Group { name }
    }
}
