// Connect: the signed-in principal (GET /api/v0/me), its MCP endpoints (`/mcp`, each server's
// and group's the API lists for it) and, for the endpoint chosen, paste-ready configurations:
// Claude Desktop, Claude Code, Cursor, VS Code, the MCP Inspector, and `canopy stdio` for
// clients that launch a process. No configuration holds a credential: in development mode the
// endpoints need none; in enterprise mode each client signs in itself with OAuth at Canopy's
// authorization server (the endpoints answer 401 with their protected-resource metadata), or
// `canopy login --oauth` once for the stdio bridge. The console's own token never leaves it.
import { h, field, replace } from "../dom.js";
import { api, call } from "../api.js";

function copyButton(ctx, label, text) {
  return h(
    "button",
    {
      type: "button",
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(text);
          ctx.notify(`Copied the ${label}.`);
        } catch {
          ctx.notify("The browser did not allow copying: select the text instead.", "error");
        }
      },
    },
    `Copy the ${label}`,
  );
}

function snippet(ctx, title, where, text) {
  return h(
    "article",
    { class: "card" },
    h("h3", {}, title),
    h("p", { class: "hint" }, where),
    h("pre", { class: "json", tabindex: "0", "aria-label": title }, text),
    copyButton(ctx, `${title} configuration`, text),
  );
}

/** Who is signed in: the identity the endpoints below answer as, when clients sign in as you. */
function principal(me) {
  const row = (label, value) => [h("dt", {}, label), h("dd", {}, value)];
  return h(
    "article",
    { class: "card", "aria-labelledby": "principal-h" },
    h("h2", { id: "principal-h" }, "Signed in as"),
    h(
      "dl",
      { class: "facts", "aria-label": "Signed-in principal" },
      row("Principal", h("code", {}, me.subject || me.name)),
      row("Kind", me.kind),
      me.role ? row("Role", me.role) : null,
      me.tenant ? row("Tenant", me.tenant) : null,
      row("Scopes", me.scopes ? me.scopes.join(" ") : "not limited by a scope"),
      row("Manages the tenant", me.manages_tenant ? "yes" : "no"),
    ),
  );
}

/**
 * The principal's endpoints: `/mcp`, then each server's and group's. Each has the URL, the key
 * a client's configuration names it by, and the `canopy stdio` flags that reach it.
 */
function endpointsOf(base, servers, groups) {
  return [
    { label: "Everything you may see", url: `${base}/mcp`, key: "canopy", flags: [] },
    ...servers.map((s) => ({
      label: `Server ${s.name} (tool names unprefixed)`,
      url: `${base}/servers/${encodeURIComponent(s.name)}/mcp`,
      key: `canopy-${s.name}`,
      flags: ["--server", s.name],
    })),
    ...groups.map((g) => ({
      label: `Group ${g.name}`,
      url: `${base}/groups/${encodeURIComponent(g.name)}/mcp`,
      key: `canopy-group-${g.name}`,
      flags: ["--group", g.name],
    })),
  ];
}

/** A shell word: as it is when it is plain, else in single quotes. */
function shellWord(word) {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}

/** The configurations for one endpoint. */
function configurations(ctx, base, enterprise, endpoint) {
  const { url, key, flags } = endpoint;
  const text = (v) => JSON.stringify(v, null, 2);
  const stdioArgs = ["stdio", "--registry", base, ...flags];
  const stdioLine = ["canopy", ...stdioArgs].map(shellWord).join(" ");
  const login = ["canopy", "login", "--oauth", "--registry", base, ...flags].map(shellWord).join(" ");
  const inspector = enterprise
    ? // The Inspector's CLI has no OAuth of its own: it runs the stdio bridge, signed in once
      // (after `--`, so the bridge's flags are not read as the Inspector's).
      `${login}\nnpx @modelcontextprotocol/inspector --cli --method tools/list -- ${stdioLine}`
    : `npx @modelcontextprotocol/inspector --cli ${shellWord(url)} --transport http --method tools/list`;
  const signIn = enterprise
    ? "Signs in with OAuth in the browser the first time it connects."
    : "Development mode: no credentials.";
  return [
    h("h3", { class: "visually-hidden" }, `Configurations for ${endpoint.label}`),
    snippet(
      ctx,
      "Claude Desktop",
      `claude_desktop_config.json, through the mcp-remote bridge. ${signIn}`,
      text({ mcpServers: { [key]: { command: "npx", args: ["-y", "mcp-remote", url] } } }),
    ),
    snippet(ctx, "Claude Code", `A command to run once. ${signIn}`, `claude mcp add --transport http ${shellWord(key)} ${shellWord(url)}`),
    snippet(ctx, "Cursor", `~/.cursor/mcp.json. ${signIn}`, text({ mcpServers: { [key]: { url } } })),
    snippet(ctx, "VS Code", `.vscode/mcp.json. ${signIn}`, text({ servers: { [key]: { type: "http", url } } })),
    snippet(
      ctx,
      "MCP Inspector",
      enterprise
        ? "Commands to run: the Inspector's CLI does not sign in itself, so it lists the tools through the canopy CLI, signed in once."
        : "A command to run: lists the endpoint's tools.",
      inspector,
    ),
    enterprise
      ? snippet(
          ctx,
          "Sign in the canopy CLI",
          "Once, before the stdio bridge below: signs in in the browser and saves the grant for this endpoint in ~/.canopy.conf.",
          login,
        )
      : null,
    snippet(
      ctx,
      "canopy stdio",
      "For a client that launches a process (Claude Desktop, Cursor): the canopy CLI as the server, bridging to this endpoint.",
      text({ mcpServers: { [key]: { command: "canopy", args: stdioArgs } } }),
    ),
    snippet(
      ctx,
      "Claude Code through canopy stdio",
      "A command to run once.",
      `claude mcp add ${shellWord(key)} -- ${stdioLine}`,
    ),
  ];
}

export async function connectPage(ctx) {
  const base = ctx.config.public_url || location.origin;
  const enterprise = ctx.config.mode !== "development";
  const servers = await call(() => api.GET("/api/v0/servers"));
  const groups = await call(() => api.GET("/api/v0/groups")).catch(() => []);
  const endpoints = endpointsOf(base, servers, groups);
  const choice = h(
    "select",
    { name: "endpoint" },
    endpoints.map((e, i) => h("option", { value: String(i) }, `${e.label}: ${e.url}`)),
  );
  const box = h("div", {});
  const show = () => replace(box, configurations(ctx, base, enterprise, endpoints[Number(choice.value)] || endpoints[0]));
  choice.addEventListener("change", show);
  show();
  return h(
    "section",
    { "aria-labelledby": "connect-h" },
    h("h1", { id: "connect-h" }, "Connect"),
    h(
      "p",
      {},
      enterprise
        ? "Enterprise mode: no configuration below holds a token. Each client signs in itself with OAuth at " +
            "Canopy's authorization server, as whoever signs in there, and sees what that principal may see " +
            "(an MCP client identity may send its own token instead)."
        : "Development mode: the endpoints need no credentials (they listen on loopback only).",
    ),
    principal(ctx.me),
    h("h2", {}, "Endpoints"),
    h(
      "ul",
      { class: "endpoints" },
      endpoints.map((e) => h("li", {}, h("span", {}, `${e.label}: `), h("code", {}, e.url))),
      h("li", {}, h("span", {}, "REST admin API: "), h("code", {}, `${base}/api/v0`)),
    ),
    h("h2", { id: "configurations-h" }, "Client configurations"),
    field("Endpoint", choice, "The configurations below connect to this endpoint."),
    box,
  );
}
