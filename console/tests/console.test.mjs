// Browser test of the admin console: Debian's chromium, headless, driven by playwright-core,
// against a running `canopy start` (scripts/console-check.sh starts it, and the fixture MCP
// server, and passes their URLs):
//   CANOPY_URL        development-mode Canopy (required)
//   FIXTURE_URL       the fixture's Streamable HTTP endpoint, to register as `fx` (required)
//   FIXTURE_BIN       the fixture's binary, registered as the stdio server `fxs` (optional)
//   CANOPY_BIN        the `canopy` binary: the connect panel's `canopy stdio` configurations
//                     are run as pasted (optional)
//   FIXTURE_SSE_URL, FIXTURE_SSE_TOKEN  the fixture on legacy SSE behind that bearer token,
//                     registered as `fxe` (optional)
//   CANOPY_ENTERPRISE_URL  an enterprise-mode Canopy (optional; its access tokens live 40 s): the
//                     console's sign-in through Canopy's authorization server, as the owner, a
//                     member, another tenant's owner and the platform operator (who creates a
//                     tenant on the Tenants page, whose owner then signs in), refresh, reload,
//                     sign out
//   CONSOLE_SCREENSHOTS    where to save the PNGs (default: docs/console)
//   CHROMIUM          the browser binary (default: /usr/bin/chromium)
// Every page is checked with axe-core (no serious or critical violations), at laptop width,
// and the servers page at phone width too. The page must log no error (a CSP violation is one).
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { readFileSync, mkdirSync, mkdtempSync } from "node:fs";
import { spawn } from "node:child_process";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";
import { resolve } from "node:path";

const base = required("CANOPY_URL");
const fixtureUrl = required("FIXTURE_URL");
const enterpriseUrl = process.env.CANOPY_ENTERPRISE_URL || "";
const fixtureBin = process.env.FIXTURE_BIN || "";
const canopyBin = process.env.CANOPY_BIN || "";
const sseUrl = process.env.FIXTURE_SSE_URL || "";
const sseToken = process.env.FIXTURE_SSE_TOKEN || "";
const shots = resolve(process.env.CONSOLE_SCREENSHOTS || "docs/console");
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
}

const log = (...args) => console.error("console-test:", ...args);
let failures = 0;
async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
    log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failures += 1;
    log(`FAIL ${name}: ${e.stack || e}`);
    throw e;
  }
}

/** axe-core in the page: no serious or critical violations. */
async function accessible(page, what) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) {
    // Through the DevTools protocol, not a <script>: the page's CSP stays as it is.
    await page.evaluate(axeSource);
  }
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")) }));
  });
  const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  for (const v of result) log(`  axe (${what}): ${v.impact} ${v.id}: ${v.help} at ${v.nodes.slice(0, 3).join(", ")}`);
  assert.deepEqual(bad, [], `${what}: serious or critical accessibility violations`);
}

async function shot(page, name) {
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

/** An MCP session on `url` (default: /mcp), as a real client opens one: initialize (its status
 * must be `expect`), then notifications/initialized. Answers `{ status, request(method, params),
 * close() }`; with `token`, every request carries it as a bearer token. */
async function mcpOpen(url = `${base}/mcp`, token = "", expect = 200) {
  const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" };
  if (token) headers.authorization = `Bearer ${token}`;
  const rpc = async (body, session) => {
    const r = await fetch(url, {
      method: "POST",
      headers: session ? { ...headers, "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" } : headers,
      body: JSON.stringify(body),
    });
    const text = await r.text();
    const data = text.startsWith("{") ? text : text.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).pop();
    return { session: r.headers.get("mcp-session-id"), status: r.status, message: data && r.ok ? JSON.parse(data) : null };
  };
  const init = await rpc({
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "console-test", version: "1" } },
  });
  assert.equal(init.status, expect, `initialize on ${url} answered ${init.status}`);
  if (expect !== 200) return { status: init.status };
  await rpc({ jsonrpc: "2.0", method: "notifications/initialized" }, init.session);
  let id = 1;
  return {
    status: init.status,
    request: async (method, params) => {
      const answer = await rpc({ jsonrpc: "2.0", id: ++id, method, params }, init.session);
      assert.ok(answer.message && answer.message.result, `${method}: ${JSON.stringify(answer.message)}`);
      return answer.message.result;
    },
    close: async () => {
      const end = { "mcp-session-id": init.session };
      if (token) end.authorization = `Bearer ${token}`;
      await fetch(url, { method: "DELETE", headers: end }).catch(() => {});
    },
  };
}

/** A real MCP client's view of an MCP endpoint (default: /mcp): the tool names. With `token`,
 * it is sent as a bearer token; `initialize`'s status must be `expect` (when not 200, the names
 * are not listed and the status is answered). */
async function mcpToolNames(url = `${base}/mcp`, token = "", expect = 200) {
  const session = await mcpOpen(url, token, expect);
  if (expect !== 200) return session.status;
  const names = [];
  let cursor;
  do {
    const list = await session.request("tools/list", cursor ? { cursor } : {});
    names.push(...list.tools.map((t) => t.name));
    cursor = list.nextCursor;
  } while (cursor);
  await session.close();
  return names;
}

/** Runs a client configuration's `command`/`args` the way a desktop client would (`canopy` is
 * CANOPY_BIN), with a HOME of its own, and answers the tool names it lists over stdio. */
async function stdioToolNames(config, home) {
  assert.equal(config.command, "canopy");
  const child = spawn(canopyBin, config.args, { env: { ...process.env, HOME: home }, stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (c) => (stderr += c));
  const waiting = new Map();
  let buffer = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk) => {
    buffer += chunk;
    let end;
    while ((end = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, end).trim();
      buffer = buffer.slice(end + 1);
      if (!line) continue;
      const message = JSON.parse(line);
      if (waiting.has(message.id)) waiting.get(message.id)(message);
    }
  });
  const send = (message) => child.stdin.write(JSON.stringify(message) + "\n");
  const call = (id, method, params) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${method}: no answer over stdio; stderr: ${stderr}`)), 15_000);
      waiting.set(id, (m) => {
        clearTimeout(timer);
        if (m.result) resolve(m.result);
        else reject(new Error(`${method}: ${JSON.stringify(m)}; stderr: ${stderr}`));
      });
      send({ jsonrpc: "2.0", id, method, params });
    });
  try {
    await call(1, "initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "console-test-stdio", version: "1" } });
    send({ jsonrpc: "2.0", method: "notifications/initialized" });
    const names = [];
    let cursor;
    let id = 1;
    do {
      const list = await call(++id, "tools/list", cursor ? { cursor } : {});
      names.push(...list.tools.map((t) => t.name));
      cursor = list.nextCursor;
    } while (cursor);
    return names;
  } finally {
    child.stdin.end();
    child.kill();
  }
}

async function eventually(what, fn, seconds = 15) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`${what}: ${e.message}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

