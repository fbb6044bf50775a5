//! The client verbs (`register`, `list`, `get`, `usage`, `invoke`, `deregister`) run as the real
//! `canopy` binary against a real `canopy start` and the fixture upstream, with `$HOME` pointed
//! at a fresh directory so no developer's `~/.canopy.conf` leaks in.

use crate::cli_runner::*;
use crate::harness::{fixture, free_port, Deployment};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// `canopy --registry BASE ...` with a fixed home.
struct Cli {
    base: String,
    home: PathBuf,
}

impl Cli {
    async fn run(&self, args: &[&str]) -> Run {
        let mut all = vec!["--registry", self.base.as_str()];
        all.extend_from_slice(args);
        canopy(&self.home, &all).await
    }
}

/// The fixture server's binary, built next to `canopy` (building it if this run did not).
fn fixture_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_canopy")).with_file_name("canopy-fixture-mcp");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-p", "canopy-fixture-server", "--bin", "canopy-fixture-mcp"])
            .status()
            .unwrap();
        assert!(status.success(), "building canopy-fixture-mcp");
    }
    path
}

/// The row of a text table whose first column is `first`, split on whitespace.
fn row<'a>(table: &'a str, first: &str) -> Vec<&'a str> {
    table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&first))
        .unwrap_or_else(|| panic!("no row '{first}' in:\n{table}"))
}

