//! The client verbs of the `canopy` binary, MCPJungle's CLI against Canopy's `/api/v0`:
//! `register`, `deregister`, `list servers|tools|prompts|resources|groups`,
//! `get server|prompt|group`, `usage`, `invoke [--group]`, `read resource`,
//! `create|update|delete group`, `enable`/`disable tool|server|prompt|resource`, `export`, and
//! enterprise mode's `init-server`, `login`, `create|update|delete user` (update: its role),
//! `create|update|delete mcp-client`, `list users|mcp-clients`, `audit`, and the platform operator's
//! `create|list|get tenant`, `suspend|resume tenant` (`tenants`: they send `operator_token`
//! from `~/.canopy.conf`); `stdio`, an endpoint bridged to stdin/stdout (`stdio`); and the jobs
//! service's `jobs estimate|submit|list|get|events|logs [--follow]|cancel|artifacts|download` and
//! `inputs upload FILE|list` (`jobs`); the python built-in's `env list|get|destroy|freeze|run`
//! (`env`).
//!
//! Layout: `client` (registry URL, access token, `~/.canopy.conf`, HTTP and error mapping), one
//! file per verb family (`servers`, `tools`, `prompts`, `resources`, `groups`, `toggles`,
//! `export`, `identities`),
//! `output` (tables, schemas, call results, prompt messages, resource contents). A new verb is
//! a variant here plus one `async fn(&Ctx, ...)` in its family's file: call
//! `ctx.registry.get/post/put/delete`, then `ctx.show(raw, |raw| text)` (the API's JSON under
//! `--json`, else the text).
//! Errors surface through `main` as `canopy: CODE: message` with exit status 1.

pub mod audit;
pub mod client;
pub mod env;
pub mod export;
pub mod groups;
pub mod identities;
pub mod jobs;
pub mod oauth;
pub mod output;
pub mod prompts;
pub mod resources;
pub mod servers;
pub mod sso;
pub mod stdio;
pub mod tenants;
pub mod toggles;
pub mod tools;

use clap::Subcommand;

