// Groups: each group with its MCP endpoint, its rules and its effective members (the tools its
// endpoint offers now, GET /api/v0/groups/NAME/effective-tools, and their servers); create a
// group, edit its rules in place (PUT replaces every list), delete it: those three only for
// those who manage the tenant.
import { h, field, replace, chip } from "../dom.js";
import { api, call, ApiError, type Schemas } from "../api.js";

const byName = (name: string) => ({ params: { path: { name } } });

/** "a, b ,c" → ["a", "b", "c"]. */
const list = (value) =>
  value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

/** The rule fields the form edits, as labelled inputs prefilled from `group` (if any). */
function ruleInputs(group) {
  const input = (name, value) => h("input", { type: "text", name, autocomplete: "off", value: value || "" });
  return {
    description: input("description", group && group.description),
    included_servers: input("included_servers", group && group.included_servers.join(", ")),
    included_tools: input("included_tools", group && group.included_tools.join(", ")),
    excluded_tools: input("excluded_tools", group && group.excluded_tools.join(", ")),
  };
}

function ruleFields(inputs) {
  return [
    field("Description", inputs.description),
    field("Included servers", inputs.included_servers, "Comma-separated server names; every tool of each."),
    field("Included tools", inputs.included_tools, "Comma-separated, as server__tool."),
    field("Excluded tools", inputs.excluded_tools, "Comma-separated, as server__tool; removed from the above."),
  ];
}

function ruleBody(inputs) {
  return {
    description: inputs.description.value.trim(),
    included_servers: list(inputs.included_servers.value),
    included_tools: list(inputs.included_tools.value),
    excluded_tools: list(inputs.excluded_tools.value),
  };
}

export async function groupsPage(ctx) {
  const section = h("section", { "aria-labelledby": "groups-h" }, h("h1", { id: "groups-h" }, "Groups"));
  const listing = h("div", {});
  const refresh = async () => {
    const groups = await call(() => api.GET("/api/v0/groups"));
    const tools = await Promise.all(
      groups.map((g) =>
        call(() => api.GET("/api/v0/groups/{name}/effective-tools", byName(g.name))).catch((error: ApiError) => error),
      ),
    );
    replace(
      listing,
      groups.length
        ? groups.map((g, i) => groupCard(ctx, g, tools[i], refresh))
        : h("p", {}, "No groups yet. A group is an MCP endpoint offering a chosen set of tools."),
    );
  };
  await refresh();
  section.append(listing);
  if (ctx.manages) section.append(createForm(ctx, refresh));
  return section;
}

function rules(group) {
  const row = (label, values) => [h("dt", {}, label), h("dd", {}, values.length ? values.join(", ") : "none")];
  return h(
    "dl",
    { class: "facts" },
    row("Included servers", group.included_servers),
    row("Included tools", group.included_tools),
    row("Excluded tools", group.excluded_tools),
    group.included_prompts.length || group.excluded_prompts.length
      ? [row("Included prompts", group.included_prompts), row("Excluded prompts", group.excluded_prompts)]
      : null,
    group.included_resources.length || group.excluded_resources.length
      ? [row("Included resources", group.included_resources), row("Excluded resources", group.excluded_resources)]
      : null,
  );
}

function members(tools: Schemas["ToolView"][] | ApiError) {
  if (tools instanceof ApiError) return h("p", { class: "error" }, `${tools.message} (${tools.code})`);
  if (!tools.length) return h("p", {}, "No tools: the rules admit none that is enabled now.");
  const servers = [...new Set(tools.map((t) => t.name.split("__")[0]))];
  return [
    h("p", {}, `Servers: ${servers.join(", ")}`),
    h(
      "ul",
      { class: "members", "aria-label": "Effective tools" },
      tools.map((t) => h("li", {}, h("code", {}, t.name), t.enabled ? null : [" ", chip("disabled")])),
    ),
  ];
}

function groupCard(ctx, group, tools, refresh) {
  const headingId = `group-${group.name}`;
  const body = h("div", {});
  const show = () =>
    replace(
      body,
      group.description ? h("p", {}, group.description) : null,
      h("p", {}, "MCP endpoint: ", h("code", { class: "endpoint" }, group.endpoint)),
      h("h3", {}, "Rules"),
      rules(group),
      h("h3", {}, "Effective members"),
      members(tools),
      ctx.manages
        ? h(
            "div",
            { class: "actions" },
            h("button", { type: "button", onclick: edit }, `Edit ${group.name}`),
            h("button", { type: "button", class: "danger", onclick: remove }, `Delete ${group.name}`),
          )
        : null,
    );
  function edit() {
    const inputs = ruleInputs(group);
    const form = h(
      "form",
      {
        "aria-label": `Edit ${group.name}`,
        onsubmit: async (event) => {
          event.preventDefault();
          const button = form.querySelector("button[type=submit]");
          button.disabled = true;
          try {
            // PUT replaces every list: keep the prompt and resource rules the form does not show.
            const updated = await call(() =>
              api.PUT("/api/v0/groups/{name}", {
                ...byName(group.name),
                body: {
              ...ruleBody(inputs),
              included_prompts: group.included_prompts,
              excluded_prompts: group.excluded_prompts,
              included_resources: group.included_resources,
                  excluded_resources: group.excluded_resources,
                },
              }),
            );
            ctx.notify(`Saved ${updated.name}.`);
            await refresh();
          } catch (error) {
            ctx.notifyError(error);
            button.disabled = false;
          }
        },
      },
      ruleFields(inputs),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "submit" }, `Save ${group.name}`),
        h(
          "button",
          {
            type: "button",
            onclick: () => {
              show();
              body.querySelector("button").focus();
            },
          },
          "Cancel",
        ),
      ),
    );
    replace(body, form);
    inputs.description.focus();
  }
  async function remove(event) {
    if (!window.confirm(`Delete the group ${group.name}? Its endpoint stops answering.`)) return;
    event.target.disabled = true;
    try {
      await call(() => api.DELETE("/api/v0/groups/{name}", byName(group.name)));
      ctx.notify(`Deleted ${group.name}.`);
      await refresh();
    } catch (error) {
      ctx.notifyError(error);
      event.target.disabled = false;
    }
  }
  show();
  return h("article", { class: "card group", "aria-labelledby": headingId }, h("h2", { id: headingId }, group.name), body);
}

function createForm(ctx, refresh) {
  const name = h("input", { type: "text", name: "name", required: true, autocomplete: "off", pattern: "[A-Za-z0-9_\\-]+" });
  const inputs = ruleInputs(null);
  const form = h(
    "form",
    {
      class: "card",
      "aria-labelledby": "create-group-h",
      onsubmit: async (event) => {
        event.preventDefault();
        const button = form.querySelector("button[type=submit]");
        button.disabled = true;
        try {
          const group = await call(() => api.POST("/api/v0/groups", { body: { name: name.value.trim(), ...ruleBody(inputs) } }));
          form.reset();
          ctx.notify(`Created ${group.name}: its endpoint is ${group.endpoint}.`);
          await refresh();
        } catch (error) {
          ctx.notifyError(error);
        } finally {
          button.disabled = false;
        }
      },
    },
    h("h2", { id: "create-group-h" }, "Create a group"),
    field("Group name", name, "Letters, digits, - and _; it names the endpoint."),
    ruleFields(inputs),
    h("button", { type: "submit" }, "Create group"),
  );
  return form;
}
