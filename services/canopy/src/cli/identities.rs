//! Enterprise-mode verbs, MCPJungle's: `init-server` (creates the owner `admin` and the platform
//! operator, saves the registry and both tokens in `~/.canopy.conf`: `access_token`, which every
//! verb sends, and `operator_token`, which the tenant verbs send), `login [--operator] TOKEN`,
//! `create|delete user`,
//! `create|update|delete mcp-client`, `list users|mcp-clients`.
//!
//! Tokens: a generated one is printed once, when it is created (the API never shows it again);
//! a custom one is taken from `--access-token`, or, with `-c FILE`, from the file's
//! `access_token` or `access_token_ref` (`{"env": "VAR"}` or `{"file": "/path"}`), and is then
//! required (as in MCPJungle: a generated token could not be handed to whoever wrote the file).

use super::client::{home_dir, ClientConfig, CONF_FILE};
use super::output;
use super::servers::decode;
use super::Ctx;
use anyhow::Context;
use canopy_api_types::{CreatedMcpClient, CreatedUser, McpClientView, UserView};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

pub async fn init_server(ctx: &Ctx) -> anyhow::Result<()> {
    // Where the token goes is settled first: the server shows it only once.
    let home = home_dir().ok_or_else(|| {
        anyhow::anyhow!("init-server saves the owner's access token in ~/{CONF_FILE}, but $HOME is not set")
    })?;
    let raw = ctx.registry.post(&["init-server"], &[], &Value::Null).await?;
    let created: CreatedUser = decode(raw.clone())?;
    let token = created.access_token.as_deref().context("the registry answered no access token")?;
    // A registry from before operators answers none.
    let operator_token = raw.get("operator_token").and_then(Value::as_str).filter(|t| !t.is_empty());
    let mut pairs = vec![("registry_url", ctx.registry.base_url()), ("access_token", token)];
    pairs.extend(operator_token.map(|t| ("operator_token", t)));
    let path = match ClientConfig::store(&home, &pairs) {
        Ok(path) => path,
        Err(e) => {
            eprintln!("canopy: could not save the owner's access token; keep it now, it is not shown again:\n{token}");
            if let Some(operator_token) = operator_token {
                eprintln!("canopy: and the platform operator's:\n{operator_token}");
            }
            return Err(e);
        }
    };
    let operator = match operator_token {
        Some(_) => format!(
            "Platform operator '{}' created; its token is saved there too, as operator_token:\n\
             `canopy create tenant` and `canopy list tenants` send it.\n",
            raw["operator"]["name"].as_str().unwrap_or("operator")
        ),
        None => String::new(),
    };
    ctx.show(raw, |_| {
        Ok(format!(
            "Canopy at {} is initialized.\n\
             Owner user '{}' created; its access token is saved in {} (keep that file private):\n\
             every canopy command now sends it.\n{operator}",
            ctx.registry.base_url(),
            created.user.name,
            path.display()
        ))
    })
}