/// Flags every client verb understands, before or after the verb.
#[derive(clap::Args, Debug, Default)]
pub struct GlobalArgs {
    /// Canopy registry (API) URL for client verbs; default: `registry_url` in ~/.canopy.conf,
    /// else http://127.0.0.1:8080.
    #[arg(long, global = true, value_name = "URL")]
    pub registry: Option<String>,
    /// Client verbs print the API's JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Access token for enterprise mode, sent as `Authorization: Bearer`; default:
    /// `access_token` in ~/.canopy.conf (`canopy login`). Give it before the verb
    /// (`canopy --access-token T list tools`): after `create user` / `create mcp-client`,
    /// --access-token is the new identity's token, as in MCPJungle.
    #[arg(
        long = "access-token",
        env = "CANOPY_ACCESS_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        allow_hyphen_values = true
    )]
    pub access_token: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Register an MCP server: by flags (Streamable HTTP) or -c FILE (any transport).
    Register(servers::RegisterArgs),
    /// Remove a registered MCP server; its tools disappear from every endpoint.
    Deregister {
        /// Server name.
        name: String,
    },
    /// List servers, tools, prompts, resources or groups.
    #[command(subcommand)]
    List(ListCommand),
    /// Show one entity in detail.
    #[command(subcommand)]
    Get(GetCommand),
    /// Show a tool's description and input parameters.
    Usage {
        /// Tool name, server__tool.
        name: String,
    },
    /// Call a tool through Canopy and print its result; exits 1 when the tool reports an error.
    Invoke(tools::InvokeArgs),
    /// Read a resource's contents through Canopy.
    #[command(subcommand)]
    Read(ReadCommand),
    /// Create a tool group from its JSON file.
    #[command(subcommand)]
    Create(CreateCommand),
    /// Update a tool group, an MCP client's allow lists or a user's role in place.
    #[command(subcommand)]
    Update(UpdateCommand),
    /// Delete a tool group; its endpoint stops serving.
    #[command(subcommand)]
    Delete(DeleteCommand),
    /// Print (or write) every server registration and group as one JSON document, to edit and
    /// apply again; secrets are exported as "***" placeholders.
    Export(export::ExportArgs),
    /// Enable a tool, prompt, resource, every one of a server's, or a whole server.
    #[command(subcommand)]
    Enable(Toggle),
    /// Enterprise mode, once: create the owner user `admin` and the platform operator, and save
    /// the registry URL and both tokens in ~/.canopy.conf (`access_token`, `operator_token`).
    InitServer,
    /// Save an access token (from `canopy create user`) in ~/.canopy.conf; with --registry,
    /// save that registry too. With --oauth instead of a token: sign in in the browser at
    /// Canopy's authorization server (enterprise mode) for one MCP endpoint (`--server NAME`,
    /// `--group NAME`, or all of /mcp), and save the grant, which `canopy stdio` for that
    /// endpoint then uses and refreshes.
    #[command(after_help = "Examples:\n  \
        canopy login eX_1-generated-token\n  \
        canopy login --oauth --server grid   # then: canopy stdio --server grid")]
    Login {
        /// The access token (generated ones may start with '-').
        #[arg(allow_hyphen_values = true, required_unless_present = "oauth", conflicts_with = "oauth")]
        token: Option<String>,
        /// It is a platform operator's token: save it as `operator_token`, which only the
        /// tenant verbs send.
        #[arg(long, conflicts_with = "oauth")]
        operator: bool,
        /// Sign in with OAuth (authorization code with PKCE, in the browser) instead.
        #[arg(long)]
        oauth: bool,
        /// With --oauth: print the sign-in URL only, do not try to open a browser.
        #[arg(long, requires = "oauth")]
        no_browser: bool,
        #[command(flatten)]
        endpoint: stdio::StdioArgs,
    },
    /// Serve a Canopy MCP endpoint on stdin/stdout, for clients that launch MCP servers as
    /// processes (Claude Desktop, Cursor): `--server NAME`, `--group NAME`, or all of /mcp.
    Stdio(stdio::StdioArgs),
    /// Suspend a tenant (platform operator): its users' and clients' tokens are refused.
    #[command(subcommand)]
    Suspend(TenantRef),
    /// Resume a suspended tenant (platform operator).
    #[command(subcommand)]
    Resume(TenantRef),
    /// Disable a tool, prompt, resource, every one of a server's, or a whole server: hidden
    /// from MCP clients and refused by `invoke`.
    #[command(subcommand)]
    Disable(Toggle),
    /// The tenant's audit log, newest first: admin actions and calls (owners and admins).
    Audit(audit::AuditArgs),
    /// Jobs: estimate, submit, list, get, events, logs [--follow], cancel, artifacts, download.
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
    /// Job inputs: upload FILE (with a progress line), list.
    #[command(subcommand)]
    Inputs(jobs::InputsCommand),
    /// Python environments (the python built-in): list, get, destroy, freeze, run -c CODE.
    #[command(subcommand)]
    Env(env::EnvCommand),
    /// Set the tenant's own OpenID provider, for single sign-on (owners and admins).
    #[command(subcommand)]
    Set(SetCommand),
}

#[derive(Subcommand, Debug)]
pub enum SetCommand {
    /// The tenant's OpenID provider: users then sign in to OAuth clients through it.
    IdentityProvider(sso::SetProviderArgs),
}

