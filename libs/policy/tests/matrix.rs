//! The whole policy as a table: tenants x principals x targets x actions, every cell written out
//! by hand (never computed with the engine's own logic), then checked against `decide`.
//!
//! Cells are three letters, for Discover, Use and Manage:
//! - `A` allow; `N` not found;
//! - `m` forbidden, members cannot manage; `c` forbidden, clients cannot manage;
//!   `o` forbidden, operator only;
//! - `t` `p` `r` `a`: insufficient scope, needing mcp:tools, mcp:prompts, mcp:resources, canopy:admin.

use canopy_domain::group::GroupSpec;
use canopy_domain::TenantId;
use canopy_policy::{
    decide, Action, AllowList, Decision, Denial, ForbiddenReason, GridTool, Principal, Role, Scopes, Target, TenantView,
};

/// The columns of the table, in order.
fn principals() -> [(&'static str, Principal); 9] {
    let acme = tenant("acme");
    let set = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
    // One server, one group, and one single tool of a third server.
    let partial = AllowList { servers: set(&["github"]), groups: set(&["triage"]), tools: set(&["time__now"]) };
    [
        ("op", Principal::operator("operator:root")),
        ("own", Principal::user(acme.clone(), "user:olivia", Role::Owner)),
        ("adm", Principal::user(acme.clone(), "user:adam", Role::Admin)),
        ("mem", Principal::user(acme.clone(), "user:mia", Role::Member)),
        ("cli", Principal::client(acme.clone(), "client:cursor", partial.clone())),
        ("all", Principal::client(acme.clone(), "client:ci", AllowList::everything())),
        ("prm", Principal::client(acme, "client:prompts", partial).with_scopes(Scopes::parse("mcp:prompts"))),
        ("dev", Principal::development()),
        ("gown", Principal::user(tenant("globex"), "user:gary", Role::Owner)),
    ]
}

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

fn servers(names: &[&str]) -> GroupSpec {
    GroupSpec { included_servers: names.iter().map(|s| s.to_string()).collect(), ..GroupSpec::default() }
}

/// Each tenant's groups. Both acme and globex have a `triage` group, with different members.
fn view(tenant: &str) -> TenantView {
    match tenant {
        "acme" => TenantView::new()
            .with_group(
                "triage",
                GroupSpec {
                    excluded_tools: vec!["jira__delete_issue".into()],
                    excluded_prompts: vec!["jira__internal".into()],
                    ..servers(&["jira"])
                },
            )
            .with_group("ops", servers(&["secret"])),
        "globex" => TenantView::new()
            .with_group("triage", servers(&["github", "payroll"]))
            .with_group("finance", servers(&["payroll"])),
        "default" => TenantView::new().with_group("triage", servers(&["github"])),
        other => panic!("no view for {other}"),
    }
}

type Row = (&'static str, Target<'static>, [&'static str; 9]);

#[rustfmt::skip]
fn table() -> Vec<Row> {
    use Target as T;
    vec![
        // acme: github is in the partial allow list as a server.
        //                                                         op     own    adm    mem    cli    all    prm    dev    gown
        ("acme",    T::tool("github", "create_issue"),           ["NNN", "AAA", "AAA", "AAm", "AAc", "AAc", "ttc", "NNN", "NNN"]),
        ("acme",    T::prompt("github", "review"),               ["NNN", "AAA", "AAA", "AAm", "AAc", "AAc", "AAc", "NNN", "NNN"]),
        ("acme",    T::resource("github", "repo://readme"),      ["NNN", "AAA", "AAA", "AAm", "AAc", "AAc", "rrc", "NNN", "NNN"]),
        ("acme",    T::template("github", "repo://{path}"),      ["NNN", "AAA", "AAA", "AAm", "AAc", "AAc", "rrc", "NNN", "NNN"]),
        ("acme",    T::server("github"),                         ["NNN", "AAA", "AAA", "AAm", "AAc", "AAc", "AAc", "NNN", "NNN"]),
        // acme: jira only through the group triage, which excludes one tool and one prompt.
        ("acme",    T::tool("jira", "search"),                   ["NNN", "AAA", "AAA", "AAm", "AAc", "AAc", "ttc", "NNN", "NNN"]),
        ("acme",    T::tool("jira", "delete_issue"),             ["NNN", "AAA", "AAA", "AAm", "NNN", "AAc", "NNN", "NNN", "NNN"]),
        ("acme",    T::prompt("jira", "summary"),                ["NNN", "AAA", "AAA", "AAm", "AAc", "AAc", "AAc", "NNN", "NNN"]),
        ("acme",    T::prompt("jira", "internal"),               ["NNN", "AAA", "AAA", "AAm", "NNN", "AAc", "NNN", "NNN", "NNN"]),
        ("acme",    T::resource("jira", "jira://board"),         ["NNN", "AAA", "AAA", "AAm", "AAc", "AAc", "rrc", "NNN", "NNN"]),
        ("acme",    T::template("jira", "jira://issue/{id}"),    ["NNN", "AAA", "AAA", "AAm", "AAc", "AAc", "rrc", "NNN", "NNN"]),
        ("acme",    T::server("jira"),                           ["NNN", "AAA", "AAA", "AAm", "NNN", "AAc", "NNN", "NNN", "NNN"]),
        ("acme",    T::group("triage"),                          ["NNN", "AAA", "AAA", "AAm", "AAc", "AAc", "AAc", "NNN", "NNN"]),
        // acme: time only through the single tool time__now.
        ("acme",    T::tool("time", "now"),                      ["NNN", "AAA", "AAA", "AAm", "AAc", "AAc", "ttc", "NNN", "NNN"]),
        ("acme",    T::tool("time", "convert"),                  ["NNN", "AAA", "AAA", "AAm", "NNN", "AAc", "NNN", "NNN", "NNN"]),
        ("acme",    T::prompt("time", "now"),                    ["NNN", "AAA", "AAA", "AAm", "NNN", "AAc", "NNN", "NNN", "NNN"]),
        ("acme",    T::resource("time", "time://zones"),         ["NNN", "AAA", "AAA", "AAm", "NNN", "AAc", "NNN", "NNN", "NNN"]),
        ("acme",    T::server("time"),                           ["NNN", "AAA", "AAA", "AAm", "NNN", "AAc", "NNN", "NNN", "NNN"]),
        // acme: secret is in no allow list, only in the group ops.
        ("acme",    T::tool("secret", "leak"),                   ["NNN", "AAA", "AAA", "AAm", "NNN", "AAc", "NNN", "NNN", "NNN"]),
        ("acme",    T::prompt("secret", "leak"),                 ["NNN", "AAA", "AAA", "AAm", "NNN", "AAc", "NNN", "NNN", "NNN"]),
        ("acme",    T::resource("secret", "secret://root"),      ["NNN", "AAA", "AAA", "AAm", "NNN", "AAc", "NNN", "NNN", "NNN"]),
        ("acme",    T::template("secret", "secret://{key}"),     ["NNN", "AAA", "AAA", "AAm", "NNN", "AAc", "NNN", "NNN", "NNN"]),
        ("acme",    T::server("secret"),                         ["NNN", "AAA", "AAA", "AAm", "NNN", "AAc", "NNN", "NNN", "NNN"]),
        ("acme",    T::group("ops"),                             ["NNN", "AAA", "AAA", "AAm", "NNN", "AAc", "NNN", "NNN", "NNN"]),
        // acme: a server registered after the clients were created.
        ("acme",    T::server("registered-later"),               ["NNN", "AAA", "AAA", "AAm", "NNN", "AAc", "NNN", "NNN", "NNN"]),
        ("acme",    T::tool("registered-later", "new"),          ["NNN", "AAA", "AAA", "AAm", "NNN", "AAc", "NNN", "NNN", "NNN"]),
        ("acme",    T::Tenant,                                   ["NNN", "AAA", "AAA", "AAm", "AAc", "AAc", "AAc", "NNN", "NNN"]),
        ("acme",    T::Platform,                                 ["AAA", "ooo", "ooo", "ooo", "ooo", "ooo", "ooo", "ooo", "ooo"]),
        // acme's jobs: the grid server is in no partial allow list; `all` admits it.
        ("acme",    T::Jobs(GridTool::SubmitJob),                ["NNN", "AAA", "AAA", "AAm", "NNN", "AAc", "NNN", "NNN", "NNN"]),
        ("acme",    T::Jobs(GridTool::GetJob),                   ["NNN", "AAA", "AAA", "AAm", "NNN", "AAc", "NNN", "NNN", "NNN"]),
        ("acme",    T::Jobs(GridTool::GetJobLogs),               ["NNN", "AAA", "AAA", "AAm", "NNN", "AAc", "NNN", "NNN", "NNN"]),
        ("acme",    T::Jobs(GridTool::GetArtifact),              ["NNN", "AAA", "AAA", "AAm", "NNN", "AAc", "NNN", "NNN", "NNN"]),
        // globex, with acme's names: an acme allow list naming github and triage admits nothing here.
        ("globex",  T::tool("github", "create_issue"),           ["NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "AAA"]),
        ("globex",  T::prompt("github", "review"),               ["NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "AAA"]),
        ("globex",  T::resource("github", "repo://readme"),      ["NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "AAA"]),
        ("globex",  T::template("github", "repo://{path}"),      ["NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "AAA"]),
        ("globex",  T::tool("time", "now"),                      ["NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "AAA"]),
        ("globex",  T::server("github"),                         ["NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "AAA"]),
        ("globex",  T::group("triage"),                          ["NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "AAA"]),
        // globex, names acme's principals can only guess.
        ("globex",  T::server("payroll"),                        ["NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "AAA"]),
        ("globex",  T::tool("payroll", "run"),                   ["NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "AAA"]),
        ("globex",  T::prompt("payroll", "summary"),             ["NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "AAA"]),
        ("globex",  T::resource("payroll", "payroll://salaries"),["NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "AAA"]),
        ("globex",  T::group("finance"),                         ["NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "AAA"]),
        ("globex",  T::Tenant,                                   ["NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "AAA"]),
        ("globex",  T::Jobs(GridTool::GetJob),                   ["NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "AAA"]),
        ("globex",  T::Jobs(GridTool::CancelJob),                ["NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "AAA"]),
        ("globex",  T::Platform,                                 ["AAA", "ooo", "ooo", "ooo", "ooo", "ooo", "ooo", "ooo", "ooo"]),
        // default: development mode's tenant.
        ("default", T::tool("github", "create_issue"),           ["NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "AAA", "NNN"]),
        ("default", T::prompt("github", "review"),               ["NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "AAA", "NNN"]),
        ("default", T::resource("github", "repo://readme"),      ["NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "AAA", "NNN"]),
        ("default", T::template("github", "repo://{path}"),      ["NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "AAA", "NNN"]),
        ("default", T::server("github"),                         ["NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "AAA", "NNN"]),
        ("default", T::group("triage"),                          ["NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "AAA", "NNN"]),
        ("default", T::Jobs(GridTool::ListJobs),                 ["NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "AAA", "NNN"]),
        ("default", T::Tenant,                                   ["NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "NNN", "AAA", "NNN"]),
    ]
}

fn expected(code: char) -> Decision {
    let forbidden = |reason| Decision::Deny(Denial::Forbidden { reason });
    let scope = |needed| Decision::Deny(Denial::InsufficientScope { needed });
    match code {
        'A' => Decision::Allow,
        'N' => Decision::Deny(Denial::NotFound),
        'm' => forbidden(ForbiddenReason::MembersCannotManage),
        'c' => forbidden(ForbiddenReason::ClientsCannotManage),
        'o' => forbidden(ForbiddenReason::OperatorOnly),
        't' => scope("mcp:tools"),
        'p' => scope("mcp:prompts"),
        'r' => scope("mcp:resources"),
        'a' => scope("canopy:admin"),
        other => panic!("unknown cell code {other:?}"),
    }
}

#[test]
fn every_cell_of_the_matrix() {
    let principals = principals();
    let actions = [Action::Discover, Action::Use, Action::Manage];
    let mut wrong = Vec::new();
    let (table, mut cells) = (table(), 0);
    for &(tenant_name, target, row) in &table {
        let (tenant, view) = (tenant(tenant_name), view(tenant_name));
        for ((who, principal), codes) in principals.iter().zip(row) {
            assert_eq!(codes.len(), actions.len(), "{tenant_name} {target:?} {who}: one letter per action");
            for (action, code) in actions.into_iter().zip(codes.chars()) {
                cells += 1;
                let got = decide(principal, &tenant, action, &target, &view);
                if got != expected(code) {
                    wrong.push(format!("{tenant_name} {target:?} {who} {action:?}: expected {code}, got {got:?}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{} of {cells} cells differ:\n{}", wrong.len(), wrong.join("\n"));
    assert_eq!(cells, table.len() * principals.len() * actions.len());
}

/// Guessing: whatever an acme principal asks of globex, the answer is the one for a name that
/// exists nowhere, including names that exist in acme and names acme's lists mention.
#[test]
fn another_tenants_names_answer_like_unknown_names() {
    let globex = tenant("globex");
    let (view, empty) = (view("globex"), TenantView::new());
    let guesses = [
        Target::server("payroll"),
        Target::server("no-such-server"),
        Target::group("finance"),
        Target::group("triage"),
        Target::tool("payroll", "run"),
        Target::tool("no-such-server", "run"),
        Target::resource("payroll", "payroll://salaries"),
        Target::template("payroll", "payroll://{id}"),
        Target::prompt("github", "review"),
    ];
    for (who, principal) in principals().iter().filter(|(who, _)| *who != "gown") {
        for target in &guesses {
            for action in [Action::Discover, Action::Use, Action::Manage] {
                let real = decide(principal, &globex, action, target, &view);
                let nowhere = decide(principal, &globex, action, target, &empty);
                assert_eq!(real, Decision::Deny(Denial::NotFound), "{who} {action:?} {target:?}");
                assert_eq!(real, nowhere, "{who} {action:?} {target:?}: the groups of globex must not matter");
            }
        }
    }
}

/// Jobs with OAuth scopes: each grid tool needs Jungle Grid's scope for it, and a client's allow
/// list admits jobs through the `grid` server, a `grid__tool` entry or a group holding the server.
#[test]
fn jobs_need_jungle_grids_scopes_and_the_grid_server_in_a_clients_list() {
    let acme = tenant("acme");
    let view = TenantView::new().with_group("compute", servers(&["grid"]));
    let reader = Principal::user(acme.clone(), "user:r", Role::Member).with_scopes(Scopes::parse("jobs:read"));
    for tool in GridTool::ALL {
        let expected = match tool.scope() {
            "jobs:read" => Decision::Allow,
            needed => Decision::Deny(Denial::InsufficientScope { needed }),
        };
        assert_eq!(decide(&reader, &acme, tool.action(), &Target::Jobs(tool), &view), expected, "{tool:?}");
    }
    let scoped = |scopes| Principal::user(acme.clone(), "user:s", Role::Member).with_scopes(Scopes::parse(scopes));
    for (scopes, tool) in [
        ("jobs:estimate", GridTool::EstimateJob),
        ("jobs:submit", GridTool::SubmitJob),
        ("jobs:submit", GridTool::UploadJobInput),
        ("jobs:submit", GridTool::CancelJob),
        ("logs:read", GridTool::GetJobLogs),
    ] {
        assert!(decide(&scoped(scopes), &acme, tool.action(), &Target::Jobs(tool), &view).is_allow(), "{tool:?}");
    }
    let set = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
    let one_tool =
        Principal::client(acme.clone(), "client:t", AllowList { tools: set(&["grid__get_job"]), ..Default::default() });
    let by_group =
        Principal::client(acme.clone(), "client:g", AllowList { groups: set(&["compute"]), ..Default::default() });
    let by_server =
        Principal::client(acme.clone(), "client:s", AllowList { servers: set(&["grid"]), ..Default::default() });
    for tool in GridTool::ALL {
        let ask = |p: &Principal| decide(p, &acme, tool.action(), &Target::Jobs(tool), &view);
        let only_get_job = if tool == GridTool::GetJob { Decision::Allow } else { Decision::Deny(Denial::NotFound) };
        assert_eq!(ask(&one_tool), only_get_job, "{tool:?}");
        assert_eq!((ask(&by_group), ask(&by_server)), (Decision::Allow, Decision::Allow), "{tool:?}");
    }
    assert_eq!(GridTool::parse("get_job_logs"), Some(GridTool::GetJobLogs));
    assert_eq!(GridTool::parse("grid__get_job"), None);
}
