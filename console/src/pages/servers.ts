// Servers: the list (status, transport, tool count), registering a server (Streamable HTTP or
// legacy SSE with a URL, bearer token and custom headers, or stdio with a command, arguments and
// environment variables; every secret value typed once), or replacing one of the same name,
// enable/disable and deregister (for those who manage the tenant only: a member sees none of
// them); one server's tools, each with its input schema and a "try it" form that calls it
// through POST /api/v0/tools/invoke.
import { h, field, table, json, chip, replace } from "../dom.js";
import { api, call, type Schemas } from "../api.js";
import { schemaFields } from "../schema-form.js";

const byName = (name: string) => ({ params: { path: { name } } });

export async function serversPage(ctx) {
  const section = h("section", { "aria-labelledby": "servers-h" }, h("h1", { id: "servers-h" }, "Servers"));
  const list = h("div", {});
  let names = [];
  const refresh = async () => {
    const servers = await call(() => api.GET("/api/v0/servers"));
    names = servers.map((s) => s.name);
    replace(list, serversTable(ctx, servers, refresh));
  };
  await refresh();
  // Registering, toggling and deregistering are for those who manage the tenant: a member sees
  // the servers, not the controls.
  section.append(list);
  if (ctx.manages) section.append(registerForm(ctx, refresh, () => names));
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

function serversTable(ctx, servers: Schemas["ServerView"][], refresh) {
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
            await call(() => api.POST("/api/v0/servers/{name}/disable", byName(s.name)));
            ctx.notify(`Disabled ${s.name}: its tools are no longer offered.`);
          })
        : act(`Enable ${s.name}`, async () => {
            await call(() => api.POST("/api/v0/servers/{name}/enable", byName(s.name)));
            ctx.notify(`Enabled ${s.name}.`);
          }),
      builtin
        ? null
        : act(`Deregister ${s.name}`, async () => {
            if (!window.confirm(`Deregister ${s.name}? Its tools disappear for every client.`)) return;
            await call(() => api.DELETE("/api/v0/servers/{name}", byName(s.name)));
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

const TRANSPORTS = [
  ["streamable_http", "Streamable HTTP"],
  ["sse", "SSE (legacy HTTP+SSE)"],
  ["stdio", "stdio (a command Canopy runs)"],
];

/**
 * A list of name/value pairs whose values are secrets, typed once and masked: a stdio server's
 * environment variables, an HTTP server's headers. `noun` names each row ("Variable 2 name"),
 * `pattern` checks a name. Answers the rows' container, its "Add" button, `read()` (the pairs
 * with a name, as an object) and `clear()` (drops every row, values included).
 */
function secretPairs(noun, addLabel, pattern) {
  const rows = h("div", { class: "env-rows" });
  let count = 0;
  const add = h(
    "button",
    {
      type: "button",
      onclick: () => {
        count += 1;
        pairRow(rows, noun, count, pattern, () => add.focus()).focus();
      },
    },
    addLabel,
  );
  const read = () => {
    const pairs = {};
    for (const row of rows.children) {
      const [key, value] = row.read();
      if (key) pairs[key] = value;
    }
    return pairs;
  };
  const clear = () => {
    rows.replaceChildren();
    count = 0;
  };
  return { rows, add, read, clear };
}

function pairRow(rows, noun, index, pattern, focus) {
  const key = h("input", { type: "text", name: `${noun.toLowerCase()}_name`, autocomplete: "off", pattern });
  const value = h("input", { type: "password", name: `${noun.toLowerCase()}_value`, autocomplete: "off" });
  const row = h(
    "div",
    { class: "env-row" },
    field(`${noun} ${index} name`, key),
    field(`${noun} ${index} value`, value),
    h(
      "button",
      {
        type: "button",
        onclick: () => {
          value.value = "";
          row.remove();
          focus();
        },
      },
      `Remove ${noun.toLowerCase()} ${index}`,
    ),
  );
  row.read = () => [key.value.trim(), value.value];
  rows.append(row);
  return key;
}

function registerForm(ctx, refresh, registered) {
  const name = h("input", { type: "text", name: "name", required: true, autocomplete: "off", pattern: "[A-Za-z0-9_\\-]+" });
  const transport = h(
    "select",
    { name: "transport" },
    TRANSPORTS.map(([value, label]) => h("option", { value }, label)),
  );
  const url = h("input", { type: "url", name: "url", required: true, autocomplete: "off", placeholder: "https://host/mcp" });
  const description = h("input", { type: "text", name: "description", autocomplete: "off" });
  const token = h("input", { type: "password", name: "bearer_token", autocomplete: "off" });
  const command = h("input", { type: "text", name: "command", autocomplete: "off", placeholder: "/usr/local/bin/my-mcp-server" });
  const args = h("textarea", { name: "args", rows: "3", autocomplete: "off", spellcheck: "false" });
  const env = secretPairs("Variable", "Add an environment variable", "[A-Za-z_][A-Za-z0-9_]*");
  // The API's header names: letters, digits, - and _.
  const headers = secretPairs("Header", "Add a header", "[A-Za-z0-9_\\-]+");
  const force = h("input", { type: "checkbox", name: "force" });
  const urlHint = () =>
    transport.value === "sse" ? "The server's SSE endpoint (e.g. https://host/sse)." : "The server's MCP endpoint.";
  const urlField = field("URL", url, urlHint());
  const remote = h(
    "div",
    {},
    urlField,
    field("Bearer token (optional)", token, "Sent to the server on every call; stored sealed and never shown again."),
    h(
      "fieldset",
      { class: "plain" },
      h("legend", {}, "Headers (optional)"),
      h("p", { class: "hint" }, "Sent to the server on every request; their values are stored sealed and never shown again."),
      headers.rows,
      headers.add,
    ),
  );
  const local = h(
    "fieldset",
    { class: "plain" },
    h("legend", {}, "The stdio server"),
    field("Command", command, "The program to run (a path on Canopy's host, or a name on its PATH)."),
    field("Arguments (one per line)", args),
    h("p", { class: "hint" }, "Environment variables: their values are stored sealed and never shown again."),
    env.rows,
    env.add,
  );
  const heading = h("h2", { id: "register-h" }, "Register a server");
  const show = () => {
    const stdio = transport.value === "stdio";
    remote.hidden = stdio;
    local.hidden = !stdio;
    url.required = !stdio;
    command.required = stdio;
    url.placeholder = transport.value === "sse" ? "https://host/sse" : "https://host/mcp";
    const hint = urlField.querySelector(".hint");
    if (hint) hint.textContent = urlHint();
  };
  transport.addEventListener("change", show);
  const form = h(
    "form",
    {
      class: "card",
      "aria-labelledby": "register-h",
      onsubmit: async (event) => {
        event.preventDefault();
        const button = form.querySelector("button[type=submit]");
        button.disabled = true;
        const body: Schemas["RegisterServerRequest"] = { name: name.value.trim(), transport: transport.value };
        if (description.value.trim()) body.description = description.value.trim();
        if (transport.value === "stdio") {
          body.command = command.value.trim();
          body.args = args.value.split("\n").map((a) => a.trim()).filter(Boolean);
          const pairs = env.read();
          if (Object.keys(pairs).length) body.env = pairs;
        } else {
          body.url = url.value.trim();
          if (token.value) body.bearer_token = token.value;
          const pairs = headers.read();
          if (Object.keys(pairs).length) body.headers = pairs;
        }
        // Replacing drops the registration there is (its secrets too) and discovers the server
        // again: asked once more when one of that name exists.
        const replacing = force.checked && registered().includes(body.name);
        const question =
          `Replace the registration of ${body.name}? Its settings and secrets are replaced by these, ` +
          "and its catalog is discovered again.";
        if (replacing && !window.confirm(question)) {
          button.disabled = false;
          return;
        }
        if (force.checked) body.force = true;
        try {
          const server = await call(() => api.POST("/api/v0/servers", { body }));
          // The secrets were typed once: nothing of them stays in the page.
          token.value = "";
          env.clear();
          headers.clear();
          form.reset();
          show();
          const detail = server.status === "error" ? `: ${server.status_error || "error"}` : "";
          const verb = replacing ? "Replaced" : "Registered";
          ctx.notify(`${verb} ${server.name} (${server.status}${detail}, ${server.tool_count} tools).`);
          await refresh();
        } catch (error) {
          ctx.notifyError(error);
        } finally {
          button.disabled = false;
        }
      },
    },
    heading,
    field("Name", name, "Letters, digits, - and _; tools appear as NAME__tool."),
    field("Transport", transport),
    remote,
    local,
    field("Description (optional)", description),
    field(
      "Replace a server of the same name",
      force,
      "Without it, a name already registered is refused (409); with it, that registration is replaced.",
    ),
    h("button", { type: "submit" }, "Register"),
  );
  show();
  return form;
}

export async function serverPage(ctx, name) {
  const [server, tools] = await Promise.all([
    call(() => api.GET("/api/v0/servers/{name}", byName(name))),
    call(() => api.GET("/api/v0/tools", { params: { query: { server: name } } })),
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
      server.bearer_token ? [h("dt", {}, "Bearer token"), h("dd", {}, "set (sealed, never shown)")] : null,
      server.command ? [h("dt", {}, "Command"), h("dd", {}, h("code", {}, server.command))] : null,
      server.args && server.args.length
        ? [h("dt", {}, "Arguments"), h("dd", {}, server.args.map((a, i) => [i ? " " : null, h("code", {}, a)]))]
        : null,
      server.headers && Object.keys(server.headers).length
        ? [
            h("dt", {}, "Headers"),
            h("dd", {}, Object.keys(server.headers).map((k, i) => [i ? ", " : null, h("code", {}, k), " (value sealed)"])),
          ]
        : null,
      server.env && Object.keys(server.env).length
        ? [
            h("dt", {}, "Environment"),
            h("dd", {}, Object.keys(server.env).map((k, i) => [i ? ", " : null, h("code", {}, k), " (value sealed)"])),
          ]
        : null,
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
          const result = await call(() => api.POST("/api/v0/tools/invoke", { body: { ...args, name: tool.name } }));
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