#[tokio::test]
async fn cli_register_list_usage_invoke_deregister() {
    let mut d = Deployment::new().await;
    let base = d.spawn("all", &["start"]).await;
    let upstream = fixture().await;
    let home = temp_home("main");
    let cli = Cli { base: base.clone(), home: home.clone() };

    // register by flags: the summary names the server, its status and every tool.
    let out = cli.run(&["register", "--name", "fx", "--url", &upstream.url(), "--description", "fixture server"]).await;
    let text = out.ok();
    assert!(text.starts_with("Server fx registered successfully!\n"), "{text}");
    assert!(text.contains("  transport:  streamable_http\n"), "{text}");
    assert!(text.contains("  status:     ready\n"), "{text}");
    assert!(text.contains("  tools:      10\n"), "{text}");
    let listed: Vec<&str> = text.lines().filter(|l| l.starts_with("- fx__")).collect();
    assert_eq!(listed.len(), 10, "{text}");
    assert!(text.contains("- fx__add  ") && text.contains("Adds two numbers"), "{text}");

    // The same name again: the API's CONFLICT, exit 1.
    cli.run(&["register", "--name", "fx", "--url", &upstream.url()])
        .await
        .failed_with("canopy: CONFLICT: server 'fx' is already registered");

    // register -c: MCPJungle's config file, its headers reaching the upstream.
    let file = home.join("fx2.json");
    std::fs::write(
        &file,
        json!({"name": "fx2", "transport": "streamable_http", "description": "from a file",
               "url": upstream.url(), "headers": {"X-Fixture": "from-file"}})
        .to_string(),
    )
    .unwrap();
    let text = cli.run(&["register", "-c", file.to_str().unwrap()]).await.ok().to_string();
    assert!(text.starts_with("Server fx2 registered successfully!\n"), "{text}");
    assert!(text.contains("- fx2__whoami"), "{text}");
    let who = cli.run(&["invoke", "fx2__whoami"]).await;
    assert!(who.ok().contains("x-fixture: from-file"), "{}", who.stdout);
    // A file the API rejects: its message, exit 1.
    std::fs::write(&file, r#"{"name": "bad", "url": "http://x", "surprise": 1}"#).unwrap();
    cli.run(&["register", "-c", file.to_str().unwrap()]).await.failed_with("INVALID_REQUEST: ");

    // register -c with a stdio server: command, args and env, the env's value masked.
    let stdio = home.join("stdio.json");
    std::fs::write(
        &stdio,
        json!({"name": "local", "transport": "stdio", "description": "fixture over stdio",
               "command": fixture_binary(), "args": ["--transport", "stdio", "--extra-tools", "1"],
               "env": {"CLI_TEST_SECRET": "stdio-secret"}})
        .to_string(),
    )
    .unwrap();
    let out = cli.run(&["register", "-c", stdio.to_str().unwrap()]).await;
    let text = out.ok();
    assert!(text.contains("  transport:  stdio\n  status:     ready\n  tools:      6\n"), "{text}");
    let out = cli.run(&["get", "server", "local"]).await;
    assert!(out.ok().contains("env:           CLI_TEST_SECRET=***\n"), "{}", out.stdout);
    assert!(!out.stdout.contains("stdio-secret"), "{}", out.stdout);
    let out = cli.run(&["invoke", "local__echo", "--input", r#"{"message": "over stdio"}"#]).await;
    assert_eq!(out.ok(), "over stdio\n");
    cli.run(&["deregister", "local"]).await.ok();

    // list servers: a table, and --json the API's array.
    let out = cli.run(&["list", "servers"]).await;
    let table = out.ok();
    assert!(table.starts_with("NAME "), "{table}");
    assert_eq!(row(table, "fx"), ["fx", "streamable_http", "ready", "yes", "10", "fixture", "server"]);
    assert_eq!(row(table, "fx2"), ["fx2", "streamable_http", "ready", "yes", "10", "from", "a", "file"]);
    let servers = cli.run(&["--json", "list", "servers"]).await.json();
    let mut names: Vec<&str> = servers.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["fx", "fx2"]);
    assert_eq!(servers[0]["tool_count"], 10);

    // list tools: every tool of both servers, enabled, described; --server filters.
    let out = cli.run(&["list", "tools"]).await;
    let table = out.ok();
    assert_eq!(table.lines().count(), 1 + 20, "{table}");
    assert_eq!(row(table, "fx__add")[1], "yes");
    assert!(row(table, "fx__add").join(" ").contains("Adds two numbers"), "{table}");
    let tools = cli.run(&["list", "tools", "--server", "fx", "--json"]).await.json();
    let tools = tools.as_array().unwrap();
    assert_eq!(tools.len(), 10);
    assert!(tools.iter().all(|t| t["name"].as_str().unwrap().starts_with("fx__")));
    let add = tools.iter().find(|t| t["name"] == "fx__add").unwrap();
    assert_eq!(add["input_schema"]["required"], json!(["a", "b"]));
    cli.run(&["list", "tools", "--server", "nope"])
        .await
        .failed_with("canopy: NOT_FOUND: server 'nope' is not registered");

    // get server: the registration, secrets masked.
    let out = cli.run(&["get", "server", "fx2"]).await;
    let text = out.ok();
    assert!(text.contains("transport:     streamable_http\n"), "{text}");
    assert!(text.contains("headers:       X-Fixture=***\n"), "{text}");
    assert!(!text.contains("from-file"), "{text}");
    assert!(text.contains("status:        ready\n"), "{text}");

    // usage: description and parameters.
    let out = cli.run(&["usage", "fx__add"]).await;
    let text = out.ok();
    assert!(text.starts_with("fx__add  (Add)\nAdds two numbers"), "{text}");
    assert!(text.contains("Input parameters:\n  a (number, required)\n  b (number, required)\n"), "{text}");
    assert!(text.contains("Structured output:\n  sum (number, required)\n"), "{text}");
    let out = cli.run(&["usage", "fx__slow"]).await;
    assert!(out.ok().contains("  ms (integer, optional, default 1000)\n      minimum 0\n"), "{}", out.stdout);
    cli.run(&["usage", "fx__nope"]).await.failed_with("NOT_FOUND: tool 'fx__nope' not found");

    // invoke: text, structured content, --json, @file, isError.
    let out = cli.run(&["invoke", "fx__add", "--input", r#"{"a": 2, "b": 3}"#]).await;
    assert_eq!(out.ok(), "5\nstructured content:\n{\n  \"sum\": 5.0\n}\n");
    let result = cli.run(&["invoke", "fx__add", "--input", r#"{"a": 2, "b": 3}"#, "--json"]).await.json();
    assert_eq!(result["structuredContent"], json!({"sum": 5.0}));
    assert_ne!(result["isError"], true);
    let input = home.join("input.json");
    std::fs::write(&input, r#"{"a": 10, "b": 0.5}"#).unwrap();
    let at = format!("@{}", input.display());
    let out = cli.run(&["invoke", "fx__add", "--input", &at]).await;
    assert!(out.ok().starts_with("10.5\n"), "{}", out.stdout);
    let out = cli.run(&["invoke", "fx__fail", "--input", r#"{"message": "boom"}"#]).await;
    out.failed_with("tool fx__fail reported an error");
    assert_eq!(out.stdout, "boom\n");
    let out = cli.run(&["invoke", "fx__fail", "--json", "--input", r#"{"message": "boom"}"#]).await;
    assert_eq!(out.code, Some(1));
    assert_eq!(serde_json::from_str::<Value>(&out.stdout).unwrap()["isError"], true);
    cli.run(&["invoke", "fx__add", "--input", "[1, 2]"]).await.failed_with("JSON object");
    cli.run(&["invoke", "fx__missing"]).await.failed_with("NOT_FOUND: tool 'fx__missing' not found");

    // disable / enable: shown in the lists, refused by invoke, and back again.
    let add = ["invoke", "fx__add", "--input", r#"{"a": 2, "b": 3}"#];
    let out = cli.run(&["disable", "tool", "fx__add"]).await;
    assert_eq!(out.ok(), "Disabled 1 tool:\n  - fx__add\n");
    let out = cli.run(&["list", "tools", "--server", "fx"]).await;
    assert_eq!(row(out.ok(), "fx__add")[1], "no");
    assert_eq!(row(out.ok(), "fx__echo")[1], "yes");
    // Unknown while disabled, as on every MCP endpoint.
    cli.run(&add).await.failed_with("canopy: NOT_FOUND: tool 'fx__add' not found");
    let out = cli.run(&["enable", "tool", "fx"]).await;
    assert!(out.ok().starts_with("Enabled 10 tools:\n  - fx__"), "{}", out.stdout);
    assert!(out.ok().contains("  - fx__add\n"), "{}", out.stdout);
    assert!(cli.run(&add).await.ok().starts_with("5\n"));
    let out = cli.run(&["disable", "server", "fx2"]).await;
    assert_eq!(out.ok(), "Server fx2 disabled.\n");
    let out = cli.run(&["list", "servers"]).await;
    assert_eq!(row(out.ok(), "fx2")[3], "no");
    assert_eq!(row(out.ok(), "fx")[3], "yes");
    let server = cli.run(&["get", "server", "fx2", "--json"]).await.json();
    assert_eq!(server["enabled"], false, "{server}");
    cli.run(&["invoke", "fx2__echo", "--input", r#"{"message": "x"}"#]).await.failed_with("canopy: NOT_FOUND: ");
    let out = cli.run(&["--json", "enable", "server", "fx2"]).await;
    assert_eq!(out.json()["enabled"], true);
    let out = cli.run(&["invoke", "fx2__echo", "--input", r#"{"message": "x"}"#]).await;
    assert_eq!(out.ok(), "x\n");
    cli.run(&["disable", "tool", "nope__x"]).await.failed_with("canopy: NOT_FOUND: server 'nope' is not registered");

    // deregister: gone from the lists; a second time is NOT_FOUND.
    let out = cli.run(&["deregister", "fx2"]).await;
    assert!(out.ok().contains("fx2 deregistered"), "{}", out.stdout);
    let servers = cli.run(&["list", "servers", "--json"]).await.json();
    assert_eq!(servers.as_array().unwrap().len(), 1, "{servers}");
    assert_eq!(servers[0]["name"], "fx");
    let table = cli.run(&["list", "tools"]).await.ok().to_string();
    assert!(!table.contains("fx2__"), "{table}");
    cli.run(&["deregister", "fx2"]).await.failed_with("canopy: NOT_FOUND: ");

    // ~/.canopy.conf: no --registry, the file's registry_url is used; --registry still wins.
    let conf_home = temp_home("conf");
    std::fs::write(conf_home.join(".canopy.conf"), format!("# canopy CLI\nregistry_url: {base}\n")).unwrap();
    let out = canopy(&conf_home, &["list", "servers"]).await;
    assert_eq!(row(out.ok(), "fx")[2], "ready");
    let dead = format!("http://127.0.0.1:{}", free_port());
    let out = canopy(&conf_home, &["--registry", &dead, "list", "servers"]).await;
    out.failed_with(&dead);
    let dead_home = temp_home("dead");
    std::fs::write(dead_home.join(".canopy.conf"), format!("registry_url: {dead}\n")).unwrap();
    let out = canopy(&dead_home, &["list", "servers", "--registry", &base]).await;
    assert_eq!(row(out.ok(), "fx")[0], "fx");

    d.terminate("all").await;
    for dir in [home, conf_home, dead_home] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[tokio::test]
async fn cli_unreachable_registry_and_bad_usage() {
    let home = temp_home("unreachable");
    let dead = format!("http://127.0.0.1:{}", free_port());

    // By flag: the URL, where it came from, and how to change it.
    let out = canopy(&home, &["--registry", &dead, "list", "tools"]).await;
    out.failed_with(&format!("cannot connect to the Canopy registry at {dead} (from --registry"));
    assert!(out.stderr.contains("canopy start"), "{}", out.stderr);
    assert!(out.stderr.contains("registry_url: URL"), "{}", out.stderr);

    // From the conf file: the file is named.
    let conf = home.join(".canopy.conf");
    std::fs::write(&conf, format!("registry_url: {dead}\naccess_token: kept-for-later\n")).unwrap();
    let out = canopy(&home, &["invoke", "x__y"]).await;
    out.failed_with(&format!("at {dead} (from {}", conf.display()));

    // A malformed conf file and a malformed URL are named, not ignored.
    std::fs::write(&conf, "registry_url http://nowhere\n").unwrap();
    canopy(&home, &["list", "servers"]).await.failed_with(".canopy.conf: line 1: expected `key: value`");
    std::fs::remove_file(&conf).unwrap();
    canopy(&home, &["--registry", "localhost:8080", "list", "servers"])
        .await
        .failed_with("invalid registry URL 'localhost:8080'");

    // Usage errors are clap's (exit 2), before any request.
    let out = canopy(&home, &["--registry", &dead, "register", "--name", "x"]).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--url"), "{}", out.stderr);
    let out = canopy(&home, &["--registry", &dead, "register", "-c", "f.json", "--url", "http://x"]).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    let _ = std::fs::remove_dir_all(home);
}

/// The `name` of every entry of a JSON array, sorted.
fn names_of(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// The first column of a table's rows (its header line left out), sorted.
fn first_column(table: &str) -> Vec<String> {
    let mut names: Vec<String> =
        table.lines().skip(1).filter_map(|l| l.split_whitespace().next()).map(String::from).collect();
    names.sort();
    names
}

#[tokio::test]
async fn cli_groups_and_group_scoped_tools() {
    let mut d = Deployment::new().await;
    let base = d.spawn("all", &["start"]).await;
    let upstream = fixture().await;
    let home = temp_home("groups");
    let cli = Cli { base: base.clone(), home: home.clone() };
    cli.run(&["register", "--name", "fx", "--url", &upstream.url()]).await.ok();
    cli.run(&["register", "--name", "fx2", "--url", &upstream.url()]).await.ok();
    let fx2_tools = names_of(&cli.run(&["--json", "list", "tools", "--server", "fx2"]).await.json());
    assert_eq!(fx2_tools.len(), 10, "{fx2_tools:?}");

    // No groups yet.
    assert_eq!(
        cli.run(&["list", "groups"]).await.ok(),
        "No tool groups. Create one with `canopy create group -c FILE`.\n"
    );

    // create group -c: MCPJungle's file and MCPJungle's answer, the endpoint included.
    let file = home.join("group.json");
    let write = |body: Value| std::fs::write(&file, body.to_string()).unwrap();
    let conf = file.to_str().unwrap();
    write(json!({"name": "claude-tools", "description": "for Claude", "included_tools": ["fx__echo"],
                 "included_servers": ["fx2"], "excluded_tools": ["fx2__fail"]}));
    let endpoint = format!("{base}/v0/groups/claude-tools/mcp");
    let out = cli.run(&["create", "group", "-c", conf]).await;
    assert_eq!(
        out.ok(),
        format!(
            "Tool Group claude-tools created successfully\n\
             It is now accessible at the following streamable http endpoint:\n\n    {endpoint}\n\n"
        )
    );
    cli.run(&["create", "group", "-c", conf]).await.failed_with("canopy: CONFLICT: ");
    write(json!({"description": "no name"}));
    cli.run(&["create", "group", "-c", conf]).await.failed_with("must name the group");
    write(json!({"name": "odd", "included_toolz": ["fx__add"]}));
    cli.run(&["create", "group", "-c", conf]).await.failed_with("canopy: INVALID_REQUEST: ");
    let out = cli.run(&["create", "group", "-c", home.join("missing.json").to_str().unwrap()]).await;
    out.failed_with("missing.json");

    // list groups: a table, and --json the API's array.
    let out = cli.run(&["list", "groups"]).await;
    let table = out.ok();
    assert!(table.starts_with("NAME "), "{table}");
    assert_eq!(row(table, "claude-tools"), ["claude-tools", endpoint.as_str(), "for", "Claude"]);
    assert_eq!(table.lines().count(), 2, "the rejected files made no group: {table}");
    let groups = cli.run(&["list", "groups", "--json"]).await.json();
    assert_eq!(names_of(&groups), ["claude-tools"]);
    assert_eq!(groups[0]["endpoint"], endpoint);

    // list tools --group: the group's effective tools, exactly.
    let mut expected: Vec<String> = fx2_tools.iter().filter(|t| *t != "fx2__fail").cloned().collect();
    expected.push("fx__echo".into());
    expected.sort();
    let out = cli.run(&["list", "tools", "--group", "claude-tools"]).await;
    let table = out.ok();
    assert!(table.starts_with("NAME "), "{table}");
    assert_eq!(first_column(table), expected, "{table}");
    assert_eq!(row(table, "fx__echo")[1], "yes");
    let listed = cli.run(&["--json", "list", "tools", "--group", "claude-tools"]).await.json();
    assert_eq!(names_of(&listed), expected);
    cli.run(&["list", "tools", "--group", "nope"]).await.failed_with("canopy: NOT_FOUND: group 'nope' does not exist");
    let out = cli.run(&["list", "tools", "--group", "claude-tools", "--server", "fx"]).await;
    assert_eq!(out.code, Some(2), "--server and --group together are a usage error: {}", out.stderr);

    // invoke --group: a member is called; a non-member or an excluded tool is refused, uncalled.
    let out =
        cli.run(&["invoke", "fx__echo", "--group", "claude-tools", "--input", r#"{"message": "in group"}"#]).await;
    assert_eq!(out.ok(), "in group\n");
    let out = cli.run(&["invoke", "fx2__add", "--group", "claude-tools", "--input", r#"{"a": 1, "b": 2}"#]).await;
    assert!(out.ok().starts_with("3\n"), "{}", out.stdout);
    let out = cli.run(&["invoke", "fx__add", "--group", "claude-tools", "--input", r#"{"a": 1, "b": 2}"#]).await;
    out.failed_with("tool fx__add is not in group claude-tools");
    assert!(out.stderr.contains("canopy list tools --group claude-tools"), "{}", out.stderr);
    assert_eq!(out.stdout, "", "refused before any call");
    let out = cli.run(&["invoke", "fx2__fail", "--group", "claude-tools", "--input", r#"{"message": "x"}"#]).await;
    out.failed_with("tool fx2__fail is not in group claude-tools");
    assert_eq!(out.stdout, "");
    let out = cli.run(&["invoke", "fx__echo", "--group", "nope", "--input", r#"{"message": "x"}"#]).await;
    out.failed_with("canopy: NOT_FOUND: group 'nope' does not exist");
    // Without --group the same tool is callable: the refusal was the group's.
    assert!(cli.run(&["invoke", "fx__add", "--input", r#"{"a": 1, "b": 2}"#]).await.ok().starts_with("3\n"));

    // get group: the rules, the endpoint and the effective tools.
    let out = cli.run(&["get", "group", "claude-tools"]).await;
    let text = out.ok();
    assert!(
        text.starts_with(&format!(
            "claude-tools\nDescription: for Claude\n\nMCP streamable http endpoint:\n    {endpoint}\n"
        )),
        "{text}"
    );
    assert!(text.contains("\nIncluded tools:\n  1. fx__echo\n"), "{text}");
    assert!(text.contains("\nIncluded servers:\n  1. fx2\n"), "{text}");
    assert!(text.contains("\nExcluded tools:\n  1. fx2__fail\n"), "{text}");
    assert!(!text.contains("prompts"), "unused prompt lists are not shown: {text}");
    assert!(
        text.contains(&format!("\nEffective tools ({}), what the endpoint offers now:\n", expected.len())),
        "{text}"
    );
    assert!(text.contains("\n  - fx__echo  "), "{text}");
    assert!(!text.contains("- fx__add") && !text.contains("- fx2__fail"), "{text}");
    let group = cli.run(&["get", "group", "claude-tools", "--json"]).await.json();
    assert_eq!(group["name"], "claude-tools");
    assert_eq!(group["included_servers"], json!(["fx2"]));
    assert_eq!(names_of(&group["effective_tools"]), expected);
    cli.run(&["get", "group", "nope"]).await.failed_with("canopy: NOT_FOUND: group 'nope' does not exist");

    // A disabled member leaves the group's tools, and invoke --group refuses it, until enabled.
    cli.run(&["disable", "tool", "fx__echo"]).await.ok();
    let listed = cli.run(&["--json", "list", "tools", "--group", "claude-tools"]).await.json();
    assert!(!names_of(&listed).contains(&"fx__echo".to_string()), "{listed}");
    cli.run(&["invoke", "fx__echo", "--group", "claude-tools", "--input", r#"{"message": "x"}"#])
        .await
        .failed_with("tool fx__echo is not in group claude-tools");
    cli.run(&["enable", "tool", "fx__echo"]).await.ok();
    let listed = cli.run(&["--json", "list", "tools", "--group", "claude-tools"]).await.json();
    assert_eq!(names_of(&listed), expected);

    // update group -c: in place, the name from the file, the changes summarised.
    write(json!({"name": "claude-tools", "description": "now smaller", "included_tools": ["fx__add", "fx__echo"]}));
    let out = cli.run(&["update", "group", "-c", conf]).await;
    assert_eq!(
        out.ok(),
        "Tool Group claude-tools updated successfully\n\n\
         * description updated from:\n    for Claude\n  to:\n    now smaller\n\
         * included_tools:\n    + fx__add\n\
         * included_servers:\n    - fx2\n\
         * excluded_tools:\n    - fx2__fail\n"
    );
    let out = cli.run(&["list", "tools", "--group", "claude-tools"]).await;
    assert_eq!(first_column(out.ok()), ["fx__add", "fx__echo"], "{}", out.stdout);
    let out = cli.run(&["invoke", "fx__add", "--group", "claude-tools", "--input", r#"{"a": 2, "b": 3}"#]).await;
    assert!(out.ok().starts_with("5\n"), "{}", out.stdout);
    cli.run(&["invoke", "fx2__add", "--group", "claude-tools", "--input", r#"{"a": 2, "b": 3}"#])
        .await
        .failed_with("tool fx2__add is not in group claude-tools");
    let out = cli.run(&["update", "group", "-c", conf]).await;
    assert_eq!(out.ok(), "No changes detected for Tool Group claude-tools. Nothing was updated.\n");
    let group = cli.run(&["get", "group", "claude-tools", "--json"]).await.json();
    assert_eq!(group["description"], "now smaller");
    assert_eq!(group["included_servers"], json!([]));
    write(json!({"name": "claude-tools", "description": "json", "included_tools": ["fx__echo"]}));
    let group = cli.run(&["--json", "update", "group", "-c", conf]).await.json();
    assert_eq!((&group["description"], &group["included_tools"]), (&json!("json"), &json!(["fx__echo"])));
    write(json!({"name": "nope", "included_tools": ["fx__echo"]}));
    cli.run(&["update", "group", "-c", conf]).await.failed_with("canopy: NOT_FOUND: group 'nope' does not exist");
    assert_eq!(names_of(&cli.run(&["list", "groups", "--json"]).await.json()), ["claude-tools"]);

    // delete group: gone; a second time NOT_FOUND.
    let out = cli.run(&["delete", "group", "claude-tools"]).await;
    assert_eq!(out.ok(), "Tool Group claude-tools deleted successfully\n");
    assert_eq!(cli.run(&["list", "groups", "--json"]).await.json(), json!([]));
    cli.run(&["list", "tools", "--group", "claude-tools"]).await.failed_with("canopy: NOT_FOUND: ");
    cli.run(&["delete", "group", "claude-tools"]).await.failed_with("canopy: NOT_FOUND: ");

    d.terminate("all").await;
    let _ = std::fs::remove_dir_all(home);
}

#[tokio::test]
async fn cli_prompts_and_resources() {
    let mut d = Deployment::new().await;
    let base = d.spawn("all", &["start"]).await;
    let conformance = canopy_fixture_server::serve_http(
        "127.0.0.1:0".parse().unwrap(),
        canopy_fixture_server::FixtureOptions { conformance: true, ..Default::default() },
    )
    .await
    .unwrap();
    let plain = fixture().await;
    let home = temp_home("prompts");
    let cli = Cli { base: base.clone(), home: home.clone() };
    cli.run(&["register", "--name", "conf", "--url", &conformance.url()]).await.ok();
    cli.run(&["register", "--name", "fx", "--url", &plain.url()]).await.ok();

    // list prompts: every prompt of the conformance fixture, its arguments shown.
    let out = cli.run(&["list", "prompts"]).await;
    let table = out.ok();
    assert!(table.starts_with("NAME "), "{table}");
    let prompts = [
        "conf__test_input_required_result_prompt",
        "conf__test_prompt_with_arguments",
        "conf__test_prompt_with_embedded_resource",
        "conf__test_prompt_with_image",
        "conf__test_simple_prompt",
    ];
    assert_eq!(first_column(table), prompts, "{table}");
    assert_eq!(
        row(table, "conf__test_simple_prompt"),
        ["conf__test_simple_prompt", "yes", "-", "A", "simple", "prompt", "without", "arguments"]
    );
    assert_eq!(row(table, "conf__test_prompt_with_arguments")[1..3], ["yes", "arg1,arg2"]);
    let listed = cli.run(&["--json", "list", "prompts", "--server", "conf"]).await.json();
    assert_eq!(names_of(&listed), prompts);
    let with_args =
        listed.as_array().unwrap().iter().find(|p| p["name"] == "conf__test_prompt_with_arguments").unwrap();
    assert_eq!(with_args["arguments"][0]["name"], "arg1");
    assert_eq!(cli.run(&["list", "prompts", "--server", "fx"]).await.ok(), "No prompts found.\n");
    cli.run(&["list", "prompts", "--server", "nope"])
        .await
        .failed_with("canopy: NOT_FOUND: server 'nope' is not registered");

    // get prompt: rendered by the upstream, each message's role and content.
    let out = cli.run(&["get", "prompt", "conf__test_simple_prompt"]).await;
    assert_eq!(
        out.ok(),
        "Prompt: conf__test_simple_prompt\nDescription: A simple prompt without arguments\n\n\
         Message 1 (user):\nThis is a simple prompt for testing.\n"
    );
    let out = cli
        .run(&["get", "prompt", "conf__test_prompt_with_arguments", "--arg", "arg1=hello", "--arg", "arg2=big world"])
        .await;
    assert!(
        out.ok().ends_with("\n\nMessage 1 (user):\nPrompt with arguments: arg1='hello', arg2='big world'\n"),
        "{}",
        out.stdout
    );
    let out = cli.run(&["get", "prompt", "conf__test_prompt_with_image"]).await;
    assert!(
        out.ok().ends_with(
            "\n\nMessage 1 (user):\n[image: image/png, 70 bytes]\n\n\
             Message 2 (user):\nPlease analyze the image above.\n"
        ),
        "{}",
        out.stdout
    );
    let out = cli
        .run(&["get", "prompt", "conf__test_prompt_with_embedded_resource", "--arg", "resourceUri=test://static-text"])
        .await;
    assert!(
        out.ok().contains(
            "Message 1 (user):\n[resource: test://static-text]\nEmbedded resource content for testing.\n\n\
             Message 2 (user):\nPlease process the embedded resource above.\n"
        ),
        "{}",
        out.stdout
    );
    let rendered = cli
        .run(&["--json", "get", "prompt", "conf__test_prompt_with_arguments", "--arg", "arg1=a", "--arg", "arg2=b"])
        .await
        .json();
    assert_eq!(rendered["messages"][0]["role"], "user");
    assert_eq!(rendered["messages"][0]["content"]["text"], "Prompt with arguments: arg1='a', arg2='b'");
    // A missing required argument is named with its flag, before the upstream is asked.
    cli.run(&["get", "prompt", "conf__test_prompt_with_arguments", "--arg", "arg1=a"])
        .await
        .failed_with("prompt conf__test_prompt_with_arguments needs --arg arg2=VALUE");
    cli.run(&["get", "prompt", "conf__test_simple_prompt", "--arg", "oops"])
        .await
        .failed_with("--arg 'oops' is not KEY=VALUE");
    let out = cli.run(&["get", "prompt", "conf__test_simple_prompt", "--arg", "extra=1"]).await;
    assert!(out.ok().contains("This is a simple prompt for testing."), "{}", out.stdout);
    assert!(
        out.stderr.contains("warning: prompt conf__test_simple_prompt declares no argument 'extra'"),
        "{}",
        out.stderr
    );
    cli.run(&["get", "prompt", "conf__nope"]).await.failed_with("canopy: NOT_FOUND: prompt 'conf__nope' not found");
    // A disabled prompt is unknown, and back when enabled.
    cli.run(&["disable", "prompt", "conf__test_simple_prompt"]).await.ok();
    let out = cli.run(&["list", "prompts"]).await;
    assert_eq!(row(out.ok(), "conf__test_simple_prompt")[1], "no");
    cli.run(&["get", "prompt", "conf__test_simple_prompt"]).await.failed_with("canopy: NOT_FOUND: ");
    cli.run(&["enable", "prompt", "conf__test_simple_prompt"]).await.ok();
    assert!(cli.run(&["get", "prompt", "conf__test_simple_prompt"]).await.ok().contains("simple prompt for testing"));

    // list resources: resources and the template, as canopy:// URIs.
    let out = cli.run(&["list", "resources"]).await;
    let table = out.ok();
    assert!(table.starts_with("URI "), "{table}");
    assert_eq!(
        row(table, "canopy://conf/test://static-text"),
        ["canopy://conf/test://static-text", "resource", "yes", "text/plain", "A", "static", "text", "resource"]
    );
    assert_eq!(row(table, "canopy://conf/test://static-binary")[1..4], ["resource", "yes", "image/png"]);
    assert_eq!(row(table, "canopy://conf/test://template/{id}/data")[1..4], ["template", "yes", "application/json"]);
    let listed = cli.run(&["list", "resources", "--server", "conf", "--json"]).await.json();
    let mut uris: Vec<&str> = listed.as_array().unwrap().iter().map(|r| r["uri"].as_str().unwrap()).collect();
    uris.sort();
    assert_eq!(
        uris,
        [
            "canopy://conf/test://static-binary",
            "canopy://conf/test://static-text",
            "canopy://conf/test://template/{id}/data",
            "canopy://conf/test://watched-resource"
        ]
    );
    assert_eq!(cli.run(&["list", "resources", "--server", "fx"]).await.ok(), "No resources found.\n");

    // read resource: text as it is, a blob as its type and size, --json the API's result.
    let text = "This is the content of the static text resource.\n";
    assert_eq!(cli.run(&["read", "resource", "canopy://conf/test://static-text"]).await.ok(), text);
    assert_eq!(cli.run(&["read", "resource", "test://static-text"]).await.ok(), text, "the upstream's URI");
    let out = cli.run(&["read", "resource", "canopy://conf/test://static-binary"]).await;
    assert_eq!(out.ok(), "[blob: image/png, 70 bytes; --json shows it base64-encoded]\n");
    let read = cli.run(&["read", "resource", "canopy://conf/test://static-binary", "--json"]).await.json();
    assert_eq!(read["contents"][0]["mimeType"], "image/png");
    assert!(read["contents"][0]["blob"].as_str().unwrap().starts_with("iVBORw0KGgo"), "{read}");
    let out = cli.run(&["read", "resource", "canopy://conf/test://template/42/data"]).await;
    assert!(out.ok().contains("Data for ID: 42"), "{}", out.stdout);
    let out = cli.run(&["read", "resource", "test://template/7/data", "--server", "conf"]).await;
    assert!(out.ok().contains("Data for ID: 7"), "{}", out.stdout);
    cli.run(&["read", "resource", "test://template/7/data"]).await.failed_with("no registered server lists a resource");
    cli.run(&["read", "resource", "canopy://conf/test://nope"]).await.failed_with("canopy: ");
    cli.run(&["read", "resource", "canopy://nope/test://static-text"])
        .await
        .failed_with("canopy: NOT_FOUND: server 'nope' is not registered");
    cli.run(&["disable", "resource", "canopy://conf/test://static-text"]).await.ok();
    cli.run(&["read", "resource", "canopy://conf/test://static-text"]).await.failed_with("canopy: NOT_FOUND: ");
    cli.run(&["enable", "resource", "canopy://conf/test://static-text"]).await.ok();
    assert_eq!(cli.run(&["read", "resource", "canopy://conf/test://static-text"]).await.ok(), text);

    d.terminate("all").await;
    let _ = std::fs::remove_dir_all(home);
}

#[tokio::test]
async fn cli_export_is_config_as_code_without_secrets() {
    let mut d = Deployment::new().await;
    let base = d.spawn("all", &["start"]).await;
    let upstream = fixture().await;
    let home = temp_home("export");
    let cli = Cli { base: base.clone(), home: home.clone() };

    // Three servers with secrets of each kind, and a group.
    let token_secret = "tok-secret-1";
    let header_secret = "hdr-secret-2";
    let env_secret = "env-secret-3";
    cli.run(&[
        "register",
        "--name",
        "fx",
        "--url",
        &upstream.url(),
        "--description",
        "by flags",
        "--bearer-token",
        token_secret,
    ])
    .await
    .ok();
    let file = home.join("server.json");
    let fx2 = json!({"name": "fx2", "transport": "streamable_http", "description": "from a file",
                     "url": upstream.url(), "headers": {"X-Fixture": header_secret}});
    std::fs::write(&file, fx2.to_string()).unwrap();
    cli.run(&["register", "-c", file.to_str().unwrap()]).await.ok();
    let stdio = json!({"name": "local", "transport": "stdio", "description": "over stdio",
                       "command": fixture_binary(), "args": ["--transport", "stdio"],
                       "env": {"CLI_TEST_SECRET": env_secret}});
    std::fs::write(&file, stdio.to_string()).unwrap();
    cli.run(&["register", "-c", file.to_str().unwrap()]).await.ok();
    let group = json!({"name": "team", "description": "the team's tools", "included_tools": ["fx__add"],
                       "included_servers": ["fx2"], "excluded_tools": ["fx2__fail"],
                       "included_prompts": [], "excluded_prompts": [],
                       "included_resources": [], "excluded_resources": []});
    let group_file = home.join("group.json");
    std::fs::write(&group_file, group.to_string()).unwrap();
    cli.run(&["create", "group", "-c", group_file.to_str().unwrap()]).await.ok();

    // export: one JSON document, every registration and group, secrets as "***".
    let out = cli.run(&["export"]).await;
    let doc = out.json();
    for secret in [token_secret, header_secret, env_secret] {
        assert!(!out.stdout.contains(secret), "{secret} leaked:\n{}", out.stdout);
    }
    let notes = doc["notes"].as_array().unwrap_or_else(|| panic!("no notes: {doc}"));
    let notes: Vec<&str> = notes.iter().map(|n| n.as_str().unwrap()).collect();
    assert!(notes.iter().any(|n| n.contains("\"***\"") && n.contains("must be replaced")), "{notes:?}");
    assert!(notes.contains(&"server fx: fill in bearer_token"), "{notes:?}");
    assert!(notes.contains(&"server fx2: fill in headers.X-Fixture"), "{notes:?}");
    assert!(notes.contains(&"server local: fill in env.CLI_TEST_SECRET"), "{notes:?}");
    let servers = &doc["servers"];
    assert_eq!(names_of(servers), ["fx", "fx2", "local"]);
    let server = |name: &str| servers.as_array().unwrap().iter().find(|s| s["name"] == name).unwrap().clone();
    assert_eq!(
        server("fx"),
        json!({"name": "fx", "transport": "streamable_http", "description": "by flags", "url": upstream.url(),
               "bearer_token": "***", "session_mode": "stateless"})
    );
    assert_eq!(server("fx2")["headers"], json!({"X-Fixture": "***"}));
    assert_eq!(server("fx2")["url"], upstream.url());
    assert_eq!(server("local")["env"], json!({"CLI_TEST_SECRET": "***"}));
    assert_eq!(server("local")["command"], stdio["command"]);
    assert_eq!(server("local")["args"], json!(["--transport", "stdio"]));
    assert_eq!(doc["groups"], json!([group]), "the group exactly as it was created");

    // --output FILE: the same document in the file, a summary on stdout.
    let exported = home.join("canopy-export.json");
    let out = cli.run(&["export", "--output", exported.to_str().unwrap()]).await;
    assert_eq!(
        out.ok(),
        format!(
            "Exported 3 servers and 1 groups to {}\n3 secret values are \"***\" placeholders: fill them in \
             before applying (see \"notes\").\n",
            exported.display()
        )
    );
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&exported).unwrap()).unwrap();
    assert_eq!(written, doc);
    let quiet = home.join("quiet.json");
    let out = cli.run(&["--json", "export", "-o", quiet.to_str().unwrap()]).await;
    assert_eq!(out.ok(), "");
    assert_eq!(serde_json::from_str::<Value>(&std::fs::read_to_string(&quiet).unwrap()).unwrap(), doc);

    // Re-applied: fx2's entry with its secret filled in registers again, and the group's entry
    // creates the group again.
    cli.run(&["delete", "group", "team"]).await.ok();
    cli.run(&["deregister", "fx2"]).await.ok();
    let mut again = server("fx2");
    again["headers"]["X-Fixture"] = json!(header_secret);
    std::fs::write(&file, again.to_string()).unwrap();
    let out = cli.run(&["register", "-c", file.to_str().unwrap()]).await;
    assert!(out.ok().starts_with("Server fx2 registered successfully!\n"), "{}", out.stdout);
    assert!(cli.run(&["invoke", "fx2__whoami"]).await.ok().contains(&format!("x-fixture: {header_secret}")));
    std::fs::write(&group_file, doc["groups"][0].to_string()).unwrap();
    let out = cli.run(&["create", "group", "-c", group_file.to_str().unwrap()]).await;
    assert!(out.ok().starts_with("Tool Group team created successfully\n"), "{}", out.stdout);
    assert_eq!(cli.run(&["export"]).await.json(), doc, "the same configuration again");

    d.terminate("all").await;
    let _ = std::fs::remove_dir_all(home);
}
