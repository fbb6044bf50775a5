// Connect: the signed-in principal (GET /api/v0/me), the MCP endpoint URLs and paste-ready
// client configurations for `/mcp`.
import { h } from "../dom.js";
import { request } from "../api.js";

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

export async function connectPage(ctx) {
  const base = ctx.config.public_url || location.origin;
  const mcp = `${base}/mcp`;
  const servers = await request("GET", "/servers");
  const groups = await request("GET", "/groups").catch(() => []);
  const endpoints = [
    ["Everything you may see", mcp],
    ...servers.map((s) => [`Server ${s.name} (tool names unprefixed)`, `${base}/servers/${encodeURIComponent(s.name)}/mcp`]),
    ...groups.map((g) => [`Group ${g.name}`, `${base}/groups/${encodeURIComponent(g.name)}/mcp`]),
    ["REST admin API", `${base}/api/v0`],
  ];
  const claude = { mcpServers: { canopy: { command: "npx", args: ["-y", "mcp-remote", mcp] } } };
  const cursor = { mcpServers: { canopy: { url: mcp } } };
  const vscode = { servers: { canopy: { type: "http", url: mcp } } };
  const text = (v) => JSON.stringify(v, null, 2);
  return h(
    "section",
    { "aria-labelledby": "connect-h" },
    h("h1", { id: "connect-h" }, "Connect"),
    h(
      "p",
      {},
      ctx.config.mode === "development"
        ? "Development mode: the endpoints need no credentials (they listen on loopback only)."
        : "Enterprise mode: clients sign in with OAuth, or send an MCP client's bearer token.",
    ),
    principal(ctx.me),
    h("h2", {}, "Endpoints"),
    h(
      "ul",
      { class: "endpoints" },
      endpoints.map(([label, url]) => h("li", {}, h("span", {}, `${label}: `), h("code", {}, url))),
    ),
    h("h2", {}, "Client configurations"),
    snippet(ctx, "Claude Desktop", "claude_desktop_config.json (through the mcp-remote bridge)", text(claude)),
    snippet(ctx, "Claude Code", "a command to run once", `claude mcp add --transport http canopy ${mcp}`),
    snippet(ctx, "Cursor", "~/.cursor/mcp.json", text(cursor)),
    snippet(ctx, "VS Code", ".vscode/mcp.json", text(vscode)),
    snippet(ctx, "MCP Inspector", "a command to run", `npx @modelcontextprotocol/inspector --cli ${mcp} --transport http --method tools/list`),
  );
}
