// The console's shell: reads /console/config.json, then shows the page the URL's hash names
// (#/servers, #/servers/NAME, #/groups, #/identities, #/audit, #/jobs, #/jobs/ID, #/connect).
import { h, replace } from "./dom.js";
import { ApiError, request } from "./api.js";
import { serversPage, serverPage } from "./pages/servers.js";
import { groupsPage } from "./pages/groups.js";
import { identitiesPage } from "./pages/identities.js";
import { auditPage } from "./pages/audit.js";
import { jobsPage, jobPage } from "./pages/jobs.js";
import { pythonPage } from "./pages/python.js";
import { connectPage } from "./pages/connect.js";

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

async function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [page, ...rest] = hash.split("/");
  const arg = rest.length ? decodeURIComponent(rest.join("/")) : null;
  const name = page || "servers";
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const target = main();
  replace(target, h("p", {}, "Loading…"));
  // `reload` shows the current page again, keeping the notice (e.g. after a change it reports).
  const ctx = { config, notify, notifyError, reload: route };
  try {
    let content;
    if (name === "servers" && arg) content = await serverPage(ctx, arg);
    else if (name === "servers") content = await serversPage(ctx);
    else if (name === "groups") content = await groupsPage(ctx);
    else if (name === "identities") content = await identitiesPage(ctx);
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

function enterpriseNotice() {
  replace(
    main(),
    h(
      "section",
      {},
      h("h1", {}, "Sign-in is not built yet"),
      h(
        "p",
        {},
        "This Canopy runs in enterprise mode, where every request is authenticated. The console's sign-in ",
        "(OAuth with PKCE against Canopy's own authorization server) is not built yet, and the console ",
        "never asks you to paste a token.",
      ),
      h(
        "p",
        {},
        "Until it is, use the canopy CLI (canopy login) or the REST API under ",
        h("code", {}, `${config.public_url}/api/v0`),
        " with a bearer token.",
      ),
    ),
  );
  document.title = "Sign-in is not built yet · Canopy console";
}

/**
 * Enterprise mode: whether the API already accepts this browser's requests (credentials the
 * browser sends by itself, such as an authenticating proxy's). The console has no sign-in of its
 * own yet, and never asks for a token.
 */
async function authenticated() {
  try {
    await request("GET", "/groups");
    return true;
  } catch (error) {
    return !(error instanceof ApiError && error.status === 401);
  }
}

async function start() {
  try {
    const response = await fetch("/console/config.json", { credentials: "same-origin" });
    if (response.ok) config = await response.json();
  } catch {
    // Keep the defaults: the API calls will say what is wrong.
  }
  const mode = document.getElementById("mode");
  replace(mode, `${config.mode} mode`);
  if (config.mode === "enterprise" && !(await authenticated())) {
    document.querySelector("nav").hidden = true;
    enterpriseNotice();
    return;
  }
  window.addEventListener("hashchange", () => {
    notify("");
    route();
  });
  await route();
}

start();