#[derive(Subcommand, Debug)]
pub enum TenantRef {
    /// A tenant, by id.
    Tenant {
        /// Tenant id.
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum Toggle {
    /// One tool (server__tool), or every tool of a server (server).
    Tool { name: String },
    /// A whole server: its tools, prompts and resources.
    Server { name: String },
    /// One prompt (server__prompt), or every prompt of a server (server).
    Prompt { name: String },
    /// One resource (canopy://server/<uri>), or every resource of a server (server).
    Resource { name: String },
}

#[derive(Subcommand, Debug)]
pub enum ListCommand {
    /// Registered MCP servers.
    Servers,
    /// Tools of every server, of one, or of a group.
    Tools {
        /// Only this server's tools.
        #[arg(long, conflicts_with = "group")]
        server: Option<String>,
        /// Only the tools this group's endpoint offers now.
        #[arg(long)]
        group: Option<String>,
    },
    /// Prompts of every server, or of one.
    Prompts {
        /// Only this server's prompts.
        #[arg(long)]
        server: Option<String>,
    },
    /// Resources and resource templates of every server, or of one.
    Resources {
        /// Only this server's resources.
        #[arg(long)]
        server: Option<String>,
    },
    /// Tool groups and their endpoints.
    Groups,
    /// Users of the tenant and their roles (enterprise mode; never their tokens).
    Users,
    /// MCP clients and what each may use (enterprise mode; never their tokens).
    McpClients,
    /// Tenants and their status (platform operator).
    Tenants,
    /// Applications holding an OAuth grant (admins: the tenant's; users: their own).
    OauthGrants,
}

#[derive(Subcommand, Debug)]
pub enum GetCommand {
    /// A registered server's configuration and status (secrets shown as ***).
    Server {
        /// Server name.
        name: String,
    },
    /// Render a prompt with arguments and print its messages.
    Prompt(prompts::GetPromptArgs),
    /// A tool group's rules, endpoint and the tools it offers now.
    Group {
        /// Group name.
        name: String,
    },
    /// A tenant and its status (platform operator).
    Tenant {
        /// Tenant id.
        id: String,
    },
    /// The tenant's OpenID provider for single sign-on (never its secret).
    IdentityProvider,
}

#[derive(Subcommand, Debug)]
pub enum ReadCommand {
    /// Print a resource's contents: text as it is, binary as its type and size.
    Resource(resources::ReadResourceArgs),
}

#[derive(Subcommand, Debug)]
pub enum CreateCommand {
    /// A tool group, from -c FILE (MCPJungle's group JSON); prints its endpoint.
    Group(groups::GroupFileArgs),
    /// A user (enterprise mode); prints the `canopy login` command with its token.
    User(identities::CreateUserArgs),
    /// An MCP client identity with an allow list (enterprise mode); prints its token once.
    McpClient(identities::CreateClientArgs),
    /// A tenant and its first owner (platform operator); prints the owner's token once.
    Tenant(tenants::CreateTenantArgs),
}

#[derive(Subcommand, Debug)]
pub enum UpdateCommand {
    /// A tool group, from -c FILE naming it; the file's rules replace the group's.
    Group(groups::GroupFileArgs),
    /// An MCP client's description and allow lists (its token is not changed).
    McpClient(identities::UpdateClientArgs),
    /// A user's role (enterprise mode; their token is not changed).
    User(identities::UpdateUserArgs),
}

#[derive(Subcommand, Debug)]
pub enum DeleteCommand {
    /// A tool group.
    Group {
        /// Group name.
        name: String,
    },
    /// A user; their access token stops working at once.
    User {
        /// User name.
        name: String,
    },
    /// An MCP client; its access token stops working at once.
    McpClient {
        /// MCP client name.
        name: String,
    },
    /// The tenant's OpenID provider: single sign-on ends.
    IdentityProvider,
    /// An OAuth grant (its id from `list oauth-grants`): the application must sign in again.
    OauthGrant {
        /// Grant id.
        id: String,
    },
}

/// What every verb gets: the registry and the output mode.
pub struct Ctx {
    pub registry: client::Registry,
    pub json: bool,
}

impl Ctx {
    /// Prints the API's answer: as it is under `--json`, else as `text` renders it.
    pub fn show(
        &self,
        raw: serde_json::Value,
        text: impl FnOnce(serde_json::Value) -> anyhow::Result<String>,
    ) -> anyhow::Result<()> {
        if self.json {
            println!("{}", output::json(&raw));
        } else {
            print!("{}", text(raw)?);
        }
        Ok(())
    }
}

pub async fn run(global: &GlobalArgs, command: &ClientCommand) -> anyhow::Result<()> {
    // The operator's verbs send `operator_token` from ~/.canopy.conf unless a token was given.
    let operator_verb = matches!(
        command,
        ClientCommand::Create(CreateCommand::Tenant(_))
            | ClientCommand::List(ListCommand::Tenants)
            | ClientCommand::Get(GetCommand::Tenant { .. })
            | ClientCommand::Suspend(_)
            | ClientCommand::Resume(_)
    );
    let token = match (&global.access_token, operator_verb) {
        (None, true) => tenants::operator_token()?,
        (token, _) => token.clone(),
    };
    let ctx = Ctx {
        registry: client::Registry::resolve(
            global.registry.as_deref(),
            token.as_deref(),
            client::home_dir().as_deref(),
        )?,
        json: global.json,
    };
    match command {
        ClientCommand::Register(args) => servers::register(&ctx, args).await,
        ClientCommand::Deregister { name } => servers::deregister(&ctx, name).await,
        ClientCommand::List(ListCommand::Servers) => servers::list(&ctx).await,
        ClientCommand::List(ListCommand::Tools { server, group }) => {
            tools::list(&ctx, server.as_deref(), group.as_deref()).await
        }
        ClientCommand::List(ListCommand::Prompts { server }) => prompts::list(&ctx, server.as_deref()).await,
        ClientCommand::List(ListCommand::Resources { server }) => resources::list(&ctx, server.as_deref()).await,
        ClientCommand::List(ListCommand::Groups) => groups::list(&ctx).await,
        ClientCommand::List(ListCommand::Users) => identities::list_users(&ctx).await,
        ClientCommand::List(ListCommand::McpClients) => identities::list_clients(&ctx).await,
        ClientCommand::List(ListCommand::Tenants) => tenants::list(&ctx).await,
        ClientCommand::Get(GetCommand::Tenant { id }) => tenants::get(&ctx, id).await,
        ClientCommand::Create(CreateCommand::Tenant(args)) => tenants::create(&ctx, args).await,
        ClientCommand::Suspend(TenantRef::Tenant { id }) => tenants::set_suspended(&ctx, id, true).await,
        ClientCommand::Resume(TenantRef::Tenant { id }) => tenants::set_suspended(&ctx, id, false).await,
        ClientCommand::Get(GetCommand::Server { name }) => servers::get(&ctx, name).await,
        ClientCommand::Get(GetCommand::Prompt(args)) => prompts::get(&ctx, args).await,
        ClientCommand::Get(GetCommand::Group { name }) => groups::get(&ctx, name).await,
        ClientCommand::Usage { name } => tools::usage(&ctx, name).await,
        ClientCommand::Invoke(args) => tools::invoke(&ctx, args).await,
        ClientCommand::Read(ReadCommand::Resource(args)) => resources::read(&ctx, args).await,
        ClientCommand::Create(CreateCommand::Group(args)) => groups::create(&ctx, args).await,
        ClientCommand::Create(CreateCommand::User(args)) => identities::create_user(&ctx, args).await,
        ClientCommand::Create(CreateCommand::McpClient(args)) => identities::create_client(&ctx, args).await,
        ClientCommand::Update(UpdateCommand::Group(args)) => groups::update(&ctx, args).await,
        ClientCommand::Update(UpdateCommand::McpClient(args)) => identities::update_client(&ctx, args).await,
        ClientCommand::Update(UpdateCommand::User(args)) => identities::update_user(&ctx, args).await,
        ClientCommand::Delete(DeleteCommand::Group { name }) => groups::delete(&ctx, name).await,
        ClientCommand::Delete(DeleteCommand::User { name }) => identities::delete_user(&ctx, name).await,
        ClientCommand::Delete(DeleteCommand::McpClient { name }) => identities::delete_client(&ctx, name).await,
        ClientCommand::InitServer => identities::init_server(&ctx).await,
        ClientCommand::Login { oauth: true, no_browser, endpoint, .. } => {
            let resource = stdio::endpoint(ctx.registry.base_url(), endpoint);
            let path = oauth::login(&ctx.registry, &resource, !no_browser).await?;
            if ctx.json {
                println!("{}", output::json(&serde_json::json!({"saved": path, "resource": resource})));
            } else {
                println!("Signed in; the grant for {resource} is saved in {}.", path.display());
            }
            Ok(())
        }
        ClientCommand::Login { token, operator, .. } => {
            let token = token.as_deref().unwrap_or_default();
            identities::login(&ctx, token, global.registry.as_deref(), *operator)
        }
        ClientCommand::Export(args) => export::export(&ctx, args).await,
        ClientCommand::Stdio(args) => stdio::run(&ctx.registry, args).await,
        ClientCommand::Enable(what) => toggles::toggle(&ctx, what, true).await,
        ClientCommand::Disable(what) => toggles::toggle(&ctx, what, false).await,
        ClientCommand::Audit(args) => audit::audit(&ctx, args).await,
        ClientCommand::Jobs(command) => jobs::run(&ctx, command).await,
        ClientCommand::Inputs(command) => jobs::inputs(&ctx, command).await,
        ClientCommand::Env(command) => env::run(&ctx, command).await,
        ClientCommand::Get(GetCommand::IdentityProvider) => sso::get(&ctx).await,
        ClientCommand::Set(SetCommand::IdentityProvider(args)) => sso::set(&ctx, args).await,
        ClientCommand::Delete(DeleteCommand::IdentityProvider) => sso::delete(&ctx).await,
        ClientCommand::List(ListCommand::OauthGrants) => sso::list_grants(&ctx).await,
        ClientCommand::Delete(DeleteCommand::OauthGrant { id }) => sso::revoke_grant(&ctx, id).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    /// The client half of the `canopy` command line, as `main.rs` assembles it.
    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        global: GlobalArgs,
        #[command(subcommand)]
        command: ClientCommand,
    }

    #[test]
    fn the_request_token_and_a_new_identitys_token_are_told_apart() {
        Cli::command().debug_assert();
        let cli =
            Cli::parse_from(["canopy", "--access-token", "mine", "create", "user", "bob", "--access-token", "his"]);
        assert_eq!(cli.global.access_token.as_deref(), Some("mine"));
        let ClientCommand::Create(CreateCommand::User(args)) = cli.command else { panic!("{:?}", cli.command) };
        assert_eq!((args.name.as_deref(), args.access_token.as_deref()), (Some("bob"), Some("his")));

        let cli =
            Cli::parse_from(["canopy", "create", "mcp-client", "c", "--allow", "a,b", "--allow-tool", "a__t,b__u"]);
        let ClientCommand::Create(CreateCommand::McpClient(args)) = cli.command else { panic!() };
        assert_eq!(args.allow.allow_tools, ["a__t", "b__u"]);
        // Generated tokens are base64url: they may start with '-'.
        let cli = Cli::parse_from(["canopy", "--access-token", "-eX_1", "list", "servers"]);
        assert_eq!(cli.global.access_token.as_deref(), Some("-eX_1"));
        let cli = Cli::parse_from(["canopy", "login", "-eX_1"]);
        assert!(matches!(cli.command, ClientCommand::Login { token: Some(token), .. } if token == "-eX_1"));
        let cli = Cli::parse_from(["canopy", "create", "user", "u", "--access-token", "-x"]);
        assert!(
            matches!(cli.command, ClientCommand::Create(CreateCommand::User(a)) if a.access_token.as_deref() == Some("-x"))
        );
        // -c excludes the flags it replaces; a name or a file is required.
        assert!(Cli::try_parse_from(["canopy", "create", "mcp-client", "-c", "f.json", "--allow", "x"]).is_err());
        assert!(Cli::try_parse_from(["canopy", "create", "user"]).is_err());
        assert!(Cli::try_parse_from(["canopy", "create", "user", "-c", "f.json"]).is_ok());
        // A role change names the user and one of the three roles.
        let cli = Cli::parse_from(["canopy", "update", "user", "alice", "--role", "admin"]);
        let ClientCommand::Update(UpdateCommand::User(args)) = cli.command else { panic!("{:?}", cli.command) };
        assert_eq!((args.name.as_str(), args.body()), ("alice", serde_json::json!({ "role": "admin" })));
        assert!(Cli::try_parse_from(["canopy", "update", "user", "alice"]).is_err());
        assert!(Cli::try_parse_from(["canopy", "update", "user", "alice", "--role", "boss"]).is_err());
    }
}
