//! The one access-policy engine of Canopy. Every path that shows or uses a tenant's tools,
//! prompts, resources and templates asks [`decide`] (or [`filter`]) and nothing else: the MCP
//! endpoints (`/mcp`, `/servers/{s}/mcp`, `/groups/{g}/mcp`), REST list/get/invoke/render/read,
//! and the CLI through REST. MCPJungle checks its ACL on one path only (REST invoke ignores it;
//! prompt and resource lists are unfiltered); with one function for all paths, Canopy cannot
//! disagree with itself. Pure: no I/O; the caller passes what the decision needs.
//!
//! # The question
//!
//! May a [`Principal`] do an [`Action`] (`Discover`: listed or fetched by name; `Use`: call,
//! render, read, complete, subscribe, open an endpoint; `Manage`: change) to a [`Target`] (tool,
//! prompt, resource, template, server, group, the tenant, the platform) in a tenant? The answer
//! is a [`Decision`]: `Allow`, or `Deny` with a [`Denial`].
//!
//! # The rules
//!
//! - **Tenants are walls.** Anything of a tenant the principal does not belong to is `NotFound`,
//!   for every principal, owners included: guessing another tenant's server, group, tool or
//!   resource names answers exactly like a name that exists nowhere.
//! - **The operator** creates tenants and manages the platform, and sees nothing inside a tenant
//!   (`NotFound`, the tenant itself included). The platform is the operator's alone: anyone else
//!   asking about it is `Forbidden`.
//! - **Owners and admins** discover, use and manage everything in their tenant: servers, groups,
//!   enable/disable, users, clients, audit.
//! - **Members** discover and use everything in their tenant; `Manage` is `Forbidden`.
//! - **Clients** (MCP client identities) discover and use only what their [`AllowList`] admits:
//!   an item whose server is listed (`"*"` lists every server, including future ones), that
//!   belongs to a listed group (by the group's current spec, [`GroupSpec::includes`], exclusions
//!   applied last), or, for tools, that is listed as `server__tool`. Anything else is `NotFound`,
//!   so lists are filtered and names are not confirmed. A client may open a server's endpoint if
//!   the server is listed, a group's endpoint if the group is listed (or servers has `"*"`), and
//!   `/mcp` always (it shows what the list admits). `Manage` of something it can see is
//!   `Forbidden`.
//! - **Development** (the one principal of development mode) does everything in the `default`
//!   tenant and nothing elsewhere.
//! - **Scopes** narrow, never widen: after the rules above allow, the token must carry the
//!   scope of [`scope_needed`] (`mcp:tools`, `mcp:prompts`, `mcp:resources` for the items,
//!   `canopy:admin` for `Manage`; a built-in server's tool needs its own scope instead of
//!   `mcp:tools`, see [`builtin_tool_scope`]), or the answer is `InsufficientScope`. Static
//!   tokens carry [`Scopes::all`].
//! - **Denials say no more than the principal may know**: `NotFound` before `Forbidden` before
//!   `InsufficientScope`. `InsufficientScope` only when more scope would actually allow.
//! - `Discover` and `Use` are decided alike today; callers still say which they mean, so audit
//!   records are exact and a see-but-not-call rule would need no caller changed.
//!
//! - **Jobs** ([`Target::Jobs`] with the [`GridTool`] doing it): the tenant's jobs, inputs, logs
//!   and artifacts are all its members' (no per-job owner); a client needs the `grid` server, or
//!   the tool as `grid__NAME`, or a group holding it, in its allow list; an OAuth token needs
//!   Jungle Grid's scope for the tool ([`GridTool::scope`]). Another tenant's job is `NotFound`.
//!
//! Not policy, and decided elsewhere: whether an item exists and is enabled (the catalog: a
//! disabled item is unknown for `Use` on every path), and which items an endpoint shows by its own
//! nature (a group endpoint shows the group's members; a server endpoint, that server's items).
//!
//! # How services call it
//!
//! Authentication builds the [`Principal`] (development mode: [`Principal::development`]). The
//! caller passes the tenant it is about to read, and a [`TenantView`] with that tenant's groups
//! (for clients; the groups in their allow list are enough). Ask before looking the item up, and
//! answer a `NotFound` denial with the very same error as an unknown name.
//!
//! - **Opening an endpoint**: `/mcp` is `Use` of [`Target::Tenant`], `/servers/{s}/mcp` is `Use`
//!   of `Target::Server`, `/groups/{g}/mcp` (and `/v0/groups/{g}/mcp`) is `Use` of
//!   `Target::Group`. A denied endpoint answers 404, as for an unknown server or group.
//! - **Lists** (`tools/list`, `prompts/list`, `resources/list`, `resources/templates/list`, REST
//!   `GET /tools` ...): the endpoint's own selection (a group's members, one server's items), then
//!   [`filter`] (or [`retain`]) with `Discover`. On a group endpoint, a client allowed the group
//!   sees its members because each member is admitted through that group, and still only those:
//!   every member is checked one by one, never the group as a whole.
//! - **By name** (`tools/call`, `prompts/get`, `resources/read`, `completion/complete`,
//!   `resources/subscribe`, REST invoke/render/read, a REST `get`): `decide` with `Use` (or
//!   `Discover` for a REST get) on the item, after the endpoint's own check (is it in this
//!   group?). REST `invoke --group g` is `Use` of the group and `Use` of the tool.
//! - **Management** (REST register, deregister, enable, disable, groups, users, clients, audit):
//!   `decide` with `Manage` on the server, group, item or [`Target::Tenant`]; tenant creation is
//!   `Manage` of [`Target::Platform`].
//! - **Errors**: `NotFound` as an unknown name (REST `NOT_FOUND`, MCP the same error as an
//!   unknown tool); `Forbidden` as REST `FORBIDDEN` (403) with the reason's text;
//!   `InsufficientScope` as 403 with `WWW-Authenticate: Bearer error="insufficient_scope",
//!   scope="..."` on HTTP, so OAuth clients can step up. A list needing a scope the token lacks
//!   is empty; an endpoint that prefers to say so checks [`scope_needed`] first.
//!
//! [`GroupSpec::includes`]: canopy_domain::group::GroupSpec::includes

mod allow;
mod builtin;
mod decide;
mod decision;
mod jobs;
mod principal;
mod target;
mod view;

pub use allow::AllowList;
pub use builtin::{builtin_tool_scope, BUILTIN_SCOPES};
pub use decide::{decide, filter, retain, scope_needed};
pub use decision::{Decision, Denial, ForbiddenReason};
pub use jobs::{GridTool, GRID_SERVER, JOBS_ESTIMATE, JOBS_READ, JOBS_SUBMIT, LOGS_READ};
pub use principal::{Principal, PrincipalKind, Role, Scopes};
pub use target::{Action, Target};
pub use view::TenantView;
