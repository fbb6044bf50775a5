// The console's shell: reads /console/config.json, signs in (enterprise mode, auth.js), asks who
// is signed in (GET /api/v0/me), then shows the page the URL's hash names (#/servers,
// #/servers/NAME, #/groups, #/identities, #/audit, #/jobs, #/jobs/ID, #/python, #/connect).
// Pages get `ctx.manages`: false for a member (or a token without canopy:admin), whose pages
// show no admin action at all. The platform operator (who sees nothing inside any tenant) gets
// only #/tenants; everyone else never sees that page.
import { h, replace } from "./dom.js";
import { ApiError, api, call } from "./api.js";
import * as auth from "./auth.js";
import { serversPage, serverPage } from "./pages/servers.js";
import { groupsPage } from "./pages/groups.js";
import { identitiesPage } from "./pages/identities.js";
import { auditPage } from "./pages/audit.js";
import { jobsPage, jobPage } from "./pages/jobs.js";
import { pythonPage } from "./pages/python.js";
import { connectPage } from "./pages/connect.js";
import { tenantsPage } from "./pages/tenants.js";

const main = () => document.getElementById("main");

/** Shows a message in the live region: `kind` is "ok" or "error". */
export function notify(message, kind = "ok") {
  const el = document.getElementById("notice");
  replace(el, message ? h("p", { class: `notice-${kind}` }, message) : null);
}

/** Shows an error the way every page does: the envelope's message (and code). */
export function notifyError(error) {
  if (error instanceof ApiError) notify(`${error.message} (${error.code})`, "error");
  else notify(String(error && error.message ? error.message : error), "error");
}

let config = { mode: "development", public_url: location.origin };
/** The signed-in principal (GET /api/v0/me): pages show admin actions only when it manages. */
let me = { kind: "development", name: "dev", manages_tenant: true };

async function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [page, ...rest] = hash.split("/");
  const arg = rest.length ? decodeURIComponent(rest.join("/")) : null;
  const operator = me.kind === "operator";
  const name = page || (operator ? "tenants" : "servers");
  for (const link of document.querySelectorAll<HTMLElement>("nav a")) {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const target = main();
  replace(target, h("p", {}, "Loading…"));
  // `reload` shows the current page again, keeping the notice (e.g. after a change it reports).
  const ctx = { config, me, manages: Boolean(me.manages_tenant), notify, notifyError, reload: route };
  try {
    let content;
    if (name === "tenants" && !operator) content = notForYou("Tenants", "Tenants are managed by the platform operator.");
    else if (name === "tenants") content = await tenantsPage(ctx);
    else if (operator && name !== "tenants")
      content = notForYou(
        "Not for the platform operator",
        "The platform operator sees nothing inside a tenant: its servers, identities, audit, jobs and environments are its own. See Tenants.",
      );
    else if (name === "servers" && arg) content = await serverPage(ctx, arg);
    else if (name === "servers") content = await serversPage(ctx);
    else if (name === "groups") content = await groupsPage(ctx);
    else if (name === "identities") content = await identitiesPage(ctx);
    else if (name === "audit" && !ctx.manages) content = notForYou("Audit", "The audit log is for the tenant's owners and admins.");
    else if (name === "audit") content = await auditPage(ctx);
    else if (name === "jobs" && arg) content = await jobPage(ctx, arg);
    else if (name === "jobs") content = await jobsPage(ctx);
    else if (name === "python") content = await pythonPage(ctx);
    else if (name === "connect") content = await connectPage(ctx);
    else content = h("section", {}, h("h1", {}, "Not found"), h("p", {}, `No console page is called “${name}”.`));
    replace(target, content);
  } catch (error) {
    replace(target, h("section", {}, h("h1", {}, "Something went wrong"), h("p", { class: "error" }, String(error.message))));
    notifyError(error);
  }
  const heading = target.querySelector("h1");
  document.title = heading ? `${heading.textContent} · Canopy console` : "Canopy console";
}

/** A page the signed-in principal has no use for (it would only show the API's refusal). */
function notForYou(title, why) {
  return h("section", {}, h("h1", {}, title), h("p", {}, why));
}

/** The sign-in page (enterprise mode, signed out): why, and the button that signs in. */
function signInPage(problem) {
  document.querySelector("nav").hidden = true;
  replace(document.getElementById("account"));
  const button = h(
    "button",
    {
      type: "button",
      onclick: async () => {
        button.disabled = true;
        try {
          await auth.signIn();
        } catch (error) {
          notifyError(error);
          button.disabled = false;
        }
      },
    },
    "Sign in",
  );
  replace(
    main(),
    h(
      "section",
      { "aria-labelledby": "sign-in-h" },
      h("h1", { id: "sign-in-h", tabindex: "-1" }, "Sign in to the Canopy console"),
      h(
        "p",
        {},
        "This Canopy runs in enterprise mode. The console signs you in through Canopy's own authorization server, ",
        "with your Canopy user token (the platform operator: the operator token) or your organisation's single sign-on.",
      ),
      problem ? h("p", { class: "error" }, problem) : null,
      button,
      h(
        "p",
        { class: "hint" },
        "Your session lives in this page only: nothing is stored in the browser, so a reload signs you in again.",
      ),
    ),
  );
  document.title = "Sign in · Canopy console";
}

/** Who is signed in, in the header, with "Sign out" when the console holds the tokens. */
function account(me) {
  const who = me.role ? `${me.name} (${me.role})` : `${me.name} (${me.kind})`;
  replace(
    document.getElementById("account"),
    h("span", { class: "who" }, "Signed in as ", h("strong", {}, who), me.tenant ? ` in ${me.tenant}` : null),
    auth.signedIn()
      ? h(
          "button",
          {
            type: "button",
            onclick: async () => {
              await auth.signOut();
              signInPage(null);
              notify("You are signed out: the console revoked its tokens.");
              document.getElementById("sign-in-h").focus();
            },
          },
          "Sign out",
        )
      : null,
  );
}

async function start() {
  try {
    const response = await fetch("/console/config.json", { credentials: "same-origin" });
    if (response.ok) config = await response.json();
  } catch {
    // Keep the defaults: the API calls will say what is wrong.
  }
  auth.configure(config);
  const mode = document.getElementById("mode");
  replace(mode, `${config.mode} mode`);
  if (auth.required()) {
    try {
      await auth.completeSignIn();
    } catch (error) {
      signInPage(error.message);
      return;
    }
  }
  // Who is signed in (enterprise mode with no token: this is where the sign-in starts).
  try {
    me = await call(() => api.GET("/api/v0/me"));
  } catch (error) {
    if (auth.required()) {
      auth.forget();
      signInPage(`${error.message}${error.code ? ` (${error.code})` : ""}`);
    } else {
      notifyError(error);
    }
    return;
  }
  if (config.mode === "enterprise") account(me);
  // What the principal may not do is not shown: the audit log is for those who manage; the
  // tenants are the operator's, who has nothing to do on a tenant's pages.
  const operator = me.kind === "operator";
  for (const link of document.querySelectorAll<HTMLElement>("nav a")) {
    const page = link.dataset.page;
    link.parentElement.hidden = operator ? page !== "tenants" : page === "tenants" || (page === "audit" && !me.manages_tenant);
  }
  window.addEventListener("hashchange", () => {
    notify("");
    route();
  });
  await route();
}

start();
