// Tenants, for the platform operator only (the API's /api/v0/tenants is theirs; anyone else gets
// 403, and the console does not show the page to them): every tenant with its display name and
// status; create one with its first owner, whose generated token is shown once (the same panel
// as a new user's, dismissed to drop the page's only copy); suspend one (every token of its
// users and clients is refused at once, after a confirmation) and resume it. The operator sees
// nothing inside any tenant: this page shows ids, names and status only, as the API does.
import { h, field, table, replace } from "../dom.js";
import { api, call } from "../api.js";
import { showToken } from "./identities.js";

const byId = (id: string) => ({ params: { path: { id } } });

export async function tenantsPage(ctx) {
  const listBox = h("div", {});
  const tokenSlot = h("div", {});
  const refresh = async () => {
    const all = await call(() => api.GET("/api/v0/tenants"));
    replace(
      listBox,
      table(
        "Tenants",
        ["ID", "Display name", "Status", "Created", "Changed", "Actions"],
        all.map((t) => [t.id, t.display_name, t.status, t.created_at, t.updated_at, statusButton(ctx, t, refresh)]),
      ),
    );
  };
  await refresh();
  return h(
    "section",
    { "aria-labelledby": "tenants-h" },
    h("h1", { id: "tenants-h" }, "Tenants"),
    h(
      "p",
      {},
      "The organisations of this deployment. As the platform operator you create, suspend and resume them; ",
      "what is inside a tenant is its own and never shown here.",
    ),
    listBox,
    h("h2", { id: "create-tenant-h" }, "Create a tenant"),
    tokenSlot,
    createTenantForm(ctx, tokenSlot, refresh),
  );
}

/** Suspend (after a confirmation) or resume a tenant. */
function statusButton(ctx, tenant, refresh) {
  const suspended = tenant.status === "suspended";
  return h(
    "button",
    {
      type: "button",
      class: suspended ? undefined : "danger",
      onclick: async (event) => {
        if (!suspended && !window.confirm(`Suspend ${tenant.id}? Every token of its users and MCP clients is refused until you resume it.`)) return;
        event.target.disabled = true;
        try {
          const changed = suspended
            ? await call(() => api.POST("/api/v0/tenants/{id}/resume", byId(tenant.id)))
            : await call(() => api.POST("/api/v0/tenants/{id}/suspend", byId(tenant.id)));
          ctx.notify(
            changed.status === "suspended"
              ? `Suspended ${changed.id}: its tokens are refused.`
              : `Resumed ${changed.id}: its tokens work again.`,
          );
          await refresh();
        } catch (error) {
          ctx.notifyError(error);
          event.target.disabled = false;
        }
      },
    },
    suspended ? `Resume ${tenant.id}` : `Suspend ${tenant.id}`,
  );
}

function createTenantForm(ctx, tokenSlot, refresh) {
  const id = h("input", { type: "text", name: "id", required: true, autocomplete: "off", pattern: "[a-z0-9-]{1,63}" });
  const displayName = h("input", { type: "text", name: "display_name", autocomplete: "off" });
  const owner = h("input", { type: "text", name: "owner", required: true, autocomplete: "off" });
  const form = h(
    "form",
    {
      class: "card",
      "aria-labelledby": "create-tenant-h",
      onsubmit: async (event) => {
        event.preventDefault();
        const button = form.querySelector("button[type=submit]");
        button.disabled = true;
        try {
          const name = displayName.value.trim();
          const created = await call(() =>
            api.POST("/api/v0/tenants", {
              body: { id: id.value.trim(), owner: owner.value.trim(), ...(name ? { display_name: name } : {}) },
            }),
          );
          form.reset();
          if (created.owner_access_token) {
            showToken(tokenSlot, `${created.owner.name} (owner of ${created.id})`, created.owner_access_token, () => id.focus());
          }
          ctx.notify(`Created the tenant ${created.id} with its owner ${created.owner.name}.`);
          await refresh();
        } catch (error) {
          ctx.notifyError(error);
        } finally {
          button.disabled = false;
        }
      },
    },
    field("Tenant ID", id, "Lowercase letters, digits and -, at most 63 (platform is reserved)."),
    field("Display name", displayName, "Optional; the ID when empty."),
    field("Owner's user name", owner, "The tenant's first user, an owner: their token is shown once, here."),
    h("button", { type: "submit" }, "Create tenant"),
  );
  return form;
}
