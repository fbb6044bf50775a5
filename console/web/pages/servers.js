// Servers: the list (status, transport, tool count), registering a Streamable HTTP server,
// enable/disable and deregister (for those who manage the tenant only: a member sees none of
// them); one server's tools, each with its input schema and a "try it" form that calls it
// through POST /api/v0/tools/invoke.
import { h, field, table, json, chip, replace } from "../dom.js";
import { request, query } from "../api.js";
import { schemaFields } from "../schema-form.js";

const path = (name) => `/servers/${encodeURIComponent(name)}`;

export async function serversPage(ctx) {
  const section = h("section", { "aria-labelledby": "servers-h" }, h("h1", { id: "servers-h" }, "Servers"));
  const list = h("div", {});
  const refresh = async () => {
    const servers = await request("GET", "/servers");
    replace(list, serversTable(ctx, servers, refresh));
  };
  await refresh();
  // Registering, toggling and deregistering are for those who manage the tenant: a member sees
  // the servers, not the controls.
  section.append(list);
  if (ctx.manages) section.append(registerForm(ctx, refresh));
  return section;
}

function status(server) {
  return h(
    "span",
    {},
    chip(server.status),
    server.status === "error" && server.status_error ? h("span", { class: "reason" }, ` ${server.status_error}`) : null,
  );
}

function serversTable(ctx, servers, refresh) {
  if (!servers.length) return h("p", {}, "No servers are registered yet.");
  const rows = servers.map((s) => {
    const act = (label, run) =>
      h(
        "button",
        {
          type: "button",
          onclick: async (event) => {
            event.target.disabled = true;
            try {
              await run();
              await refresh();
            } catch (error) {
              ctx.notifyError(error);
              event.target.disabled = false;
            }
          },
        },
        label,
      );
    const builtin = s.transport === "builtin";
    const actions = h(
      "div",
      { class: "actions" },
      s.enabled
        ? act(`Disable ${s.name}`, async () => {
            await request("POST", `${path(s.name)}/disable`);
            ctx.notify(`Disabled ${s.name}: its tools are no longer offered.`);
          })
        : act(`Enable ${s.name}`, async () => {
            await request("POST", `${path(s.name)}/enable`);
            ctx.notify(`Enabled ${s.name}.`);
          }),
      builtin
        ? null
        : act(`Deregister ${s.name}`, async () => {
            if (!window.confirm(`Deregister ${s.name}? Its tools disappear for every client.`)) return;
            await request("DELETE", path(s.name));
            ctx.notify(`Deregistered ${s.name}.`);
          }),
    );
    const cells = [
      h("a", { href: `#/servers/${encodeURIComponent(s.name)}` }, s.name),
      status(s),
      s.transport,
      String(s.tool_count),
      s.enabled ? chip("enabled") : chip("disabled"),
    ];
    return ctx.manages ? [...cells, actions] : cells;
  });
  const headers = ["Name", "Status", "Transport", "Tools", "Enabled"];
  return table("Registered servers", ctx.manages ? [...headers, "Actions"] : headers, rows);
}

function registerForm(ctx, refresh) {
  const name = h("input", { type: "text", name: "name", required: true, autocomplete: "off", pattern: "[A-Za-z0-9_\\-]+" });
  const url = h("input", { type: "url", name: "url", required: true, autocomplete: "off", placeholder: "https://host/mcp" });
  const description = h("input", { type: "text", name: "description", autocomplete: "off" });
  const token = h("input", { type: "password", name: "bearer_token", autocomplete: "off" });
  const form = h(
    "form",
    {
      class: "card",
      "aria-labelledby": "register-h",
      onsubmit: async (event) => {
        event.preventDefault();
        const button = form.querySelector("button[type=submit]");
        button.disabled = true;
        const body = { name: name.value.trim(), url: url.value.trim(), transport: "streamable_http" };
        if (description.value.trim()) body.description = description.value.trim();
        if (token.value) body.bearer_token = token.value;
        try {
          const server = await request("POST", "/servers", body);
          token.value = "";
          form.reset();
          const detail = server.status === "error" ? `: ${server.status_error || "error"}` : "";
          ctx.notify(`Registered ${server.name} (${server.status}${detail}, ${server.tool_count} tools).`);
          await refresh();
        } catch (error) {
          ctx.notifyError(error);
        } finally {
          button.disabled = false;
        }
      },
    },
    h("h2", { id: "register-h" }, "Register a Streamable HTTP server"),
    field("Name", name, "Letters, digits, - and _; tools appear as NAME__tool."),
    field("URL", url, "The server's MCP endpoint."),
    field("Description (optional)", description),
    field("Bearer token (optional)", token, "Sent to the server on every call; stored sealed and never shown again."),
    h("button", { type: "submit" }, "Register"),
  );
  return form;
}