/// Saves `token` as `access_token`, or, for a platform operator's (`operator`), as
/// `operator_token`, which only the tenant verbs send.
pub fn login(ctx: &Ctx, token: &str, registry_flag: Option<&str>, operator: bool) -> anyhow::Result<()> {
    anyhow::ensure!(!token.trim().is_empty(), "the access token is empty");
    let home = home_dir()
        .ok_or_else(|| anyhow::anyhow!("login saves the access token in ~/{CONF_FILE}, but $HOME is not set"))?;
    let key = if operator { "operator_token" } else { "access_token" };
    let mut pairs = vec![(key, token.trim())];
    if registry_flag.is_some() {
        pairs.push(("registry_url", ctx.registry.base_url()));
    }
    let path = ClientConfig::store(&home, &pairs)?;
    if ctx.json {
        println!("{}", output::json(&json!({"saved": path, "registry_url": ctx.registry.base_url()})));
    } else {
        let who = if operator { "the tenant verbs (create|list|get|suspend|resume tenant)" } else { "canopy commands" };
        println!("Access token saved in {}; {who} now send it to {}.", path.display(), ctx.registry.base_url());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Users

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    canopy create user alice\n  \
    canopy create user bob --role admin --access-token bobs-token\n  \
    canopy create user -c alice.json   # {\"name\": \"alice\", \"access_token_ref\": {\"env\": \"ALICE_TOKEN\"}}")]
pub struct CreateUserArgs {
    /// User name: letters, digits, '-' and '_'.
    #[arg(required_unless_present = "conf")]
    pub name: Option<String>,
    /// owner, admin or member (the default). Only an owner creates an owner.
    #[arg(long)]
    pub role: Option<String>,
    /// A custom access token for the user; omitted, Canopy generates one and prints it once.
    #[arg(long, value_name = "TOKEN", allow_hyphen_values = true)]
    pub access_token: Option<String>,
    /// User JSON file (MCPJungle's: name, role, and a custom token in `access_token` or
    /// `access_token_ref` {"env": VAR} / {"file": PATH}, which is then required).
    #[arg(short = 'c', long = "conf", value_name = "FILE", conflicts_with_all = ["name", "role", "access_token"])]
    pub conf: Option<PathBuf>,
}

impl CreateUserArgs {
    pub fn body(&self) -> anyhow::Result<Value> {
        if let Some(path) = &self.conf {
            return identity_file(path, "a user", &env_var);
        }
        let mut body = json!({"name": self.name.clone().unwrap_or_default()});
        if let Some(role) = &self.role {
            body["role"] = json!(role);
        }
        if let Some(token) = &self.access_token {
            body["access_token"] = json!(token);
        }
        Ok(body)
    }
}

pub async fn create_user(ctx: &Ctx, args: &CreateUserArgs) -> anyhow::Result<()> {
    let raw = ctx.registry.post(&["users"], &[], &args.body()?).await?;
    ctx.show(raw, |raw| Ok(user_created(&decode(raw)?)))
}

pub fn user_created(created: &CreatedUser) -> String {
    let user = &created.user;
    let mut out = format!("User '{}' created successfully (role {}).\n", user.name, user.role);
    match &created.access_token {
        Some(token) => out.push_str(&format!(
            "They log in with:\n\n    canopy login {token}\n\nThis token is shown only now; Canopy keeps only its digest.\n"
        )),
        None => out.push_str("They log in with `canopy login` and the access token you supplied.\n"),
    }
    out
}

pub async fn list_users(ctx: &Ctx) -> anyhow::Result<()> {
    let raw = ctx.registry.get(&["users"], &[]).await?;
    ctx.show(raw, |raw| Ok(users_table(&decode::<Vec<_>>(raw)?)))
}

pub fn users_table(users: &[UserView]) -> String {
    if users.is_empty() {
        return "No users. Create one with `canopy create user NAME`.\n".into();
    }
    let rows: Vec<Vec<String>> =
        users.iter().map(|u| vec![u.name.clone(), u.role.clone(), u.created_at.clone()]).collect();
    output::table(&["NAME", "ROLE", "CREATED"], &rows)
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    canopy update user alice --role admin\n  \
    canopy update user bob --role owner   # only an owner makes an owner\n\n\
    The new role applies from the user's next request; their token is not changed. Only an owner \
    changes an owner's role, and a tenant's last owner stays one (CONFLICT).")]
pub struct UpdateUserArgs {
    /// User name.
    pub name: String,
    /// The new role: owner, admin or member.
    #[arg(long, value_parser = ["owner", "admin", "member"])]
    pub role: String,
}

impl UpdateUserArgs {
    /// `PATCH /api/v0/users/{name}`'s body.
    pub fn body(&self) -> Value {
        json!({ "role": self.role })
    }
}

pub async fn update_user(ctx: &Ctx, args: &UpdateUserArgs) -> anyhow::Result<()> {
    let raw = ctx.registry.patch(&["users", &args.name], &args.body()).await?;
    ctx.show(raw, |raw| {
        let user: UserView = decode(raw)?;
        Ok(format!(
            "User '{}' is now {}; the role applies from their next request (their token is unchanged).\n",
            user.name, user.role
        ))
    })
}

pub async fn delete_user(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    ctx.registry.delete(&["users", name]).await?;
    if !ctx.json {
        println!("User '{name}' deleted; their access token no longer works.");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// MCP clients

/// The allow list and description flags that `create` and `update` share.
#[derive(clap::Args, Debug, Default)]
pub struct AllowFlags {
    /// Servers the client may use, comma-separated ("github,jira"); "*" is every server,
    /// including future ones. Without any --allow flag the client can use nothing.
    #[arg(long, value_name = "SERVERS")]
    pub allow: Option<String>,
    /// A group whose members the client may use (repeat, or comma-separate).
    #[arg(long = "allow-group", value_name = "GROUP", value_delimiter = ',')]
    pub allow_groups: Vec<String>,
    /// A single tool the client may use, as server__tool (repeat, or comma-separate).
    #[arg(long = "allow-tool", value_name = "SERVER__TOOL", value_delimiter = ',')]
    pub allow_tools: Vec<String>,
    /// What the client is (e.g. "Claude Desktop on Alice's machine").
    #[arg(long)]
    pub description: Option<String>,
}

impl AllowFlags {
    fn servers(&self) -> Option<Vec<String>> {
        let flag = self.allow.as_deref()?;
        Some(flag.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect())
    }

    fn any(&self) -> bool {
        self.allow.is_some()
            || !self.allow_groups.is_empty()
            || !self.allow_tools.is_empty()
            || self.description.is_some()
    }
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    canopy create mcp-client cursor-local --allow \"calculator,github\"\n  \
    canopy create mcp-client triage --allow-group triage-tools --allow-tool jira__search\n  \
    canopy create mcp-client my-agent --allow github --access-token my-custom-token\n  \
    canopy create mcp-client -c claude.json\n\
    The file is MCPJungle's MCP client JSON: {\"name\", \"description\", \"allowed_servers\": [...],\n\
    \"access_token\" or \"access_token_ref\": {\"env\": \"VAR\"} | {\"file\": \"/path\"}}, plus Canopy's\n\
    \"allowed_groups\" and \"allowed_tools\". With -c a custom token is required.")]
pub struct CreateClientArgs {
    /// MCP client name: letters, digits, '-' and '_'.
    #[arg(required_unless_present = "conf")]
    pub name: Option<String>,
    #[command(flatten)]
    pub allow: AllowFlags,
    /// A custom access token for the client; omitted, Canopy generates one and prints it once.
    #[arg(long, value_name = "TOKEN", allow_hyphen_values = true)]
    pub access_token: Option<String>,
    /// MCP client JSON file; the other flags are then not allowed.
    #[arg(short = 'c', long = "conf", value_name = "FILE",
          conflicts_with_all = ["name", "allow", "allow_groups", "allow_tools", "description", "access_token"])]
    pub conf: Option<PathBuf>,
}

impl CreateClientArgs {
    pub fn body(&self) -> anyhow::Result<Value> {
        if let Some(path) = &self.conf {
            return identity_file(path, "an MCP client", &env_var);
        }
        let mut body = json!({
            "name": self.name.clone().unwrap_or_default(),
            "description": self.allow.description.clone().unwrap_or_default(),
            "allowed_servers": self.allow.servers().unwrap_or_default(),
            "allowed_groups": self.allow.allow_groups,
            "allowed_tools": self.allow.allow_tools,
        });
        if let Some(token) = &self.access_token {
            body["access_token"] = json!(token);
        }
        Ok(body)
    }
}

pub async fn create_client(ctx: &Ctx, args: &CreateClientArgs) -> anyhow::Result<()> {
    let raw = ctx.registry.post(&["mcp-clients"], &[], &args.body()?).await?;
    ctx.show(raw, |raw| Ok(client_created(&decode(raw)?)))
}

pub fn client_created(created: &CreatedMcpClient) -> String {
    let mut out = format!("MCP client '{}' created successfully!\n{}", created.client.name, access(&created.client));
    match &created.access_token {
        Some(token) => out.push_str(&format!(
            "\nAccess token: {token}\n\
             Send this token in the `Authorization: Bearer {{token}}` HTTP header.\n\
             It is shown only now; Canopy keeps only its digest.\n"
        )),
        None => out.push_str(
            "\nIt authenticates with the access token you supplied, in the `Authorization: Bearer {token}` HTTP header.\n",
        ),
    }
    out
}

/// What a client may use, MCPJungle's "Servers accessible" line plus groups and tools.
fn access(client: &McpClientView) -> String {
    let mut out = match client.allowed_servers.is_empty() {
        true => "Servers accessible: none\n".to_string(),
        false => format!("Servers accessible: {}\n", client.allowed_servers.join(",")),
    };
    if !client.allowed_groups.is_empty() {
        out.push_str(&format!("Groups accessible: {}\n", client.allowed_groups.join(",")));
    }
    if !client.allowed_tools.is_empty() {
        out.push_str(&format!("Tools accessible: {}\n", client.allowed_tools.join(",")));
    }
    if client.allowed_servers.is_empty() && client.allowed_groups.is_empty() && client.allowed_tools.is_empty() {
        out.push_str("(it can use nothing yet: grant servers with `canopy update mcp-client NAME --allow ...`)\n");
    }
    out
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Flags replace what they name and keep the rest; -c FILE replaces the description and \
    every allow list with the file's (its access_token / access_token_ref are ignored: the token is not changed).")]
pub struct UpdateClientArgs {
    /// MCP client name.
    #[arg(required_unless_present = "conf")]
    pub name: Option<String>,
    #[command(flatten)]
    pub allow: AllowFlags,
    /// MCP client JSON file (as for create); the other flags are then not allowed.
    #[arg(short = 'c', long = "conf", value_name = "FILE",
          conflicts_with_all = ["name", "allow", "allow_groups", "allow_tools", "description"])]
    pub conf: Option<PathBuf>,
}

impl UpdateClientArgs {
    /// The client's name and the PUT body; with flags, `current` fills what they leave out.
    pub fn request(&self, current: Option<&McpClientView>) -> anyhow::Result<(String, Value)> {
        if let Some(path) = &self.conf {
            let mut body = read_object(path, "an MCP client")?;
            body.remove("access_token");
            body.remove("access_token_ref");
            let name = body.get("name").and_then(Value::as_str).filter(|n| !n.is_empty());
            let name =
                name.ok_or_else(|| anyhow::anyhow!("{} must name the client: \"name\": \"...\"", path.display()))?;
            return Ok((name.to_string(), Value::Object(body)));
        }
        let name = self.name.clone().unwrap_or_default();
        let current = current.ok_or_else(|| anyhow::anyhow!("MCP client '{name}' does not exist"))?;
        let flags = &self.allow;
        let pick = |given: Vec<String>, old: &Vec<String>| if given.is_empty() { old.clone() } else { given };
        let body = json!({
            "description": flags.description.clone().unwrap_or_else(|| current.description.clone()),
            "allowed_servers": flags.servers().unwrap_or_else(|| current.allowed_servers.clone()),
            "allowed_groups": pick(flags.allow_groups.clone(), &current.allowed_groups),
            "allowed_tools": pick(flags.allow_tools.clone(), &current.allowed_tools),
        });
        Ok((name, body))
    }
}

pub async fn update_client(ctx: &Ctx, args: &UpdateClientArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.conf.is_some() || args.allow.any(),
        "nothing to update: give --allow, --allow-group, --allow-tool, --description, or -c FILE"
    );
    let current = match (&args.conf, &args.name) {
        (None, Some(name)) => find_client(ctx, name).await?,
        _ => None,
    };
    let (name, body) = args.request(current.as_ref())?;
    let raw = ctx.registry.put(&["mcp-clients", &name], &body).await?;
    ctx.show(raw, |raw| {
        let client: McpClientView = decode(raw)?;
        Ok(format!("MCP client '{}' updated.\n{}", client.name, access(&client)))
    })
}

