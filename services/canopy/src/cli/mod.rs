//! The client verbs of the `canopy` binary, MCPJungle's CLI against Canopy's `/api/v0`:
//! `register`, `deregister`, `list servers|tools|prompts|resources|groups`,
//! `get server|prompt|group`, `usage`, `invoke [--group]`, `read resource`,
//! `create|update|delete group`, `enable`/`disable tool|server|prompt|resource`, `export`.
//!
//! Layout: `client` (registry URL, `~/.canopy.conf`, HTTP and error mapping), one file per
//! verb family (`servers`, `tools`, `prompts`, `resources`, `groups`, `toggles`, `export`),
//! `output` (tables, schemas, call results, prompt messages, resource contents). A new verb is
//! a variant here plus one `async fn(&Ctx, ...)` in its family's file: call
//! `ctx.registry.get/post/put/delete`, then `ctx.show(raw, |raw| text)` (the API's JSON under
//! `--json`, else the text).
//! Errors surface through `main` as `canopy: CODE: message` with exit status 1.

pub mod client;
pub mod export;
pub mod groups;
pub mod output;
pub mod prompts;
pub mod resources;
pub mod servers;
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
    /// Update a tool group in place from its JSON file.
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
    /// Disable a tool, prompt, resource, every one of a server's, or a whole server: hidden
    /// from MCP clients and refused by `invoke`.
    #[command(subcommand)]
    Disable(Toggle),
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
}

#[derive(Subcommand, Debug)]
pub enum UpdateCommand {
    /// A tool group, from -c FILE naming it; the file's rules replace the group's.
    Group(groups::GroupFileArgs),
}

#[derive(Subcommand, Debug)]
pub enum DeleteCommand {
    /// A tool group.
    Group {
        /// Group name.
        name: String,
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
    let ctx = Ctx {
        registry: client::Registry::resolve(global.registry.as_deref(), client::home_dir().as_deref())?,
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
        ClientCommand::Get(GetCommand::Server { name }) => servers::get(&ctx, name).await,
        ClientCommand::Get(GetCommand::Prompt(args)) => prompts::get(&ctx, args).await,
        ClientCommand::Get(GetCommand::Group { name }) => groups::get(&ctx, name).await,
        ClientCommand::Usage { name } => tools::usage(&ctx, name).await,
        ClientCommand::Invoke(args) => tools::invoke(&ctx, args).await,
        ClientCommand::Read(ReadCommand::Resource(args)) => resources::read(&ctx, args).await,
        ClientCommand::Create(CreateCommand::Group(args)) => groups::create(&ctx, args).await,
        ClientCommand::Update(UpdateCommand::Group(args)) => groups::update(&ctx, args).await,
        ClientCommand::Delete(DeleteCommand::Group { name }) => groups::delete(&ctx, name).await,
        ClientCommand::Export(args) => export::export(&ctx, args).await,
        ClientCommand::Enable(what) => toggles::toggle(&ctx, what, true).await,
        ClientCommand::Disable(what) => toggles::toggle(&ctx, what, false).await,
    }
}
