//! Resource verbs: `list resources [--server]`, `read resource canopy://server/<uri>` (read from
//! the upstream through `POST /api/v0/resources/read`).

use super::output;
use super::servers::decode;
use super::Ctx;
use canopy_api_types::{ReadResourceRequest, ResourceView};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    canopy read resource canopy://docs/file:///README.md\n  \
    canopy read resource file:///README.md --server docs")]
pub struct ReadResourceArgs {
    /// The resource's canopy://server/<uri> (as `canopy list resources` shows it), or the
    /// upstream's own URI when one server alone has it (or with --server).
    pub uri: String,
    /// The server whose resource an upstream URI names.
    #[arg(long)]
    pub server: Option<String>,
}

pub async fn list(ctx: &Ctx, server: Option<&str>) -> anyhow::Result<()> {
    let query: Vec<(&str, &str)> = server.map(|s| ("server", s)).into_iter().collect();
    let raw = ctx.registry.get(&["resources"], &query).await?;
    ctx.show(raw, |raw| Ok(table(&decode::<Vec<_>>(raw)?)))
}

pub fn table(resources: &[ResourceView]) -> String {
    if resources.is_empty() {
        return "No resources found.\n".into();
    }
    let rows: Vec<Vec<String>> = resources
        .iter()
        .map(|r| {
            let d = &r.definition;
            let about = ["description", "title", "name"].iter().find_map(|k| d[*k].as_str()).unwrap_or("");
            vec![
                r.uri.clone(),
                if r.is_template { "template" } else { "resource" }.into(),
                if r.enabled { "yes" } else { "no" }.into(),
                d["mimeType"].as_str().unwrap_or("-").into(),
                output::truncate(about, output::DESCRIPTION_WIDTH),
            ]
        })
        .collect();
    output::table(&["URI", "KIND", "ENABLED", "MIME TYPE", "DESCRIPTION"], &rows)
}

pub async fn read(ctx: &Ctx, args: &ReadResourceArgs) -> anyhow::Result<()> {
    let uri = if args.uri.starts_with("canopy://") {
        anyhow::ensure!(args.server.is_none(), "--server goes with an upstream URI, not with a canopy:// one");
        args.uri.clone()
    } else {
        let query: Vec<(&str, &str)> = args.server.as_deref().map(|s| ("server", s)).into_iter().collect();
        let listed: Vec<ResourceView> = decode(ctx.registry.get(&["resources"], &query).await?)?;
        resolve(&args.uri, args.server.as_deref(), &listed)?
    };
    let body = serde_json::to_value(ReadResourceRequest { uri })?;
    let raw = ctx.registry.post(&["resources", "read"], &[], &body).await?;
    ctx.show(raw, |raw| Ok(output::resource_contents(&raw)))
}

/// The canopy:// URI of an upstream URI: the listed resource that has it, or with `--server`
/// that server's (a URI of one of its templates need not be listed).
fn resolve(uri: &str, server: Option<&str>, listed: &[ResourceView]) -> anyhow::Result<String> {
    let matches: Vec<&ResourceView> =
        listed.iter().filter(|r| !r.is_template && r.definition["uri"].as_str() == Some(uri)).collect();
    match (matches.as_slice(), server) {
        ([one], _) => Ok(one.uri.clone()),
        ([], Some(server)) => Ok(format!("canopy://{server}/{uri}")),
        ([], None) => anyhow::bail!(
            "no registered server lists a resource '{uri}'; `canopy list resources` shows their \
             canopy://server/<uri> names (a URI of a template needs --server)"
        ),
        (many, _) => anyhow::bail!(
            "resource '{uri}' is served by {}; name one with --server or use its canopy:// URI",
            many.iter().map(|r| r.server.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn listed(server: &str, uri: &str, is_template: bool) -> ResourceView {
        ResourceView {
            uri: format!("canopy://{server}/{uri}"),
            server: server.into(),
            is_template,
            enabled: true,
            definition: if is_template { json!({"uriTemplate": uri}) } else { json!({"uri": uri, "name": "x"}) },
        }
    }

    #[test]
    fn upstream_uris_resolve() {
        let all =
            [listed("a", "test://one", false), listed("b", "test://one", false), listed("b", "test://two", false)];
        assert_eq!(resolve("test://two", None, &all).unwrap(), "canopy://b/test://two");
        let e = resolve("test://one", None, &all).unwrap_err().to_string();
        assert!(e.contains("served by a, b"), "{e}");
        assert!(resolve("test://none", None, &all).unwrap_err().to_string().contains("no registered server"));
        let t = [listed("b", "test://t/{id}", true)];
        assert_eq!(resolve("test://t/1", Some("b"), &t).unwrap(), "canopy://b/test://t/1");
    }

    #[test]
    fn resource_table() {
        let mut r = listed("fx", "test://one", false);
        r.definition = json!({"uri": "test://one", "name": "one", "mimeType": "text/plain", "description": "First"});
        let text = table(&[r, listed("fx", "test://t/{id}", true)]);
        assert_eq!(
            text,
            "URI                        KIND      ENABLED  MIME TYPE   DESCRIPTION\n\
             canopy://fx/test://one     resource  yes      text/plain  First\n\
             canopy://fx/test://t/{id}  template  yes      -\n"
        );
        assert_eq!(table(&[]), "No resources found.\n");
    }
}
