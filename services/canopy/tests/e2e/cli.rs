//! The client verbs (`register`, `list`, `get`, `usage`, `invoke`, `deregister`) run as the real
//! `canopy` binary against a real `canopy start` and the fixture upstream, with `$HOME` pointed
//! at a fresh directory so no developer's `~/.canopy.conf` leaks in.

use crate::harness::{fixture, free_port, Deployment};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        &self.stdout
    }
    /// Exit status 1, and stderr is exactly one `canopy: ...` line containing `fragment`.
    fn failed_with(&self, fragment: &str) {
        assert_eq!(self.code, Some(1), "stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        assert!(
            self.stderr.starts_with("canopy: ") && self.stderr.contains(fragment),
            "stderr should contain '{fragment}':\n{}",
            self.stderr
        );
    }
    fn json(&self) -> Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

/// Runs `canopy ARGS` with `HOME=home`, asynchronously (the fixture upstream lives on this
/// test's runtime and must keep answering while the CLI waits).
async fn canopy(home: &Path, args: &[&str]) -> Run {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_canopy"))
            .args(args)
            .env("HOME", home)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("canopy {args:?} did not finish in 60s"))
    .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

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

fn temp_home(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(canopy_testkit::unique(&format!("cli-home-{tag}")));
    std::fs::create_dir_all(&dir).unwrap();
    dir
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
    cli.run(&add).await.failed_with("canopy: FORBIDDEN: tool 'fx__add' is disabled");
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
    cli.run(&["invoke", "fx2__echo", "--input", r#"{"message": "x"}"#]).await.failed_with("canopy: FORBIDDEN: ");
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
