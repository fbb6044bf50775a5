//! `canopy audit`: the tenant's audit log (`GET /api/v0/audit`), newest first, as a table (or
//! the API's JSON with `--json`). Owners and admins only; the filters are the API's, checked by
//! it (a bad one is its `INVALID_REQUEST`).

use super::output;
use super::servers::decode;
use super::Ctx;
use canopy_api::audit::{AuditEntry, AuditKind, AuditOutcome, AuditPage};

#[derive(clap::Args, Debug, Default)]
pub struct AuditArgs {
    /// Only calls (tool calls, prompt gets, resource reads) or only admin actions (changes).
    #[arg(long, value_parser = ["call", "admin"])]
    pub kind: Option<String>,
    /// Only this actor's entries, e.g. user:alice or client:cursor.
    #[arg(long)]
    pub actor: Option<String>,
    /// Only calls to this server, and admin actions on it.
    #[arg(long)]
    pub server: Option<String>,
    /// Only calls of this tool or prompt (the server's own name) or resource URI.
    #[arg(long, visible_alias = "name")]
    pub tool: Option<String>,
    /// Only entries with this outcome.
    #[arg(long, value_parser = ["ok", "tool_error", "error"])]
    pub outcome: Option<String>,
    /// Only entries at or after this time (RFC 3339, e.g. 2026-01-31T08:00:00Z).
    #[arg(long, value_name = "RFC3339")]
    pub since: Option<String>,
    /// Only entries before this time (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    pub until: Option<String>,
    /// Entries per page, 1 to 500 (the API's default: 50).
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// Where to go on: the cursor an earlier page printed.
    #[arg(long, value_name = "C", allow_hyphen_values = true)]
    pub cursor: Option<String>,
}

pub async fn audit(ctx: &Ctx, args: &AuditArgs) -> anyhow::Result<()> {
    let limit = args.limit.map(|n| n.to_string());
    let pairs = [
        ("kind", args.kind.as_deref()),
        ("actor", args.actor.as_deref()),
        ("server", args.server.as_deref()),
        ("name", args.tool.as_deref()),
        ("outcome", args.outcome.as_deref()),
        ("since", args.since.as_deref()),
        ("until", args.until.as_deref()),
        ("limit", limit.as_deref()),
        ("cursor", args.cursor.as_deref()),
    ];
    let query: Vec<(&str, &str)> = pairs.iter().filter_map(|(k, v)| v.map(|v| (*k, v))).collect();
    let raw = ctx.registry.get(&["audit"], &query).await?;
    ctx.show(raw, |raw| Ok(page_text(&decode::<AuditPage>(raw)?)))
}

/// The page as a table, then how to get the next one.
pub fn page_text(page: &AuditPage) -> String {
    let mut out = if page.entries.is_empty() {
        "No audit entries.\n".to_string()
    } else {
        let rows: Vec<Vec<String>> = page.entries.iter().map(row).collect();
        output::table(&["TIME", "KIND", "ACTOR", "WHAT", "OUTCOME", "LATENCY", "ARGS SHA-256"], &rows)
    };
    if let Some(cursor) = &page.next_cursor {
        out.push_str(&format!("More: canopy audit --cursor {cursor} (with the same filters)\n"));
    }
    out
}

fn row(e: &AuditEntry) -> Vec<String> {
    let none = || "-".to_string();
    let (kind, what) = match e.kind {
        AuditKind::Call => (
            "call",
            format!(
                "{} {}/{}",
                e.method.as_deref().unwrap_or("?"),
                e.server.as_deref().unwrap_or("?"),
                e.name.as_deref().unwrap_or("?")
            ),
        ),
        AuditKind::Admin => {
            let mut what = format!(
                "{} {}/{}",
                e.event_type.as_deref().unwrap_or("?"),
                e.aggregate_type.as_deref().unwrap_or("?"),
                e.aggregate_id.as_deref().unwrap_or("?")
            );
            if let Some(summary) = &e.summary {
                what.push_str(&format!(" ({})", output::truncate(summary, 60)));
            }
            ("admin", what)
        }
    };
    let outcome = match (e.outcome, &e.error_code) {
        (AuditOutcome::Ok, _) => "ok".to_string(),
        (AuditOutcome::ToolError, _) => "tool_error".to_string(),
        (AuditOutcome::Error, Some(code)) => format!("error {code}"),
        (AuditOutcome::Error, None) => "error".to_string(),
    };
    vec![
        // RFC 3339 to the second; --json has the microseconds.
        e.at.get(..19).map(|t| format!("{t}Z")).unwrap_or_else(|| e.at.clone()),
        kind.to_string(),
        e.actor.clone(),
        what,
        outcome,
        e.latency_ms.map(|ms| format!("{ms:.1} ms")).unwrap_or_else(none),
        e.arguments_sha256.as_deref().map(|d| d.chars().take(12).collect()).unwrap_or_else(none),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_print_as_tables() {
        let call = AuditEntry {
            kind: AuditKind::Call,
            at: "2026-11-23T01:02:03.456789Z".into(),
            tenant: "default".into(),
            actor: "client:cursor".into(),
            outcome: AuditOutcome::Error,
            call_id: Some("c1".into()),
            server: Some("calc".into()),
            method: Some("tools/call".into()),
            name: Some("add".into()),
            arguments_sha256: Some("adbd982b8fe0bbd8477f09262028d3ac264001dc36e3c7579905e72c0b718755".into()),
            error_code: Some("TIMEOUT".into()),
            latency_ms: Some(1.26),
            event_id: None,
            event_type: None,
            aggregate_type: None,
            aggregate_id: None,
            summary: None,
        };
        let admin = AuditEntry {
            kind: AuditKind::Admin,
            actor: "user:admin".into(),
            outcome: AuditOutcome::Ok,
            call_id: None,
            server: None,
            method: None,
            name: None,
            arguments_sha256: None,
            error_code: None,
            latency_ms: None,
            event_id: Some("e1".into()),
            event_type: Some("server.registered".into()),
            aggregate_type: Some("server".into()),
            aggregate_id: Some("calc".into()),
            summary: Some("transport stdio".into()),
            ..call.clone()
        };
        let text = page_text(&AuditPage { entries: vec![call, admin], next_cursor: Some("abc".into()) });
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("TIME") && lines[0].contains("ARGS SHA-256"), "{text}");
        assert!(lines[1].contains("2026-11-23T01:02:03Z  call   client:cursor  tools/call calc/add"), "{text}");
        assert!(
            lines[1].contains("error TIMEOUT") && lines[1].contains("1.3 ms") && lines[1].ends_with("adbd982b8fe0")
        );
        assert!(
            lines[2].contains("admin  user:admin     server.registered server/calc (transport stdio)  ok"),
            "{text}"
        );
        assert_eq!(lines[3], "More: canopy audit --cursor abc (with the same filters)");
        assert_eq!(page_text(&AuditPage { entries: vec![], next_cursor: None }), "No audit entries.\n");
    }
}