async fn find_client(ctx: &Ctx, name: &str) -> anyhow::Result<Option<McpClientView>> {
    let clients: Vec<McpClientView> = decode(ctx.registry.get(&["mcp-clients"], &[]).await?)?;
    Ok(clients.into_iter().find(|c| c.name == name))
}

pub async fn list_clients(ctx: &Ctx) -> anyhow::Result<()> {
    let raw = ctx.registry.get(&["mcp-clients"], &[]).await?;
    ctx.show(raw, |raw| Ok(clients_table(&decode::<Vec<_>>(raw)?)))
}

pub fn clients_table(clients: &[McpClientView]) -> String {
    if clients.is_empty() {
        return "No MCP clients. Create one with `canopy create mcp-client NAME --allow SERVERS`.\n".into();
    }
    let list = |items: &[String]| if items.is_empty() { "-".to_string() } else { items.join(",") };
    let rows: Vec<Vec<String>> = clients
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                list(&c.allowed_servers),
                list(&c.allowed_groups),
                list(&c.allowed_tools),
                output::truncate(&c.description, output::DESCRIPTION_WIDTH),
            ]
        })
        .collect();
    output::table(&["NAME", "SERVERS", "GROUPS", "TOOLS", "DESCRIPTION"], &rows)
}

pub async fn delete_client(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    ctx.registry.delete(&["mcp-clients", name]).await?;
    if !ctx.json {
        println!("MCP client '{name}' deleted; its access token no longer works.");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Config files

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn read_object(path: &Path, what: &str) -> anyhow::Result<Map<String, Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    match serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))? {
        Value::Object(map) => Ok(map),
        _ => anyhow::bail!("{} must hold one JSON object ({what})", path.display()),
    }
}