export async function serverPage(ctx, name) {
  const [server, tools] = await Promise.all([
    request("GET", path(name)),
    request("GET", `/tools${query({ server: name })}`),
  ]);
  return h(
    "section",
    { "aria-labelledby": "server-h" },
    h("p", {}, h("a", { href: "#/servers" }, "← All servers")),
    h("h1", { id: "server-h" }, server.name),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Status"),
      h("dd", {}, status(server)),
      h("dt", {}, "Transport"),
      h("dd", {}, server.transport),
      h("dt", {}, "Enabled"),
      h("dd", {}, server.enabled ? "yes" : "no"),
      server.url ? [h("dt", {}, "URL"), h("dd", {}, h("code", {}, server.url))] : null,
      server.description ? [h("dt", {}, "Description"), h("dd", {}, server.description)] : null,
    ),
    h("h2", {}, `Tools (${tools.length})`),
    tools.length ? tools.map((tool) => toolCard(ctx, tool)) : h("p", {}, "This server offers no tools."),
  );
}

function toolCard(ctx, tool) {
  const { fields, read, names } = schemaFields(tool.input_schema);
  const output = h("div", { class: "result", "aria-live": "polite" });
  // MCPJungle's invoke body puts the arguments next to `name`: an argument called `name`
  // cannot be passed that way.
  const blocked = names.includes("name");
  const form = h(
    "form",
    {
      class: "try",
      "aria-label": `Try ${tool.name}`,
      onsubmit: async (event) => {
        event.preventDefault();
        let args;
        try {
          args = read();
        } catch (error) {
          replace(output, h("p", { class: "error" }, error.message));
          return;
        }
        const button = form.querySelector("button[type=submit]");
        button.disabled = true;
        replace(output, h("p", {}, "Calling…"));
        try {
          const result = await request("POST", "/tools/invoke", { ...args, name: tool.name });
          replace(output, callResult(result));
        } catch (error) {
          replace(output, h("p", { class: "error" }, `${error.message} (${error.code})`));
        } finally {
          button.disabled = false;
        }
      },
    },
    h("h4", {}, "Try it"),
    fields.length ? fields : h("p", {}, "This tool takes no arguments."),
    blocked
      ? h("p", { class: "error" }, "This tool takes an argument called “name”, which REST invoke cannot pass; call it over /mcp.")
      : null,
    h("button", { type: "submit", disabled: blocked }, `Call ${tool.name}`),
  );
  return h(
    "article",
    { class: "card tool", "aria-labelledby": `tool-${tool.name}` },
    h("h3", { id: `tool-${tool.name}` }, tool.name, " ", tool.enabled ? null : chip("disabled")),
    tool.title ? h("p", { class: "title" }, tool.title) : null,
    tool.description ? h("p", {}, tool.description) : null,
    h("details", {}, h("summary", {}, "Input schema"), json(tool.input_schema, `Input schema of ${tool.name}`)),
    tool.output_schema
      ? h("details", {}, h("summary", {}, "Output schema"), json(tool.output_schema, `Output schema of ${tool.name}`))
      : null,
    form,
    output,
  );
}

/** An MCP CallToolResult: its text content as text, the rest as JSON. */
function callResult(result) {
  const content = Array.isArray(result.content) ? result.content : [];
  return h(
    "div",
    { class: result.isError ? "call-error" : "call-ok" },
    h("h4", {}, result.isError ? "Result (the tool reported an error)" : "Result"),
    content.map((c) =>
      c && c.type === "text" ? h("pre", { class: "text-result" }, c.text) : json(c, "Content item"),
    ),
    result.structuredContent !== undefined && result.structuredContent !== null
      ? [h("h5", {}, "Structured content"), json(result.structuredContent, "Structured content")]
      : null,
  );
}