mkdirSync(shots, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // Root in a container has no user namespaces for chromium's sandbox.
  args: process.getuid && process.getuid() === 0 ? ["--no-sandbox"] : [],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const page = await context.newPage();
page.setDefaultTimeout(10_000);
const pageErrors = [];
page.on("console", (m) => {
  if (m.type() === "error") pageErrors.push(m.text());
});
page.on("pageerror", (e) => pageErrors.push(String(e)));
page.on("response", (r) => {
  if (r.status() >= 400) log(`  (the page got ${r.status()} from ${r.request().method()} ${r.url()})`);
});
page.on("dialog", (d) => d.accept());
const notice = page.locator("#notice");
const nav = (name) => page.getByRole("navigation", { name: "Console pages" }).getByRole("link", { name, exact: true });
// fx's row in the servers table (found by its link: at phone width the cells' column labels
// are part of the row's accessible name).
const fxRow = () => page.getByRole("row").filter({ has: page.getByRole("link", { name: "fx", exact: true }) });
const jobBody = {
  name: "console-sleeper",
  workload_type: "batch",
  image: "python:3.11",
  command: [
    "python",
    "-c",
    "import time\nprint('started', flush=True)\nfor i in range(240):\n    time.sleep(0.5)\n    print('tick', i, flush=True)",
  ],
};
/** Marks the page's current DOM: `unmarked()` is then true only if the page was re-rendered. */
const mark = (p) => p.evaluate(() => { document.querySelector("main h1").dataset.probe = "same"; });
const unmarked = (p) => p.evaluate(() => document.querySelector("main h1").dataset.probe !== "same");

try {
  await step("the console loads with the strict headers, in development mode", async () => {
    const response = await page.goto(`${base}/console`);
    assert.equal(response.status(), 200);
    const h = response.headers();
    assert.equal(h["content-security-policy"], CSP);
    assert.equal(h["x-frame-options"], "DENY");
    assert.equal(h["x-content-type-options"], "nosniff");
    assert.equal(h["referrer-policy"], "no-referrer");
    await page.getByRole("heading", { name: "Servers", level: 1 }).waitFor();
    await page.locator("#mode", { hasText: "development mode" }).waitFor();
  });

  await step("keyboard: the first Tab reaches the skip link, with a visible focus ring", async () => {
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => {
      const el = document.activeElement;
      const style = getComputedStyle(el);
      return { text: el.textContent, outline: style.outlineStyle, width: style.outlineWidth };
    });
    assert.equal(focused.text, "Skip to content");
    assert.notEqual(focused.outline, "none");
    assert.notEqual(focused.width, "0px");
  });

  await step("register the fixture server through the form", async () => {
    await page.getByLabel("Name", { exact: true }).fill("fx");
    await page.getByLabel("URL", { exact: true }).fill(fixtureUrl);
    await page.getByRole("button", { name: "Register", exact: true }).click();
    await notice.getByText(/Registered fx \(ready/).waitFor();
    const row = fxRow();
    await row.waitFor();
    const cells = await row.getByRole("cell").allTextContents();
    assert.equal(cells[1].trim(), "ready");
    assert.equal(cells[2], "streamable_http");
    assert.ok(Number(cells[3]) >= 5, `tool count ${cells[3]}`);
    await accessible(page, "servers");
    await shot(page, "servers");
  });

  await step("an API error shows the envelope's message", async () => {
    await page.getByLabel("Name", { exact: true }).fill("fx");
    await page.getByLabel("URL", { exact: true }).fill(fixtureUrl);
    await page.getByRole("button", { name: "Register", exact: true }).click();
    const text = await notice.locator(".notice-error").textContent();
    assert.match(text, /already|exists/i);
    assert.match(text, /\(CONFLICT\)/);
  });

  await step("the servers page works at phone width", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.reload();
    await fxRow().waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page is ${overflow}px wider than the phone`);
    await accessible(page, "servers (phone)");
    await shot(page, "servers-phone");
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  await step("open fx's tools and try fx__echo and fx__add with the generated forms", async () => {
    await page.getByRole("link", { name: "fx", exact: true }).click();
    await page.getByRole("heading", { name: "fx", level: 1 }).waitFor();
    const card = (name) => page.locator("article.tool", { has: page.getByRole("heading", { name, exact: true }) });
    const echo = card("fx__echo");
    await echo.getByText("Input schema").click();
    assert.match(await echo.locator("pre.json").first().textContent(), /"message"/);
    await echo.getByLabel("message (required)").fill("hello from the console");
    await echo.getByRole("button", { name: "Call fx__echo" }).click();
    assert.equal(await echo.locator("pre.text-result").textContent(), "hello from the console");

    const add = card("fx__add");
    await add.getByLabel(/^a( \(required\))?$/).fill("2");
    await add.getByLabel(/^b( \(required\))?$/).fill("40");
    await add.getByRole("button", { name: "Call fx__add" }).click();
    await add.locator(".call-ok").waitFor();
    assert.match(await add.locator(".call-ok").textContent(), /42/);
    await accessible(page, "server fx");
    await shot(page, "server-tools");
  });

  if (fixtureBin) {
    await step("register the fixture as a stdio server (an environment variable typed once) and see its tools", async () => {
      const secret = "console-env-secret-value";
      await nav("Servers").click();
      await page.getByRole("heading", { name: "Servers", level: 1 }).waitFor();
      const form = page.getByRole("form", { name: "Register a server" });
      await form.getByLabel("Name", { exact: true }).fill("fxs");
      await form.getByLabel("Transport").selectOption("stdio");
      assert.equal(await form.getByLabel("URL", { exact: true }).isHidden(), true, "the URL field is hidden for stdio");
      await form.getByLabel("Command", { exact: true }).fill(fixtureBin);
      await form.getByLabel("Arguments (one per line)").fill("--transport\nstdio");
      await form.getByRole("button", { name: "Add an environment variable" }).click();
      await form.getByLabel("Variable 1 name").fill("CONSOLE_FIXTURE_NOTE");
      await form.getByLabel("Variable 1 value").fill(secret);
      assert.equal(await form.getByLabel("Variable 1 value").getAttribute("type"), "password");
      await accessible(page, "servers (stdio form)");
      await page.setViewportSize({ width: 390, height: 844 });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `the stdio form is ${overflow}px wider than the phone`);
      await page.setViewportSize({ width: 1280, height: 800 });
      await form.getByRole("button", { name: "Register", exact: true }).click();
      await notice.getByText(/Registered fxs \(ready/).waitFor();
      // Typed once: the form forgot it, and the API never shows it.
      assert.equal(await form.getByLabel("Variable 1 value").count(), 0);
      const row = page.getByRole("row").filter({ has: page.getByRole("link", { name: "fxs", exact: true }) });
      const cells = await row.getByRole("cell").allTextContents();
      assert.equal(cells[2], "stdio");
      assert.ok(Number(cells[3]) >= 5, `tool count ${cells[3]}`);
      await page.getByRole("link", { name: "fxs", exact: true }).click();
      await page.getByRole("heading", { name: "fxs", level: 1 }).waitFor();
      await page.getByRole("heading", { name: "fxs__echo", exact: true }).waitFor();
      await page.getByText("CONSOLE_FIXTURE_NOTE").waitFor();
      assert.ok(!(await page.content()).includes(secret), "the environment value is shown");
      // Its tools work through the page too.
      const echo = page.locator("article.tool", { has: page.getByRole("heading", { name: "fxs__echo", exact: true }) });
      await echo.getByLabel("message (required)").fill("hello over stdio");
      await echo.getByRole("button", { name: "Call fxs__echo" }).click();
      assert.equal(await echo.locator("pre.text-result").textContent(), "hello over stdio");
      assert.ok((await mcpToolNames()).includes("fxs__add"), "fxs__add on /mcp");
      await accessible(page, "server fxs (stdio)");
      await shot(page, "server-stdio");
    });
  }

  if (sseUrl) {
    await step("register the fixture as a legacy SSE server with its bearer token", async () => {
      await nav("Servers").click();
      const form = page.getByRole("form", { name: "Register a server" });
      await form.getByLabel("Name", { exact: true }).fill("fxe");
      await form.getByLabel("Transport").selectOption("sse");
      await form.getByLabel("URL", { exact: true }).fill(sseUrl);
      await form.getByLabel("Bearer token (optional)").fill(sseToken);
      await form.getByRole("button", { name: "Register", exact: true }).click();
      await notice.getByText(/Registered fxe \(ready/).waitFor();
      const row = page.getByRole("row").filter({ has: page.getByRole("link", { name: "fxe", exact: true }) });
      assert.equal((await row.getByRole("cell").allTextContents())[2], "sse");
      assert.equal(await form.getByLabel("Bearer token (optional)").inputValue(), "");
      await page.getByRole("link", { name: "fxe", exact: true }).click();
      await page.getByRole("heading", { name: "fxe__echo", exact: true }).waitFor();
      await page.getByText("set (sealed, never shown)").waitFor();
      assert.ok(!(await page.content()).includes(sseToken), "the bearer token is shown");
      await accessible(page, "server fxe (sse)");
    });
  }

  await step("register with a custom header typed once (it reaches the server, never shown again), then replace it with force", async () => {
    const [first, second] = ["console-header-secret-1", "console-header-secret-2"];
    // What the fixture's whoami tool says it received in X-Fixture, over a real MCP session.
    const received = async () => {
      const session = await mcpOpen();
      const result = await session.request("tools/call", { name: "fxh__whoami", arguments: {} });
      await session.close();
      return result.structuredContent.xFixture;
    };
    const fill = async (value) => {
      await form.getByLabel("Name", { exact: true }).fill("fxh");
      await form.getByLabel("Transport").selectOption("streamable_http");
      await form.getByLabel("URL", { exact: true }).fill(fixtureUrl);
      await form.getByRole("button", { name: "Add a header" }).click();
      const nameField = form.getByLabel("Header 1 name");
      assert.equal(await nameField.evaluate((el) => el === document.activeElement), true, "focus on the new header");
      await nameField.fill("X-Fixture");
      await form.getByLabel("Header 1 value").fill(value);
      assert.equal(await form.getByLabel("Header 1 value").getAttribute("type"), "password");
    };
    await nav("Servers").click();
    await page.getByRole("heading", { name: "Servers", level: 1 }).waitFor();
    const form = page.getByRole("form", { name: "Register a server" });
    await fill(first);
    await accessible(page, "servers (a header in the form)");
    await form.getByRole("button", { name: "Register", exact: true }).click();
    await notice.getByText(/Registered fxh \(ready/).waitFor();
    assert.equal(await form.getByLabel("Header 1 value").count(), 0, "the typed header stays in the form");
    assert.equal(await received(), first, "the header did not reach the server");

    // Never shown again: the server's page names the header, not its value; the API shows ***.
    await page.getByRole("link", { name: "fxh", exact: true }).click();
    await page.getByRole("heading", { name: "fxh", level: 1 }).waitFor();
    await page.getByText("X-Fixture", { exact: true }).waitFor();
    assert.ok(!(await page.content()).includes(first), "the header value is shown");
    const view = await (await fetch(`${base}/api/v0/servers/fxh`)).json();
    assert.deepEqual(view.headers, { "X-Fixture": "***" });

    // The same name again: refused without the replace option, replaced with it.
    await nav("Servers").click();
    await page.getByRole("heading", { name: "Servers", level: 1 }).waitFor();
    await fill(second);
    await form.getByRole("button", { name: "Register", exact: true }).click();
    await notice.locator(".notice-error").getByText(/\(CONFLICT\)/).waitFor();
    assert.equal(await received(), first, "refused, yet replaced");
    const replace = form.getByLabel("Replace a server of the same name");
    await replace.check();
    await accessible(page, "servers (replacing)");
    await form.getByRole("button", { name: "Register", exact: true }).click();
    await notice.getByText(/Replaced fxh \(ready/).waitFor();
    assert.equal(await replace.isChecked(), false, "the replace option stays on");
    assert.equal(await form.getByLabel("Header 1 value").count(), 0);
    await eventually("the new header reaches the server", async () => assert.equal(await received(), second));
    assert.ok(!(await page.content()).includes(second), "the header value is shown");
    await page.getByRole("button", { name: "Deregister fxh", exact: true }).click();
    await notice.getByText("Deregistered fxh").waitFor();
  });

  await step("groups: create one through the form, see its endpoint serve it, edit it in place, delete it", async () => {
    await nav("Groups").click();
    await page.getByRole("heading", { name: "Groups", level: 1 }).waitFor();
    const create = page.getByRole("form", { name: "Create a group" });
    await create.getByLabel("Group name").fill("fx-echo");
    await create.getByLabel("Description").fill("Only the echo");
    await create.getByLabel("Included tools").fill("fx__echo");
    await create.getByRole("button", { name: "Create group" }).click();
    await notice.getByText("Created fx-echo").waitFor();
    const card = page.getByRole("article", { name: "fx-echo" });
    const endpoint = await card.locator("code.endpoint").textContent();
    assert.equal(endpoint, `${base}/v0/groups/fx-echo/mcp`);
    assert.deepEqual(await card.getByRole("list", { name: "Effective tools" }).getByRole("listitem").allTextContents(), ["fx__echo"]);
    await eventually("the group's endpoint offers fx__echo", async () => {
      assert.deepEqual(await mcpToolNames(endpoint), ["fx__echo"]);
    });

    await card.getByRole("button", { name: "Edit fx-echo" }).click();
    const edit = card.getByRole("form", { name: "Edit fx-echo" });
    assert.equal(await edit.getByLabel("Included tools").inputValue(), "fx__echo");
    await edit.getByLabel("Included tools").fill("fx__echo, fx__add");
    await edit.getByRole("button", { name: "Save fx-echo" }).click();
    await notice.getByText("Saved fx-echo").waitFor();
    await card.getByRole("listitem").filter({ hasText: "fx__add" }).waitFor();
    await eventually("the group's endpoint offers fx__add too", async () => {
      assert.deepEqual((await mcpToolNames(endpoint)).sort(), ["fx__add", "fx__echo"]);
    });
    await accessible(page, "groups");
    await shot(page, "groups");
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the groups page is ${overflow}px wider than the phone`);
    await page.setViewportSize({ width: 1280, height: 800 });

    await card.getByRole("button", { name: "Delete fx-echo" }).click();
    await notice.getByText("Deleted fx-echo").waitFor();
    await card.waitFor({ state: "detached" });
    await eventually("the group's endpoint is gone", async () => {
      const r = await fetch(endpoint, { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream" }, body: "{}" });
      assert.equal(r.status, 404);
    });
  });

  await step("identities in development mode: each section shows the API's refusal, the page works", async () => {
    await nav("Identities").click();
    await page.getByRole("heading", { name: "Identities", level: 1 }).waitFor();
    const refusals = page.locator("section p.error");
    await refusals.first().waitFor();
    assert.equal(await refusals.count(), 3);
    for (const text of await refusals.allTextContents()) assert.match(text, /enterprise mode only/);
    await accessible(page, "identities (development)");
    await shot(page, "identities-development");
  });

  await step("disable fx: its tools vanish from /mcp", async () => {
    assert.ok((await mcpToolNames()).includes("fx__echo"), "fx__echo is offered on /mcp before disabling");
    await nav("Servers").click();
    await page.getByRole("button", { name: "Disable fx", exact: true }).click();
    await notice.getByText("Disabled fx").waitFor();
    await page.getByRole("button", { name: "Enable fx", exact: true }).waitFor();
    await eventually("fx's tools still listed on /mcp", async () => {
      const names = await mcpToolNames();
      assert.ok(!names.some((n) => n.startsWith("fx__")), `still offered: ${names.filter((n) => n.startsWith("fx__"))}`);
    });
  });

  await step("the audit page shows the call and the admin actions", async () => {
    await nav("Audit").click();
    await page.getByRole("heading", { name: "Audit", level: 1 }).waitFor();
    await eventually("the fx__echo call in the audit log", async () => {
      await page.getByRole("button", { name: "Apply filters" }).click();
      await page.getByRole("row", { name: /call.*fx__echo.*ok/ }).first().waitFor({ timeout: 1000 });
    });
    await page.getByRole("row", { name: /admin/ }).first().waitFor();
    await page.getByLabel("Kind").selectOption("call");
    await page.getByRole("button", { name: "Apply filters" }).click();
    await eventually("only calls listed", async () => {
      assert.equal(await page.getByRole("row", { name: /admin/ }).count(), 0);
    });
    await page.getByRole("row", { name: /fx__add/ }).first().waitFor();
    await page.getByLabel("Kind").selectOption("");
    await page.getByRole("button", { name: "Apply filters" }).click();
    await page.getByRole("row", { name: /fx__echo/ }).first().waitFor();
    await accessible(page, "audit");
    await shot(page, "audit");
  });

  await step("audit in live mode: a call made meanwhile appears without a reload", async () => {
    await nav("Audit").click();
    await page.getByRole("heading", { name: "Audit", level: 1 }).waitFor();
    await page.getByRole("row", { name: /fx__echo/ }).first().waitFor();
    await page.getByLabel("Live", { exact: true }).check();
    await mark(page);
    // A call by a real MCP client, on a server that is enabled (fx is disabled by now).
    const session = await mcpOpen();
    const tool = fixtureBin ? "fxs__add" : "python__list_environments";
    await session.request("tools/call", { name: tool, arguments: fixtureBin ? { a: 20, b: 22 } : {} });
    await session.close();
    const row = page.getByRole("row", { name: new RegExp(`call.*${tool}`) }).first();
    await row.waitFor({ timeout: 15_000 });
    assert.equal(await unmarked(page), false, "the audit page was re-rendered, not updated in place");
    await page.locator(".live-state", { hasText: /Live: checked at/ }).waitFor();
    await accessible(page, "audit (live)");
    await page.getByLabel("Live", { exact: true }).uncheck();
  });

  await step("jobs: a job's events and logs, and cancel", async () => {
    const submitted = await fetch(`${base}/api/v0/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(jobBody),
    });
    const job = await submitted.json();
    assert.ok(submitted.ok, `POST /api/v0/jobs: ${submitted.status} ${JSON.stringify(job)}`);
    await nav("Jobs").click();
    await page.getByRole("heading", { name: "Jobs", level: 1 }).waitFor();
    await page.getByRole("link", { name: job.job_id }).click();
    await page.getByRole("heading", { name: "console-sleeper", level: 1 }).waitFor();
    await page.getByRole("table", { name: "Lifecycle events" }).waitFor();
    // Live: the job prints a line every half second, and they appear without a reload.
    assert.equal(await page.getByLabel("Live", { exact: true }).isChecked(), true);
    const logs = page.getByLabel("Job logs");
    await logs.getByText(/tick 1\b/).waitFor({ timeout: 30_000 });
    await mark(page);
    const ticks = async () => ((await logs.textContent()).match(/tick \d+/g) || []).length;
    const before = await ticks();
    await eventually("more log lines, live", async () => assert.ok((await ticks()) >= before + 3, `${await ticks()} ticks`), 20);
    assert.equal(await unmarked(page), false, "the job page was re-rendered, not followed live");
    // Paused: no more lines.
    await page.getByLabel("Live", { exact: true }).uncheck();
    await page.getByText("Paused.").waitFor();
    const paused = await ticks();
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await ticks(), paused, "lines arrived while paused");
    await page.getByLabel("Live", { exact: true }).check();
    await eventually("lines again once resumed", async () => assert.ok((await ticks()) > paused), 20);
    assert.ok(!/\bnull\b|undefined/.test(await page.locator("main").textContent()), "a missing value left a trace");
    await accessible(page, "job");
    await shot(page, "job");
    await page.getByLabel("Reason (optional)").fill("stopped from the console");
    await page.getByRole("button", { name: "Cancel job" }).click();
    await notice.getByText(new RegExp(`Job ${job.job_id}: `)).waitFor();
    await eventually("the job ends cancelled", async () => {
      const r = await (await fetch(`${base}/api/v0/jobs/${job.job_id}`)).json();
      assert.equal(r.status, "cancelled");
    }, 30);
    await nav("Jobs").click();
    await page.getByRole("row", { name: new RegExp(`${job.job_id}.*cancelled`) }).waitFor();
    await accessible(page, "jobs");
    await shot(page, "jobs");
  });

  await step("jobs: a job's artifact listed with its size and type, downloaded through the API", async () => {
    const content = "artifact written by a console test job\n";
    const submitted = await fetch(`${base}/api/v0/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        name: "console-artifact",
        workload_type: "batch",
        image: "python:3.11",
        command: ["python", "-c", `from pathlib import Path; Path('/workspace/artifacts/result.txt').write_text(${JSON.stringify(content)})`],
        expected_artifacts: ["/workspace/artifacts/result.txt"],
      }),
    });
    const job = await submitted.json();
    assert.ok(submitted.ok, `POST /api/v0/jobs: ${submitted.status} ${JSON.stringify(job)}`);
    // Opened while it runs (or already ended): once it has ended, the page shows the artifact.
    await page.goto(`${base}/console/#/jobs/${job.job_id}`);
    await page.getByRole("heading", { name: "console-artifact", level: 1 }).waitFor();
    await eventually("the job completed", async () => {
      const r = await (await fetch(`${base}/api/v0/jobs/${job.job_id}`)).json();
      assert.equal(r.status, "completed", JSON.stringify(r.failure || r.status_message));
    }, 60);
    const table = page.getByRole("table", { name: "Artifacts" });
    await eventually("the artifact on the page", async () => {
      if (!(await table.isVisible())) await page.reload();
      await table.waitFor({ timeout: 2000 });
    }, 30);
    const row = table.getByRole("row").filter({ hasText: "result.txt" });
    const cells = await row.getByRole("cell").allTextContents();
    assert.equal(cells[0], "result.txt");
    assert.equal(cells[1], `${Buffer.byteLength(content)} bytes`);
    assert.match(cells[2], /^text\/plain/);
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      row.getByRole("button", { name: "Download result.txt" }).click(),
    ]);
    assert.equal(download.suggestedFilename(), "result.txt");
    const { readFile } = await import("node:fs/promises");
    assert.equal(await readFile(await download.path(), "utf8"), content);
    // The signed URL (a bearer secret) was used, not kept: no link to it is left in the page.
    const signed = await (await fetch(`${base}/api/v0/jobs/${job.job_id}/artifacts`)).json();
    assert.equal(signed.artifacts.length, 1);
    assert.equal(await page.locator("a[download]").count(), 0);
    const html = await page.content();
    assert.ok(!/download_url|[?&](sig|signature|token)=/i.test(html), "a signed URL is in the page");
    assert.ok(!/\bnull\b|undefined/.test(await page.locator("main").textContent()), "a missing value left a trace");
    await accessible(page, "job (artifacts)");
    await shot(page, "job-artifacts");
  });

  await step("jobs: an ended job's log lines past the first page, read on with the logs' cursor", async () => {
    const submitted = await fetch(`${base}/api/v0/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        name: "console-chatty",
        workload_type: "batch",
        image: "python:3.11",
        command: ["python", "-c", "for i in range(1200):\n    print('line', i, flush=True)"],
      }),
    });
    const job = await submitted.json();
    assert.ok(submitted.ok, `POST /api/v0/jobs: ${submitted.status} ${JSON.stringify(job)}`);
    await eventually("the job completed", async () => {
      const r = await (await fetch(`${base}/api/v0/jobs/${job.job_id}`)).json();
      assert.equal(r.status, "completed", JSON.stringify(r.failure || r.status_message));
    }, 60);
    await page.goto(`${base}/console/#/jobs/${job.job_id}`);
    await page.getByRole("heading", { name: "console-chatty", level: 1 }).waitFor();
    const lines = async () => (await page.getByLabel("Job logs").textContent()).match(/line \d+/g) || [];
    await page.getByText("The first 500 lines; the job printed more.").waitFor();
    const first = await lines();
    assert.ok(first.length > 0 && first.length <= 500, `${first.length} lines on the first page`);
    await accessible(page, "job (more log lines)");
    const more = page.getByRole("button", { name: "More log lines" });
    await more.click();
    await page.getByText("The first 1000 lines; the job printed more.").waitFor();
    await more.click();
    await page.getByText(/^All \d+ lines\.$/).waitFor();
    await more.waitFor({ state: "detached" });
    // Every line once, in order, none lost between pages.
    assert.deepEqual(await lines(), Array.from({ length: 1200 }, (_, i) => `line ${i}`));
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute("aria-label")), "Job logs");
  });

  await step("jobs: an uploaded input listed, and on the page of the job that mounts it", async () => {
    const content = "an input uploaded for the console test";
    const post = async (url, body) => {
      const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      const answer = await r.json();
      assert.ok(r.ok, `POST ${url}: ${r.status} ${JSON.stringify(answer)}`);
      return answer;
    };
    const { upload } = await post(`${base}/api/v0/job-inputs`, { filename: "notes.txt", content_type: "text/plain" });
    // The signed URL uploads exactly the content type it was made for.
    const put = await fetch(upload.upload_url, { method: "PUT", headers: { "content-type": "text/plain" }, body: content });
    assert.equal(put.status, 200, await put.text());
    const input = await post(upload.complete_url, { token: upload.token, size_bytes: Buffer.byteLength(content) });
    assert.equal(input.status, "ready");
    const job = await post(`${base}/api/v0/jobs`, {
      name: "console-reader",
      workload_type: "batch",
      image: "python:3.11",
      command: ["python", "-c", `print(open(${JSON.stringify(input.mount_path)}).read())`],
      input_files: [upload.input_id],
    });
    await eventually("the job completed", async () => {
      const r = await (await fetch(`${base}/api/v0/jobs/${job.job_id}`)).json();
      assert.equal(r.status, "completed", JSON.stringify(r.failure || r.status_message));
    }, 60);
    await page.goto(`${base}/console/#/jobs/${job.job_id}`);
    await page.getByRole("heading", { name: "console-reader", level: 1 }).waitFor();
    const row = page.getByRole("table", { name: "Inputs" }).getByRole("row").filter({ hasText: "notes.txt" });
    await row.waitFor();
    assert.deepEqual(await row.getByRole("cell").allTextContents(), [
      "notes.txt",
      "input",
      "text/plain",
      `${Buffer.byteLength(content)} bytes`,
      input.mount_path,
      upload.input_id,
    ]);
    // What the job read from that path.
    await page.getByLabel("Job logs").getByText(content).waitFor();
    await accessible(page, "job (inputs)");
    await nav("Jobs").click();
    const listed = page.getByRole("table", { name: "Uploaded inputs and scripts" }).getByRole("row").filter({ hasText: upload.input_id });
    await listed.waitFor();
    const cells = await listed.getByRole("cell").allTextContents();
    assert.deepEqual([cells[1], cells[2], cells[3], cells[5]], ["notes.txt", "input", "ready", input.mount_path]);
    await accessible(page, "jobs (inputs)");
  });

  await step("jobs: a waiting job's page shows it claimed and started, live, without a reload", async () => {
    const post = async (path, body) => {
      const r = await fetch(`${base}/api/v0${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      const answer = await r.json();
      assert.ok(r.ok, `POST ${path}: ${r.status} ${JSON.stringify(answer)}`);
      return answer;
    };
    const statusOf = async (id) => (await (await fetch(`${base}/api/v0/jobs/${id}`)).json()).status;
    const sleeper = (name, seconds) => ({
      name,
      workload_type: "batch",
      image: "python:3.11",
      command: ["python", "-c", `import time\nprint('started', flush=True)\ntime.sleep(${seconds})`],
    });
    // Every slot of the local backend taken (console-check.sh gives it 2): a job then waits.
    const running = [];
    let extra = null;
    for (let i = 0; i < 8 && !extra; i++) {
      const job = await post("/jobs", sleeper(`console-filler-${i}`, 120));
      try {
        await eventually("a filler running", async () => assert.equal(await statusOf(job.job_id), "running"), 3);
        running.push(job);
      } catch {
        extra = job;
      }
    }
    assert.ok(extra, "no job waited for a slot");
    await post(`/jobs/${extra.job_id}/cancel`, {});
    const waiter = await post("/jobs", sleeper("console-waiter", 6));
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await statusOf(waiter.job_id), "queued");

    await page.goto(`${base}/console/#/jobs/${waiter.job_id}`);
    await page.getByRole("heading", { name: "console-waiter", level: 1 }).waitFor();
    assert.equal(await page.getByLabel("Live", { exact: true }).isChecked(), true);
    const facts = page.locator("main dl.facts");
    // The status chip (the phase says the same words).
    await facts.locator(".chip", { hasText: /^queued$/ }).waitFor();
    const events = page.getByRole("table", { name: "Lifecycle events" }).getByRole("row");
    const before = await events.count();
    await mark(page);
    // A slot frees: the page sees the job claimed and started as it happens.
    for (const job of running) await post(`/jobs/${job.job_id}/cancel`, {});
    await facts.locator(".chip", { hasText: /^running$/ }).waitFor({ timeout: 20_000 });
    await eventually("the claim and the start in the events", async () => assert.ok((await events.count()) >= before + 2, `${await events.count()} rows`), 10);
    await page.getByLabel("Job logs").getByText(/started/).waitFor();
    assert.equal(await unmarked(page), false, "the job page was re-rendered, not updated in place");
    await accessible(page, "job (live events)");
    await post(`/jobs/${waiter.job_id}/cancel`, {});
    await eventually("the waiter ends", async () => assert.ok(["cancelled", "completed"].includes(await statusOf(waiter.job_id))), 30);
  });

  await step("python: an environment with its REPL, frozen, destroyed", async () => {
    const session = await mcpOpen();
    const call = async (name, args) => {
      const result = await session.request("tools/call", { name, arguments: args });
      const envelope = JSON.parse(result.content[0].text);
      assert.equal(envelope.success, true, `${name}: ${result.content[0].text}`);
      return envelope.data;
    };
    const env = await call("python__create_environment", { name: "console-env" });
    await call("python__repl_create", { env_id: env.id, session_name: "console-repl" });
    await session.close();
    await nav("Python").click();
    await page.getByRole("heading", { name: "Python environments", level: 1 }).waitFor();
    const card = page.getByRole("article", { name: "Environment console-env" });
    await card.getByRole("cell", { name: "console-repl" }).waitFor();
    await card.getByRole("button", { name: "Freeze console-env" }).click();
    await card.getByText(/"packages"/).first().waitFor();
    await accessible(page, "python");
    await shot(page, "python");
    await card.getByRole("button", { name: "Destroy console-env" }).click();
    await notice.getByText("Destroyed console-env.").waitFor();
    await page.getByText(/No environments yet/).waitFor();
  });

  await step("connect: endpoints and paste-ready configurations", async () => {
    await nav("Connect").click();
    await page.getByRole("heading", { name: "Connect", level: 1 }).waitFor();
    const cursorConfig = JSON.parse(await page.getByLabel("Cursor", { exact: true }).textContent());
    assert.equal(cursorConfig.mcpServers.canopy.url, `${base}/mcp`);
    const vscode = JSON.parse(await page.getByLabel("VS Code", { exact: true }).textContent());
    assert.deepEqual(vscode.servers.canopy, { type: "http", url: `${base}/mcp` });
    const claude = JSON.parse(await page.getByLabel("Claude Desktop", { exact: true }).textContent());
    assert.deepEqual(claude.mcpServers.canopy.args.slice(-1), [`${base}/mcp`]);
    await page.locator("ul.endpoints").getByText(`${base}/servers/fx/mcp`, { exact: true }).waitFor();
    assert.equal(await page.getByLabel("Sign in the canopy CLI", { exact: true }).count(), 0, "a sign-in in development mode");

    // Another endpoint: every configuration follows, the stdio bridge's included.
    const grid = `${base}/servers/grid/mcp`;
    await page.getByLabel("Endpoint", { exact: true }).selectOption({ label: `Server grid (tool names unprefixed): ${grid}` });
    const cursorGrid = JSON.parse(await page.getByLabel("Cursor", { exact: true }).textContent());
    assert.deepEqual(cursorGrid, { mcpServers: { "canopy-grid": { url: grid } } });
    const vscodeGrid = JSON.parse(await page.getByLabel("VS Code", { exact: true }).textContent());
    assert.deepEqual(vscodeGrid.servers["canopy-grid"], { type: "http", url: grid });
    assert.equal(await page.getByLabel("Claude Code", { exact: true }).textContent(), `claude mcp add --transport http canopy-grid ${grid}`);
    const bridge = JSON.parse(await page.getByLabel("canopy stdio", { exact: true }).textContent()).mcpServers["canopy-grid"];
    assert.deepEqual(bridge, { command: "canopy", args: ["stdio", "--registry", base, "--server", "grid"] });
    assert.equal(
      await page.getByLabel("Claude Code through canopy stdio", { exact: true }).textContent(),
      `claude mcp add canopy-grid -- canopy stdio --registry ${base} --server grid`,
    );
    assert.equal(
      await page.getByLabel("MCP Inspector", { exact: true }).textContent(),
      `npx @modelcontextprotocol/inspector --cli ${grid} --transport http --method tools/list`,
    );
    // Pasted as is, they reach that endpoint: its tools, unprefixed.
    const direct = await mcpToolNames(grid);
    assert.ok(direct.length > 0 && direct.every((n) => !n.includes("__")), `grid's endpoint lists ${direct}`);
    if (canopyBin) {
      const home = mkdtempSync(`${tmpdir()}/canopy-console-home-`);
      assert.deepEqual(await stdioToolNames(bridge, home), direct);
      log(`  canopy stdio, as configured, listed grid's ${direct.length} tools`);
    }
    await accessible(page, "connect");
    await shot(page, "connect");
  });

  await step("deregister fx", async () => {
    await nav("Servers").click();
    await page.getByRole("button", { name: "Deregister fx", exact: true }).click();
    await notice.getByText("Deregistered fx").waitFor();
    await fxRow().waitFor({ state: "detached" });
    for (const name of [fixtureBin ? "fxs" : null, sseUrl ? "fxe" : null].filter(Boolean)) {
      await page.getByRole("button", { name: `Deregister ${name}` }).click();
      await notice.getByText(`Deregistered ${name}`).waitFor();
    }
  });

  await step("no errors in the page (CSP violations included)", async () => {
    // The expected ones: the CONFLICT answers (a name registered twice, fx and fxh), and
    // development mode's 400s on the identities page.
    const unexpected = pageErrors.filter((e) => !/status of (409|400)/.test(e));
    assert.deepEqual(unexpected, []);
  });

  if (enterpriseUrl) {
    // Enterprise mode: nobody adds a header for the page. Every browser context below signs in
    // through the console's own sign-in (OAuth, PKCE, Canopy's authorization server) with the
    // user token the REST API gave that user.
    const init = await fetch(`${enterpriseUrl}/api/v0/init-server`, { method: "POST" });
    const initialized = await init.json();
    assert.equal(init.status, 201, JSON.stringify(initialized));
    const ownerToken = initialized.access_token;
    const rest = async (method, path, token, body) => {
      const r = await fetch(`${enterpriseUrl}/api/v0${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const answer = await r.json().catch(() => null);
      assert.ok(r.ok, `${method} ${path}: ${r.status} ${JSON.stringify(answer)}`);
      return answer;
    };
    await rest("POST", "/servers", ownerToken, { name: "fx", url: fixtureUrl, transport: "streamable_http" });
    await rest("POST", "/groups", ownerToken, { name: "fx-all", description: "every fx tool", included_servers: ["fx"] });
    const memberToken = (await rest("POST", "/users", ownerToken, { name: "mia", role: "member" })).access_token;
    const acme = await rest("POST", "/tenants", initialized.operator_token, { id: "acme", owner: "olga" });
    const otherOwnerToken = acme.owner_access_token;

    /** A fresh browser (its own cookies and storage), recording every token answer it gets. */
    const browserFor = async () => {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const p = await context.newPage();
      p.setDefaultTimeout(15_000);
      const errors = [];
      const tokens = [];
      p.on("pageerror", (e) => errors.push(String(e)));
      p.on("dialog", (d) => d.accept());
      p.on("response", async (r) => {
        if (r.request().method() !== "POST" || new URL(r.url()).pathname !== "/oauth/token") return;
        const grant = new URLSearchParams(r.request().postData() || "").get("grant_type");
        const clientId = new URLSearchParams(r.request().postData() || "").get("client_id");
        const answer = await r.json().catch(() => ({}));
        tokens.push({ status: r.status(), grant, clientId, ...answer });
      });
      return { context, p, errors, tokens };
    };
    /** On the authorization server's page: sign in with `token`, land back on the console. */
    const signInThere = async (p, token, what) => {
      await p.waitForURL(/\/oauth\/authorize\?/);
      const url = new URL(p.url());
      assert.equal(url.origin, enterpriseUrl);
      assert.equal(url.searchParams.get("resource"), `${enterpriseUrl}/api/v0`);
      assert.equal(url.searchParams.get("code_challenge_method"), "S256");
      assert.equal(url.searchParams.get("redirect_uri"), `${enterpriseUrl}/console/`);
      await p.getByRole("heading", { name: "Sign in to Canopy", level: 1 }).waitFor();
      if (what) await accessible(p, `authorization page (${what})`);
      if (what === "owner") await shot(p, "authorize");
      await p.getByLabel("Your Canopy access token").fill(token);
      await p.getByRole("button", { name: "Sign in and allow" }).click();
      await p.locator("#account").getByText("Signed in as").waitFor();
      const back = new URL(p.url());
      assert.equal(back.pathname, "/console/");
      assert.equal(back.search, "", "code, state and iss are gone from the address");
    };
    /** Nothing of the console's tokens in localStorage, sessionStorage or cookies. */
    const storesNoToken = async (p, tokens) => {
      const stored = await p.evaluate(() => JSON.stringify([{ ...localStorage }, { ...sessionStorage }, document.cookie]));
      assert.ok(tokens.length > 0, "the page got tokens");
      for (const t of tokens) {
        if (t.access_token) assert.ok(!stored.includes(t.access_token), "an access token is stored in the browser");
        if (t.refresh_token) assert.ok(!stored.includes(t.refresh_token), "a refresh token is stored in the browser");
      }
      assert.equal(await p.evaluate(() => localStorage.length + sessionStorage.length), 0, `stored: ${stored}`);
    };

    const owner = await browserFor();
    // The page's nav, for this browser.
    const ownerNav = (name) => owner.p.getByRole("navigation", { name: "Console pages" }).getByRole("link", { name, exact: true });
    await step("enterprise mode: /console sends you to the authorization server, the owner signs in there and is back", async () => {
      const { p, tokens } = owner;
      const response = await p.goto(`${enterpriseUrl}/console`);
      assert.equal(response.headers()["content-security-policy"], CSP);
      await signInThere(p, ownerToken, "owner");
      await shot(p, "signed-in");
      await p.locator("#account").getByText("admin (owner)").waitFor();
      await p.getByRole("heading", { name: "Servers", level: 1 }).waitFor();
      // Admin actions are there.
      await p.getByRole("button", { name: "Register", exact: true }).waitFor();
      await p.getByRole("button", { name: "Disable fx" }).waitFor();
      await p.getByRole("button", { name: "Deregister fx" }).waitFor();
      await ownerNav("Audit").waitFor();
      const exchange = tokens.find((t) => t.grant === "authorization_code");
      assert.equal(exchange.status, 200, JSON.stringify(exchange));
      assert.match(exchange.scope, /canopy:admin/);
      await storesNoToken(p, tokens);
      await accessible(p, "servers (enterprise, owner)");
    });
    await step("enterprise mode: a user created on the identities page, its token shown once, used, deleted", async () => {
      const { p } = owner;
      await ownerNav("Identities").click();
      await p.getByRole("heading", { name: "Identities", level: 1 }).waitFor();
      const users = p.getByRole("table", { name: "Users" });
      await users.getByRole("row", { name: /admin.*owner/ }).waitFor();
      // The signed-in owner cannot delete themselves from here.
      assert.equal(await p.getByRole("button", { name: "Delete admin", exact: true }).count(), 0);
      const form = p.getByRole("form", { name: "Create a user" });
      await form.getByLabel("User name").fill("console-member");
      await form.getByLabel("Role").selectOption("member");
      await form.getByRole("button", { name: "Create user" }).click();
      await p.locator("#notice").getByText("Created the user console-member (member)").waitFor();
      const panel = p.getByRole("region", { name: "New token for console-member" });
      const token = (await panel.getByLabel("Access token of console-member").textContent()).trim();
      assert.ok(token.length >= 20, `token ${token}`);
      await users.getByRole("row", { name: /console-member.*member/ }).waitFor();
      await accessible(p, "identities (user created)");

      // The token works: it is that member.
      const me = await fetch(`${enterpriseUrl}/api/v0/me`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(me.status, 200);
      const who = await me.json();
      assert.equal(who.name, "console-member");
      assert.equal(who.role, "member");
      assert.equal(who.manages_tenant, false);

      // Its role, changed in place by keyboard: the select, Tab to its button, Enter. The
      // owner's own role is not editable here.
      assert.equal(await p.getByLabel("Role of admin", { exact: true }).count(), 0, "the owner's own role is editable");
      const role = users.getByLabel("Role of console-member", { exact: true });
      assert.equal(await role.inputValue(), "member");
      await role.focus();
      await role.selectOption("admin");
      await p.keyboard.press("Tab");
      assert.equal(await p.evaluate(() => document.activeElement.textContent), "Change the role of console-member");
      await p.keyboard.press("Enter");
      await p.locator("#notice").getByText("Changed the role of console-member to admin").waitFor();
      await users.getByRole("row", { name: /console-member.*admin/ }).waitFor();
      await eventually("the focus back on the role", async () => {
        assert.equal(await p.evaluate(() => document.activeElement.id), "role-of-console-member");
      });
      assert.equal(await role.inputValue(), "admin");
      const promoted = await (await fetch(`${enterpriseUrl}/api/v0/me`, { headers: { authorization: `Bearer ${token}` } })).json();
      assert.equal(promoted.role, "admin", "the new role applies to the user's next request");
      assert.equal(promoted.manages_tenant, true);
      await accessible(p, "identities (role changed)");

      await panel.getByRole("button", { name: "Dismiss the token" }).click();
      await panel.waitFor({ state: "detached" });
      assert.ok(!(await p.content()).includes(token), "the token is still in the page");
      const stored = await p.evaluate(() => JSON.stringify([{ ...localStorage }, { ...sessionStorage }, document.cookie]));
      assert.ok(!stored.includes(token), "the token is stored in the browser");

      await users.getByRole("button", { name: "Delete console-member" }).click();
      await p.locator("#notice").getByText("Deleted console-member").waitFor();
      await users.getByRole("row", { name: /console-member/ }).waitFor({ state: "detached" });
      await eventually("the deleted user's token is refused", async () => {
        const again = await fetch(`${enterpriseUrl}/api/v0/me`, { headers: { authorization: `Bearer ${token}` } });
        assert.equal(again.status, 401);
      });
    });

    await step("enterprise mode: an MCP client created on the identities page, its token shown once, used, revoked", async () => {
      const { p } = owner;
      await ownerNav("Identities").click();
      await p.getByRole("heading", { name: "Identities", level: 1 }).waitFor();
      await p.getByRole("row", { name: /admin.*owner/ }).waitFor();
      await p.getByRole("row", { name: /mia.*member/ }).waitFor();
      await p.getByText("No MCP clients yet.").waitFor();
      const form = p.getByRole("form", { name: "Create an MCP client" });
      await form.getByLabel("Client name").fill("console-bot");
      await form.getByLabel("Client description").fill("made in the console");
      await form.getByLabel("Allowed servers").fill("fx");
      await form.getByRole("button", { name: "Create MCP client" }).click();
      await p.locator("#notice").getByText("Created the MCP client console-bot").waitFor();
      const panel = p.getByRole("region", { name: "New token for console-bot" });
      const token = (await panel.getByLabel("Access token of console-bot").textContent()).trim();
      assert.ok(token.length >= 20, `token ${token}`);
      await p.getByRole("row", { name: /console-bot.*made in the console.*fx/ }).waitFor();
      // The console's own grant is listed too.
      await p.getByRole("row", { name: /Canopy console.*user:admin/ }).first().waitFor();
      await accessible(p, "identities");
      await shot(p, "identities");

      const names = await mcpToolNames(`${enterpriseUrl}/mcp`, token);
      assert.ok(names.includes("fx__echo"), `console-bot sees ${names}`);
      assert.ok(names.includes("fx__add"), `console-bot sees ${names}`);

      // Narrow its allow list in place: only fx__echo. A real MCP client's tools/list follows.
      await p.getByRole("button", { name: "Edit console-bot" }).click();
      const edit = p.getByRole("form", { name: "Edit console-bot" });
      assert.equal(await edit.getByLabel("Allowed servers").inputValue(), "fx");
      assert.equal(await edit.getByLabel("Description").inputValue(), "made in the console");
      await edit.getByLabel("Allowed servers").fill("");
      await edit.getByLabel("Allowed tools").fill("fx__echo");
      await accessible(p, "identities (editing a client)");
      await edit.getByRole("button", { name: "Save console-bot" }).click();
      await p.locator("#notice").getByText("Saved console-bot").waitFor();
      await edit.waitFor({ state: "detached" });
      await p.getByRole("row", { name: /console-bot.*made in the console.*none.*fx__echo/ }).waitFor();
      await eventually("console-bot's tools/list follows its narrowed allow list", async () => {
        const narrowed = await mcpToolNames(`${enterpriseUrl}/mcp`, token);
        assert.ok(narrowed.includes("fx__echo"), `console-bot sees ${narrowed}`);
        assert.ok(!narrowed.includes("fx__add"), `console-bot still sees fx__add: ${narrowed}`);
      });

      await panel.getByRole("button", { name: "Dismiss the token" }).click();
      await panel.waitFor({ state: "detached" });
      await ownerNav("Servers").click();
      await p.getByRole("heading", { name: "Servers", level: 1 }).waitFor();
      await ownerNav("Identities").click();
      await p.getByRole("row", { name: /console-bot/ }).waitFor();
      assert.ok(!(await p.content()).includes(token), "the token is shown again");
      const stored = await p.evaluate(() => JSON.stringify([{ ...localStorage }, { ...sessionStorage }, document.cookie]));
      assert.ok(!stored.includes(token), "the token is stored in the browser");

      await p.getByRole("button", { name: "Delete console-bot" }).click();
      await p.locator("#notice").getByText("Deleted console-bot").waitFor();
      await p.getByText("No MCP clients yet.").waitFor();
      await eventually("the deleted client's token is refused", async () => {
        assert.equal(await mcpToolNames(`${enterpriseUrl}/mcp`, token, 401), 401);
      });
    });

    await step("enterprise mode: the console refreshes its access token before it expires (the refresh token rotates)", async () => {
      // console-check.sh gives the enterprise instance 40 s access tokens: the console refreshes
      // 10 s before they expire.
      const { p, tokens } = owner;
      await eventually("a refresh", async () => assert.ok(tokens.some((t) => t.grant === "refresh_token")), 45);
      const refreshed = tokens.find((t) => t.grant === "refresh_token");
      assert.equal(refreshed.status, 200, JSON.stringify(refreshed));
      const first = tokens.find((t) => t.grant === "authorization_code");
      assert.notEqual(refreshed.refresh_token, first.refresh_token, "the refresh token rotated");
      await ownerNav("Audit").click();
      await p.getByRole("heading", { name: "Audit", level: 1 }).waitFor();
      await p.getByRole("row", { name: /user:admin/ }).first().waitFor();
      // The role change of the identities page is audited: who, whose, to what.
      await p.getByRole("row", { name: /user:admin.*user\.role_changed.*user console-member.*role admin/ }).waitFor();
      assert.equal(new URL(p.url()).pathname, "/console/", "still signed in, no new sign-in");
      await storesNoToken(p, tokens);
    });

    await step("enterprise mode: a reload needs sign-in again (the tokens lived in the page only)", async () => {
      const { p, tokens } = owner;
      await p.reload();
      await signInThere(p, ownerToken);
      await p.getByRole("heading", { name: "Servers", level: 1 }).waitFor();
      await storesNoToken(p, tokens);
    });

    await step("enterprise mode: the connect panel shows the signed-in principal", async () => {
      const { p } = owner;
      await ownerNav("Connect").click();
      await p.getByRole("heading", { name: "Connect", level: 1 }).waitFor();
      const facts = p.getByLabel("Signed-in principal");
      await facts.getByText("user:admin").waitFor();
      await facts.getByText("owner", { exact: true }).waitFor();
      await facts.getByText("default", { exact: true }).waitFor();
      const cursorConfig = JSON.parse(await p.getByLabel("Cursor", { exact: true }).textContent());
      assert.equal(cursorConfig.mcpServers.canopy.url, `${enterpriseUrl}/mcp`);

      // A group's endpoint: configurations with no token in them; the clients sign in themselves.
      const group = `${enterpriseUrl}/groups/fx-all/mcp`;
      await p.getByLabel("Endpoint", { exact: true }).selectOption({ label: `Group fx-all: ${group}` });
      const cursorGroup = JSON.parse(await p.getByLabel("Cursor", { exact: true }).textContent());
      assert.deepEqual(cursorGroup, { mcpServers: { "canopy-group-fx-all": { url: group } } });
      const login = await p.getByLabel("Sign in the canopy CLI", { exact: true }).textContent();
      assert.equal(login, `canopy login --oauth --registry ${enterpriseUrl} --group fx-all`);
      const bridge = JSON.parse(await p.getByLabel("canopy stdio", { exact: true }).textContent()).mcpServers["canopy-group-fx-all"];
      assert.deepEqual(bridge, { command: "canopy", args: ["stdio", "--registry", enterpriseUrl, "--group", "fx-all"] });
      const inspector = await p.getByLabel("MCP Inspector", { exact: true }).textContent();
      assert.equal(inspector, `${login}\nnpx @modelcontextprotocol/inspector --cli --method tools/list -- canopy stdio --registry ${enterpriseUrl} --group fx-all`);
      const configs = await p.locator("main pre").allTextContents();
      assert.ok(configs.length >= 7, `${configs.length} configurations`);
      for (const text of configs) {
        assert.doesNotMatch(text, /authorization|bearer|token|headers/i, `a credential in a configuration: ${text}`);
        assert.ok(!text.includes(ownerToken), "the owner's token is in a configuration");
        for (const t of owner.tokens) {
          if (t.access_token) assert.ok(!text.includes(t.access_token), "the console's access token is in a configuration");
        }
      }
      // Without a token the endpoint points a client at its OAuth metadata, which is how those
      // clients sign in.
      const challenge = await fetch(group, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: {} }),
      });
      assert.equal(challenge.status, 401);
      assert.match(challenge.headers.get("www-authenticate") || "", /resource_metadata="[^"]+"/);
      await accessible(p, "connect (enterprise)");
      await shot(p, "connect-enterprise");

      if (canopyBin) {
        // The stdio bridge as pasted: `canopy login --oauth` signs in in the browser (the owner
        // types their token at the authorization server), then the configuration lists fx-all's tools.
        const home = mkdtempSync(`${tmpdir()}/canopy-console-home-`);
        const args = login.split(" ").slice(1).concat("--no-browser");
        const cli = spawn(canopyBin, args, { env: { ...process.env, HOME: home }, stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        let err = "";
        cli.stdout.on("data", (c) => (out += c));
        cli.stderr.on("data", (c) => (err += c));
        const exited = new Promise((resolve) => cli.on("exit", resolve));
        const url = await eventually("the sign-in URL from canopy login", async () => {
          const found = err.match(/https?:\/\/\S+\/oauth\/authorize\?\S+/);
          assert.ok(found, err);
          return found[0];
        });
        const signIn = await owner.context.newPage();
        await signIn.goto(url);
        await signIn.getByLabel("Your Canopy access token").fill(ownerToken);
        await signIn.getByRole("button", { name: "Sign in and allow" }).click();
        assert.equal(await exited, 0, `canopy login: ${out} ${err}`);
        await signIn.close();
        assert.match(out, /Signed in/);
        const names = await stdioToolNames(bridge, home);
        assert.deepEqual(names.sort(), (await mcpToolNames(group, ownerToken)).sort());
        assert.ok(names.includes("fx__echo"), `the bridge lists ${names}`);
        log(`  canopy login --oauth, then canopy stdio as configured, listed fx-all's ${names.length} tools`);
      }
    });

    await step("enterprise mode: sign out revokes the tokens and forgets them", async () => {
      const { p, tokens } = owner;
      const held = tokens.filter((t) => t.status === 200).at(-1);
      assert.equal((await fetch(`${enterpriseUrl}/api/v0/me`, { headers: { authorization: `Bearer ${held.access_token}` } })).status, 200);
      await p.locator("#account").getByRole("button", { name: "Sign out" }).click();
      await p.getByRole("heading", { name: "Sign in to the Canopy console", level: 1 }).waitFor();
      await p.locator("#notice").getByText(/You are signed out/).waitFor();
      assert.equal(await p.getByRole("navigation").isHidden(), true);
      // The refresh token's grant is over, and the access token is refused.
      const body = new URLSearchParams({ grant_type: "refresh_token", client_id: held.clientId, refresh_token: held.refresh_token });
      const again = await fetch(`${enterpriseUrl}/oauth/token`, { method: "POST", body });
      assert.equal(again.status, 400, "the revoked refresh token still works");
      await eventually("the revoked access token is refused", async () => {
        const me = await fetch(`${enterpriseUrl}/api/v0/me`, { headers: { authorization: `Bearer ${held.access_token}` } });
        assert.equal(me.status, 401);
      });
      await storesNoToken(p, tokens);
      await accessible(p, "signed out");
      await shot(p, "sign-in");
      // Signing in again is the button.
      await p.getByRole("button", { name: "Sign in", exact: true }).click();
      await p.waitForURL(/\/oauth\/authorize\?/);
      assert.deepEqual(owner.errors, []);
      await owner.context.close();
    });

    await step("enterprise mode: a member signs in and sees no admin action", async () => {
      const member = await browserFor();
      const { p, tokens } = member;
      const memberNav = (name) => p.getByRole("navigation", { name: "Console pages" }).getByRole("link", { name, exact: true });
      await p.goto(`${enterpriseUrl}/console`);
      await signInThere(p, memberToken, "member");
      await p.locator("#account").getByText("mia (member)").waitFor();
      const exchange = tokens.find((t) => t.grant === "authorization_code");
      assert.doesNotMatch(exchange.scope, /canopy:admin/, "a member's token has no admin scope");
      await p.getByRole("heading", { name: "Servers", level: 1 }).waitFor();
      await p.getByRole("row").filter({ has: p.getByRole("link", { name: "fx", exact: true }) }).waitFor();
      const none = async (locator, what) => assert.equal(await locator.count(), 0, `a member sees ${what}`);
      await none(p.getByRole("button", { name: "Register", exact: true }), "Register");
      await none(p.getByRole("button", { name: /^(Disable|Enable|Deregister) / }), "server toggles");
      await none(p.getByRole("columnheader", { name: "Actions" }), "an Actions column");
      assert.ok(!/\bnull\b|undefined/.test(await p.locator("main").textContent()), "a hidden control left a trace");
      await none(memberNav("Audit"), "the audit page");
      await p.goto(`${enterpriseUrl}/console/#/audit`);
      await p.getByText("The audit log is for the tenant's owners and admins.").waitFor();
      await memberNav("Servers").click();
      await p.getByRole("heading", { name: "Servers", level: 1 }).waitFor();
      await accessible(p, "servers (member)");
      await shot(p, "member");
      // The tools can still be tried: using is what members do.
      await p.getByRole("link", { name: "fx", exact: true }).click();
      await p.getByRole("button", { name: "Call fx__echo" }).waitFor();

      await memberNav("Groups").click();
      await p.getByRole("article", { name: "fx-all" }).waitFor();
      await none(p.getByRole("button", { name: /^(Edit|Delete) / }), "group edits");
      await none(p.getByRole("form", { name: "Create a group" }), "the group form");
      assert.ok(!/\bnull\b|undefined/.test(await p.locator("main").textContent()), "a hidden control left a trace");

      await memberNav("Identities").click();
      await p.getByRole("heading", { name: "Your OAuth grants" }).waitFor();
      await p.getByRole("row", { name: /Canopy console.*user:mia/ }).waitFor();
      await none(p.getByRole("form", { name: "Create an MCP client" }), "the MCP client form");
      await none(p.getByRole("form", { name: "Create a user" }), "the user form");
      await none(p.getByRole("button", { name: /^(Edit|Delete) / }), "user or client edits");
      await none(p.getByRole("table", { name: "Users" }), "the users");
      await accessible(p, "identities (member)");

      await memberNav("Connect").click();
      await p.getByLabel("Signed-in principal").getByText("user:mia").waitFor();
      await p.getByLabel("Signed-in principal").getByText("member", { exact: true }).waitFor();
      await storesNoToken(p, tokens);
      assert.deepEqual(member.errors, []);
      await member.context.close();
    });

    await step("enterprise mode: another tenant's owner sees none of the first tenant's servers or audit", async () => {
      const other = await browserFor();
      const { p } = other;
      const otherNav = (name) => p.getByRole("navigation", { name: "Console pages" }).getByRole("link", { name, exact: true });
      await p.goto(`${enterpriseUrl}/console`);
      await signInThere(p, otherOwnerToken);
      await p.locator("#account").getByText("olga (owner)").waitFor();
      await p.locator("#account").getByText("in acme").waitFor();
      await p.getByRole("heading", { name: "Servers", level: 1 }).waitFor();
      await p.getByRole("link", { name: "python", exact: true }).waitFor();
      assert.equal(await p.getByRole("link", { name: "fx", exact: true }).count(), 0, "acme's owner sees fx");
      await p.getByRole("button", { name: "Register", exact: true }).waitFor();
      await otherNav("Groups").click();
      await p.getByText(/No groups yet/).waitFor();
      await otherNav("Audit").click();
      await p.getByRole("heading", { name: "Audit", level: 1 }).waitFor();
      await p.getByRole("row", { name: /user:olga|system|operator/ }).first().waitFor();
      const audit = await p.locator("main").textContent();
      assert.ok(!/\bfx\b|fx-all|user:admin|user:mia|console-bot/.test(audit), `acme's audit shows the default tenant: ${audit}`);
      await storesNoToken(p, other.tokens);
      assert.deepEqual(other.errors, []);
      await other.context.close();
    });

    await step("enterprise mode: the operator signs in, creates a tenant on the Tenants page, and its owner sees only it", async () => {
      const op = await browserFor();
      const { p, tokens } = op;
      const opNav = (name) => p.getByRole("navigation", { name: "Console pages" }).getByRole("link", { name, exact: true });
      await p.goto(`${enterpriseUrl}/console`);
      await signInThere(p, initialized.operator_token, "operator");
      await p.locator("#account").getByText("operator (operator)").waitFor();
      const exchange = tokens.find((t) => t.grant === "authorization_code");
      assert.equal(exchange.scope, "canopy:operator", "the operator's token has its one scope, nothing of a tenant");
      // Lands on Tenants; a tenant's pages are not offered.
      await p.getByRole("heading", { name: "Tenants", level: 1 }).waitFor();
      for (const name of ["Servers", "Groups", "Identities", "Audit", "Jobs", "Python", "Connect"]) {
        assert.equal(await opNav(name).count(), 0, `the operator is offered ${name}`);
      }
      await opNav("Tenants").waitFor();
      const tenants = p.getByRole("table", { name: "Tenants" });
      await tenants.getByRole("row", { name: /^default / }).waitFor();
      await tenants.getByRole("row", { name: /^acme / }).waitFor();
      // Create one: the owner's token shown once.
      await p.getByLabel("Tenant ID").fill("initech");
      await p.getByLabel("Display name").fill("Initech Corp");
      await p.getByLabel("Owner's user name").fill("ines");
      await p.getByRole("button", { name: "Create tenant" }).click();
      await p.locator("#notice").getByText("Created the tenant initech with its owner ines.").waitFor();
      const panel = p.getByRole("region", { name: /New token for ines/ });
      const inesToken = (await panel.locator("pre").textContent()).trim();
      assert.ok(inesToken.length >= 40, inesToken);
      await tenants.getByRole("row", { name: /^initech Initech Corp active/ }).waitFor();
      await accessible(p, "tenants (operator)");
      await shot(p, "tenants");
      await p.getByRole("button", { name: "Dismiss the token" }).click();
      assert.ok(!(await p.locator("body").textContent()).includes(inesToken), "the token stays on the page");
      // Suspend and resume acme: its owner's token is refused meanwhile.
      await p.getByRole("button", { name: "Suspend acme" }).click();
      await tenants.getByRole("row", { name: /^acme .* suspended/ }).waitFor();
      const olgaMe = () => fetch(`${enterpriseUrl}/api/v0/me`, { headers: { authorization: `Bearer ${otherOwnerToken}` } });
      assert.equal((await olgaMe()).status, 401, "a suspended tenant's owner");
      await p.getByRole("button", { name: "Resume acme" }).click();
      await tenants.getByRole("row", { name: /^acme .* active/ }).waitFor();
      assert.equal((await olgaMe()).status, 200);
      // A tenant's page, asked for by its address, says it is not the operator's.
      await p.goto(`${enterpriseUrl}/console/#/servers`);
      await p.getByRole("heading", { name: "Not for the platform operator", level: 1 }).waitFor();
      await accessible(p, "a tenant page (operator)");
      await storesNoToken(p, tokens);
      assert.deepEqual(op.errors, []);
      await op.context.close();

      // The new owner signs in with the token shown once, and sees only their tenant.
      const ines = await browserFor();
      const q = ines.p;
      const inesNav = (name) => q.getByRole("navigation", { name: "Console pages" }).getByRole("link", { name, exact: true });
      await q.goto(`${enterpriseUrl}/console`);
      await signInThere(q, inesToken);
      await q.locator("#account").getByText("ines (owner)").waitFor();
      await q.locator("#account").getByText("in initech").waitFor();
      await q.getByRole("heading", { name: "Servers", level: 1 }).waitFor();
      await q.getByRole("link", { name: "python", exact: true }).waitFor();
      assert.equal(await q.getByRole("link", { name: "fx", exact: true }).count(), 0, "initech's owner sees fx");
      assert.equal(await inesNav("Tenants").count(), 0, "a tenant owner is offered Tenants");
      const inesExchange = ines.tokens.find((t) => t.grant === "authorization_code");
      assert.doesNotMatch(inesExchange.scope, /canopy:operator/);
      await inesNav("Identities").click();
      await q.getByRole("table", { name: "Users" }).getByRole("row", { name: /^ines owner/ }).waitFor();
      assert.ok(!/\b(admin|mia|olga)\b/.test(await q.getByRole("table", { name: "Users" }).textContent()), "another tenant's users");
      await q.goto(`${enterpriseUrl}/console/#/tenants`);
      await q.getByText("Tenants are managed by the platform operator.").waitFor();
      await storesNoToken(q, ines.tokens);
      assert.deepEqual(ines.errors, []);
      await ines.context.close();
    });

    await step("enterprise mode: a denied sign-in comes back to the sign-in page, which says so", async () => {
      const denied = await browserFor();
      const { p } = denied;
      await p.goto(`${enterpriseUrl}/console`);
      await p.waitForURL(/\/oauth\/authorize\?/);
      await p.getByRole("button", { name: "Deny" }).click();
      await p.getByRole("heading", { name: "Sign in to the Canopy console", level: 1 }).waitFor();
      await p.getByText("You denied the sign-in.").waitFor();
      assert.equal(new URL(p.url()).search, "");
      assert.equal(await p.evaluate(() => localStorage.length + sessionStorage.length), 0);
      await accessible(p, "sign-in denied");
      assert.deepEqual(denied.errors, []);
      await denied.context.close();
    });
  }
} catch {
  // Reported by step(); the exit code says it.
} finally {
  await browser.close();
}
if (failures) {
  log(`${failures} step(s) FAILED`);
  process.exit(1);
}
log("all steps passed");