/// A `-c` file of a user or client, as the body to send: the file as written (the API
/// validates the rest and names what is wrong), its token resolved into `access_token`.
pub fn identity_file(path: &Path, what: &str, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Value> {
    let mut body = read_object(path, what)?;
    let token = file_token(&mut body, env).with_context(|| format!("{}", path.display()))?;
    body.insert("access_token".into(), Value::String(token));
    Ok(Value::Object(body))
}

/// The custom token of a config file: `access_token`, or `access_token_ref` naming an
/// environment variable (`env`) or a file holding only the token (`file`; surrounding
/// whitespace, such as the final newline, is dropped). Exactly one source must be given.
/// Removes `access_token_ref` from `body`.
pub fn file_token(body: &mut Map<String, Value>, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<String> {
    let direct = match body.remove("access_token") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(t),
        Some(_) => anyhow::bail!("access_token must be a string"),
    };
    let reference = match body.remove("access_token_ref") {
        None | Some(Value::Null) => None,
        Some(Value::Object(r)) => Some(r),
        Some(_) => anyhow::bail!("access_token_ref must be an object: {{\"env\": \"VAR\"}} or {{\"file\": \"/path\"}}"),
    };
    let field = |r: &Map<String, Value>, k: &str| -> anyhow::Result<Option<String>> {
        match r.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(_) => anyhow::bail!("access_token_ref.{k} must be a non-empty string"),
        }
    };
    let (from_env, from_file) = match &reference {
        Some(r) => {
            if let Some(unknown) = r.keys().find(|k| *k != "env" && *k != "file") {
                anyhow::bail!("access_token_ref has an unknown field '{unknown}' (use \"env\" or \"file\")");
            }
            (field(r, "env")?, field(r, "file")?)
        }
        None => (None, None),
    };
    let sources = [direct.is_some(), from_env.is_some(), from_file.is_some()].iter().filter(|s| **s).count();
    anyhow::ensure!(
        sources > 0,
        "a custom access token is required with -c (Canopy could not show a generated one to the file's author): \
         give \"access_token\", or \"access_token_ref\": {{\"env\": \"VAR\"}} or {{\"file\": \"/path\"}}"
    );
    anyhow::ensure!(
        sources == 1,
        "give the access token one way only: access_token, access_token_ref.env or access_token_ref.file"
    );
    let token = if let Some(token) = direct {
        token
    } else if let Some(var) = from_env {
        env(&var).ok_or_else(|| anyhow::anyhow!("access_token_ref.env: the environment variable {var} is not set"))?
    } else {
        let file = from_file.unwrap_or_default();
        std::fs::read_to_string(&file).with_context(|| format!("access_token_ref.file: reading {file}"))?
    };
    let token = token.trim().to_string();
    anyhow::ensure!(!token.is_empty(), "the access token is empty");
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn file_tokens_from_each_source() {
        let env = |name: &str| (name == "CLAUDE_TOKEN").then(|| "from-env".to_string());
        let mut body = object(json!({"name": "c", "access_token": "direct"}));
        assert_eq!(file_token(&mut body, &env).unwrap(), "direct");
        let mut body = object(json!({"name": "c", "access_token_ref": {"env": "CLAUDE_TOKEN"}}));
        assert_eq!(file_token(&mut body, &env).unwrap(), "from-env");
        assert!(!body.contains_key("access_token_ref"), "the reference is not sent");

        let dir = std::env::temp_dir().join(format!("canopy-cli-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        let mut body = object(json!({"access_token_ref": {"file": file}}));
        assert_eq!(file_token(&mut body, &no_env).unwrap(), "from-file", "the final newline is dropped");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn file_tokens_are_required_and_unambiguous() {
        let check = |body: Value, fragment: &str| {
            let e = file_token(&mut object(body), &no_env).unwrap_err().to_string();
            assert!(e.contains(fragment), "'{e}' should contain '{fragment}'");
        };
        check(json!({"name": "c"}), "custom access token is required");
        check(json!({"access_token_ref": {}}), "custom access token is required");
        check(json!({"access_token": "a", "access_token_ref": {"env": "X"}}), "one way only");
        check(json!({"access_token_ref": {"env": "X", "file": "/f"}}), "one way only");
        check(json!({"access_token_ref": {"env": "UNSET_VAR"}}), "UNSET_VAR is not set");
        check(json!({"access_token_ref": {"file": "/nonexistent/canopy-token"}}), "reading /nonexistent/canopy-token");
        check(json!({"access_token_ref": {"path": "/f"}}), "unknown field 'path'");
        check(json!({"access_token_ref": "X"}), "must be an object");
        check(json!({"access_token": 7}), "must be a string");
        check(json!({"access_token": "  "}), "empty");
    }

    #[test]
    fn identity_files_become_request_bodies() {
        let file = std::env::temp_dir().join(format!("canopy-cli-client-{}.json", std::process::id()));
        let env = |_: &str| Some("tok-123".to_string());
        std::fs::write(&file, r#"{"name": "claude", "allowed_servers": ["github"], "access_token_ref": {"env": "T"}}"#)
            .unwrap();
        assert_eq!(
            identity_file(&file, "an MCP client", &env).unwrap(),
            json!({"name": "claude", "allowed_servers": ["github"], "access_token": "tok-123"})
        );
        std::fs::write(&file, "[]").unwrap();
        assert!(identity_file(&file, "a user", &env).unwrap_err().to_string().contains("one JSON object (a user)"));
        std::fs::remove_file(&file).unwrap();
    }

    #[test]
    fn flags_become_request_bodies() {
        let args = CreateClientArgs {
            name: Some("cursor".into()),
            allow: AllowFlags {
                allow: Some("calculator, github,".into()),
                allow_groups: vec!["g".into()],
                allow_tools: vec![],
                description: None,
            },
            access_token: None,
            conf: None,
        };
        assert_eq!(
            args.body().unwrap(),
            json!({"name": "cursor", "description": "", "allowed_servers": ["calculator", "github"],
                   "allowed_groups": ["g"], "allowed_tools": []})
        );
        let user = CreateUserArgs {
            name: Some("bob".into()),
            role: Some("admin".into()),
            access_token: Some("t".into()),
            conf: None,
        };
        assert_eq!(user.body().unwrap(), json!({"name": "bob", "role": "admin", "access_token": "t"}));

        // Update: the flags given replace, the rest is kept.
        let current = McpClientView {
            name: "cursor".into(),
            description: "old".into(),
            allowed_servers: vec!["a".into()],
            allowed_groups: vec!["g".into()],
            allowed_tools: vec!["a__t".into()],
            created_at: "t".into(),
            updated_at: "t".into(),
        };
        let update = UpdateClientArgs {
            name: Some("cursor".into()),
            allow: AllowFlags { allow: Some("b,c".into()), description: Some("new".into()), ..Default::default() },
            conf: None,
        };
        assert_eq!(
            update.request(Some(&current)).unwrap(),
            (
                "cursor".to_string(),
                json!({"description": "new", "allowed_servers": ["b", "c"], "allowed_groups": ["g"], "allowed_tools": ["a__t"]})
            )
        );
        assert!(update.request(None).unwrap_err().to_string().contains("does not exist"));
    }

    #[test]
    fn pages() {
        let client = McpClientView {
            name: "cursor-local".into(),
            description: String::new(),
            allowed_servers: vec!["calculator".into(), "github".into()],
            allowed_groups: vec![],
            allowed_tools: vec![],
            created_at: "t".into(),
            updated_at: "t".into(),
        };
        let text = client_created(&CreatedMcpClient { client: client.clone(), access_token: Some("TOK".into()) });
        assert!(text
            .starts_with("MCP client 'cursor-local' created successfully!\nServers accessible: calculator,github\n"));
        assert!(
            text.contains("\nAccess token: TOK\nSend this token in the `Authorization: Bearer {token}` HTTP header.\n")
        );
        let custom = client_created(&CreatedMcpClient { client: client.clone(), access_token: None });
        assert!(!custom.contains("Access token:") && custom.contains("you supplied"), "{custom}");
        let nothing = McpClientView { allowed_servers: vec![], ..client.clone() };
        assert!(access(&nothing).contains("can use nothing yet"));
        assert_eq!(
            clients_table(&[client]),
            "NAME          SERVERS            GROUPS  TOOLS  DESCRIPTION\ncursor-local  calculator,github  -       -\n"
        );

        let user =
            UserView { name: "alice".into(), role: "member".into(), created_at: "t".into(), updated_at: "t".into() };
        let text = user_created(&CreatedUser { user: user.clone(), access_token: Some("TOK".into()) });
        assert!(
            text.contains("created successfully (role member)") && text.contains("    canopy login TOK\n"),
            "{text}"
        );
        assert!(!user_created(&CreatedUser { user: user.clone(), access_token: None }).contains("login TOK"));
        assert_eq!(users_table(&[user]), "NAME   ROLE    CREATED\nalice  member  t\n");
        assert!(users_table(&[]).starts_with("No users."));
    }
}
