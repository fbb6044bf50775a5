// Identities: the tenant's users with their roles (create one, its generated token shown once;
// change one's role in place; delete one), its MCP clients with their allow lists (create one, its generated token shown
// once; edit its description and allow lists in place; delete one), and the OAuth grants
// (revoke).
// Users, clients and grants exist in enterprise mode only: where the API refuses a section
// (development mode's 400), the section shows the envelope's message. Whoever does not manage
// the tenant (a member) sees only their own grants: no users, no clients, no creation form.
import { h, field, table, replace } from "../dom.js";
import { api, call } from "../api.js";

const byName = (name: string) => ({ params: { path: { name } } });

const list = (value) =>
  value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
const joined = (values) => (values && values.length ? values.join(", ") : "none");
const refusal = (error) => h("p", { class: "error" }, `${error.message} (${error.code})`);

/** A section that loads itself, showing the API's refusal in place of its content. */
function loader(ctx, render) {
  const box = h("div", {});
  const refresh = async () => {
    try {
      replace(box, await render(refresh));
    } catch (error) {
      if (error && error.code !== undefined) replace(box, refusal(error));
      else throw error;
    }
  };
  return { box, refresh };
}

function actionButton(ctx, label, confirmText, run, refresh) {
  return h(
    "button",
    {
      type: "button",
      class: "danger",
      onclick: async (event) => {
        if (!window.confirm(confirmText)) return;
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
}

/**
 * A user's role, editable in place (PATCH /users/NAME) where the signed-in principal may change
 * it: not their own (that would change the console under them), and an owner's, or to owner,
 * only when they are an owner themselves. The API decides anyway (a tenant's last owner stays
 * one); its refusal is shown as every error is.
 */
function roleCell(ctx, user, self, refresh) {
  const owner = ctx.me && ctx.me.role === "owner";
  if (user.name === self || (user.role === "owner" && !owner)) return user.role;
  const roles = owner ? ["member", "admin", "owner"] : ["member", "admin"];
  const select = h(
    "select",
    // Names are letters, digits, - and _: a stable id, so the focus finds it after the refresh.
    { name: "role", id: `role-of-${user.name}` },
    roles.map((r) => h("option", { value: r, selected: r === user.role }, r)),
  );
  const button = h("button", { type: "submit" }, `Change the role of ${user.name}`);
  return h(
    "form",
    {
      class: "role-form",
      onsubmit: async (event) => {
        event.preventDefault();
        if (select.value === user.role) {
          ctx.notify(`${user.name} is already ${user.role}.`);
          return;
        }
        button.disabled = true;
        try {
          const updated = await call(() =>
            api.PATCH("/api/v0/users/{name}", { ...byName(user.name), body: { role: select.value } }),
          );
          ctx.notify(`Changed the role of ${updated.name} to ${updated.role}: it applies from their next request.`);
          await refresh();
          const again = document.getElementById(`role-of-${updated.name}`);
          if (again) again.focus();
        } catch (error) {
          ctx.notifyError(error);
          button.disabled = false;
        }
      },
    },
    h("label", { for: select.id, class: "visually-hidden" }, `Role of ${user.name}`),
    select,
    button,
  );
}

export async function identitiesPage(ctx) {
  const users = loader(ctx, async (refresh) => {
    const all = await call(() => api.GET("/api/v0/users"));
    // Deleting yourself would end the console's own session: that is done elsewhere.
    const self = ctx.me && ctx.me.kind === "user" ? ctx.me.name : null;
    return all.length
      ? table(
          "Users",
          ["Name", "Role", "Created", "Actions"],
          all.map((u) => [
            u.name,
            roleCell(ctx, u, self, refresh),
            u.created_at,
            u.name === self
              ? h("span", { class: "hint" }, "you")
              : actionButton(
                  ctx,
                  `Delete ${u.name}`,
                  `Delete the user ${u.name}? Their token stops working at once.`,
                  async () => {
                    await call(() => api.DELETE("/api/v0/users/{name}", byName(u.name)));
                    ctx.notify(`Deleted ${u.name}: their token no longer works.`);
                  },
                  refresh,
                ),
          ]),
        )
      : h("p", {}, "No users.");
  });
  const clients = loader(ctx, async (refresh) => {
    const all = await call(() => api.GET("/api/v0/mcp-clients"));
    return all.length
      ? table(
          "MCP clients",
          ["Name", "Description", "Allowed servers", "Allowed groups", "Allowed tools", "Actions"],
          all.map((c) => [
            c.name,
            c.description,
            joined(c.allowed_servers),
            joined(c.allowed_groups),
            joined(c.allowed_tools),
            h(
              "div",
              { class: "actions" },
              h(
                "button",
                { type: "button", onclick: () => editClient(ctx, c, editSlot, refresh) },
                `Edit ${c.name}`,
              ),
              actionButton(
                ctx,
                `Delete ${c.name}`,
                `Delete the MCP client ${c.name}? Its token stops working at once.`,
                async () => {
                  await call(() => api.DELETE("/api/v0/mcp-clients/{name}", byName(c.name)));
                  ctx.notify(`Deleted ${c.name}: its token no longer works.`);
                },
                refresh,
              ),
            ),
          ]),
        )
      : h("p", {}, "No MCP clients yet.");
  });
  // Where a client's edit form opens, right under the list (one at a time).
  const editSlot = h("div", {});
  const grants = loader(ctx, async (refresh) => {
    const all = await call(() => api.GET("/api/v0/oauth-grants"));
    return all.length
      ? table(
          "OAuth grants",
          ["Application", "Who", "Scopes", "Resource", "Expires", "Actions"],
          all.map((g) => [
            g.client_name || g.client_id,
            g.subject,
            g.scopes.join(" "),
            g.resource || "",
            g.expires_at,
            actionButton(
              ctx,
              `Revoke ${g.client_name || g.client_id} for ${g.subject}`,
              `Revoke this grant? ${g.client_name || g.client_id} can no longer refresh its tokens.`,
              async () => {
                await call(() => api.DELETE("/api/v0/oauth-grants/{id}", { params: { path: { id: g.id } } }));
                ctx.notify("Revoked the grant.");
              },
              refresh,
            ),
          ]),
        )
      : h("p", {}, "No live OAuth grants.");
  });
  // The new token's panel lives outside the list, so refreshing the list keeps it; dismissing it
  // drops the only copy the page had.
  const tokenSlot = h("div", {});
  const userTokenSlot = h("div", {});
  if (!ctx.manages) {
    // Users and MCP clients are managed by owners and admins: a member sees only their own
    // grants (the applications they let act for them), and may revoke those.
    await grants.refresh();
    return h(
      "section",
      { "aria-labelledby": "identities-h" },
      h("h1", { id: "identities-h" }, "Identities"),
      h("p", {}, "Users and MCP clients are managed by the tenant's owners and admins."),
      h("h2", {}, "Your OAuth grants"),
      grants.box,
    );
  }
  await Promise.all([users.refresh(), clients.refresh(), grants.refresh()]);
  return h(
    "section",
    { "aria-labelledby": "identities-h" },
    h("h1", { id: "identities-h" }, "Identities"),
    h("h2", {}, "Users"),
    userTokenSlot,
    users.box,
    createUserForm(ctx, userTokenSlot, users.refresh),
    h("h2", {}, "MCP clients"),
    tokenSlot,
    clients.box,
    editSlot,
    createClientForm(ctx, tokenSlot, clients.refresh),
    h("h2", {}, "OAuth grants"),
    grants.box,
  );
}

/** Shows a token answered once in `slot`; dismissing it drops the page's only copy. */
export function showToken(slot, name, token, focusAfter) {
  const dismiss = () => {
    replace(slot);
    focusAfter();
  };
  replace(slot, tokenPanel(name, token, dismiss));
  slot.querySelector("pre").focus();
}

function tokenPanel(name, token, dismiss) {
  const panel = h(
    "div",
    { class: "card token-panel", role: "region", "aria-label": `New token for ${name}` },
    h("h3", {}, `The token of ${name}`),
    h("p", {}, "Copy it now: Canopy keeps only its digest, and this page forgets it when you dismiss this panel."),
    h("pre", { class: "token", tabindex: "0", "aria-label": `Access token of ${name}` }, token),
    h("button", { type: "button", onclick: dismiss }, "Dismiss the token"),
  );
  return panel;
}

function createClientForm(ctx, tokenSlot, refresh) {
  const name = h("input", { type: "text", name: "name", required: true, autocomplete: "off" });
  const description = h("input", { type: "text", name: "description", autocomplete: "off" });
  const servers = h("input", { type: "text", name: "allowed_servers", autocomplete: "off" });
  const groups = h("input", { type: "text", name: "allowed_groups", autocomplete: "off" });
  const tools = h("input", { type: "text", name: "allowed_tools", autocomplete: "off" });
  const form = h(
    "form",
    {
      class: "card",
      "aria-labelledby": "create-client-h",
      onsubmit: async (event) => {
        event.preventDefault();
        const button = form.querySelector("button[type=submit]");
        button.disabled = true;
        try {
          const created = await call(() =>
            api.POST("/api/v0/mcp-clients", {
              body: {
                name: name.value.trim(),
                description: description.value.trim(),
                allowed_servers: list(servers.value),
                allowed_groups: list(groups.value),
                allowed_tools: list(tools.value),
              },
            }),
          );
          form.reset();
          if (created.access_token) {
            showToken(tokenSlot, created.name, created.access_token, () => form.querySelector("input").focus());
          }
          ctx.notify(`Created the MCP client ${created.name}.`);
          await refresh();
        } catch (error) {
          ctx.notifyError(error);
        } finally {
          button.disabled = false;
        }
      },
    },
    h("h3", { id: "create-client-h" }, "Create an MCP client"),
    field("Client name", name),
    field("Client description", description),
    field("Allowed servers", servers, "Comma-separated server names; * is every server. Empty admits none."),
    field("Allowed groups", groups, "Comma-separated group names."),
    field("Allowed tools", tools, "Comma-separated, as server__tool."),
    h("button", { type: "submit" }, "Create MCP client"),
  );
  return form;
}

function createUserForm(ctx, tokenSlot, refresh) {
  const name = h("input", { type: "text", name: "name", required: true, autocomplete: "off" });
  // Only an owner creates an owner: others are not offered the choice.
  const roles = ctx.me && ctx.me.role === "owner" ? ["member", "admin", "owner"] : ["member", "admin"];
  const role = h("select", { name: "role" }, roles.map((r) => h("option", { value: r }, r)));
  const form = h(
    "form",
    {
      class: "card",
      "aria-labelledby": "create-user-h",
      onsubmit: async (event) => {
        event.preventDefault();
        const button = form.querySelector("button[type=submit]");
        button.disabled = true;
        try {
          const created = await call(() => api.POST("/api/v0/users", { body: { name: name.value.trim(), role: role.value } }));
          form.reset();
          if (created.access_token) {
            showToken(tokenSlot, created.name, created.access_token, () => name.focus());
          }
          ctx.notify(`Created the user ${created.name} (${created.role}).`);
          await refresh();
        } catch (error) {
          ctx.notifyError(error);
        } finally {
          button.disabled = false;
        }
      },
    },
    h("h3", { id: "create-user-h" }, "Create a user"),
    field("User name", name),
    field("Role", role, "A member uses the tenant's tools; an admin also manages it; only an owner creates an owner."),
    h("button", { type: "submit" }, "Create user"),
  );
  return form;
}

/** The edit form of one MCP client, in `slot`: its description and allow lists (PUT replaces
 * each; the token stays). */
function editClient(ctx, client, slot, refresh) {
  const description = h("input", { type: "text", name: "description", autocomplete: "off", value: client.description || "" });
  const servers = h("input", { type: "text", name: "allowed_servers", autocomplete: "off", value: (client.allowed_servers || []).join(", ") });
  const groups = h("input", { type: "text", name: "allowed_groups", autocomplete: "off", value: (client.allowed_groups || []).join(", ") });
  const tools = h("input", { type: "text", name: "allowed_tools", autocomplete: "off", value: (client.allowed_tools || []).join(", ") });
  const close = () => {
    replace(slot);
    const again = [...document.querySelectorAll("button")].find((b) => b.textContent === `Edit ${client.name}`);
    if (again) again.focus();
  };
  const form = h(
    "form",
    {
      class: "card",
      "aria-labelledby": "edit-client-h",
      onsubmit: async (event) => {
        event.preventDefault();
        const button = form.querySelector("button[type=submit]");
        button.disabled = true;
        try {
          const updated = await call(() =>
            api.PUT("/api/v0/mcp-clients/{name}", {
              ...byName(client.name),
              body: {
                description: description.value.trim(),
                allowed_servers: list(servers.value),
                allowed_groups: list(groups.value),
                allowed_tools: list(tools.value),
              },
            }),
          );
          ctx.notify(`Saved ${updated.name}: its next request follows the new allow lists.`);
          await refresh();
          close();
        } catch (error) {
          ctx.notifyError(error);
          button.disabled = false;
        }
      },
    },
    h("h3", { id: "edit-client-h" }, `Edit ${client.name}`),
    field("Description", description),
    field("Allowed servers", servers, "Comma-separated server names; * is every server. Empty admits none."),
    field("Allowed groups", groups, "Comma-separated group names."),
    field("Allowed tools", tools, "Comma-separated, as server__tool."),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit" }, `Save ${client.name}`),
      h("button", { type: "button", onclick: close }, "Cancel"),
    ),
  );
  replace(slot, form);
  description.focus();
}
