// scripts/oauth-check.mjs: real OAuth clients against a running `canopy start --enterprise`
// (driven by scripts/oauth-check.sh, which starts Canopy and the fixture and makes the
// identities). Everything here is a real implementation: the official MCP TypeScript SDK's
// client with its own OAuth code (discovery from the 401, RFC 9728 and RFC 8414 metadata,
// dynamic registration, PKCE, RFC 8707 resource), and `oidc-provider` as a tenant's identity
// provider. Only the human is simulated: the script submits the forms a person would.
//
// Usage: node oauth-check.mjs BASE_URL OWNER_TOKEN MEMBER_TOKEN ROBOT_TOKEN
// Needs CANOPY_NODE_TOOLS_DIR (scripts/lib/node-tools.sh) for the SDK and oidc-provider.

import { createServer } from "node:http";
import { pathToFileURL } from "node:url";

const [base, ownerToken, memberToken, robotToken] = process.argv.slice(2);
const tools = process.env.CANOPY_NODE_TOOLS_DIR;
if (!base || !robotToken || !tools) {
  console.error("usage: CANOPY_NODE_TOOLS_DIR=... node oauth-check.mjs BASE OWNER MEMBER ROBOT");
  process.exit(2);
}
const load = (path) => import(pathToFileURL(`${tools}/node_modules/${path}`).href);
const { Client } = await load("@modelcontextprotocol/sdk/dist/esm/client/index.js");
const { StreamableHTTPClientTransport } = await load("@modelcontextprotocol/sdk/dist/esm/client/streamableHttp.js");
const { UnauthorizedError } = await load("@modelcontextprotocol/sdk/dist/esm/client/auth.js");
const { ClientCredentialsProvider } = await load("@modelcontextprotocol/sdk/dist/esm/client/auth-extensions.js");
const { default: Provider } = await load("oidc-provider/lib/index.js");

const log = (...a) => console.error("oauth-check:", ...a);
let failures = 0;
const check = (ok, what) => {
  if (ok) log(`ok   ${what}`);
  else {
    failures++;
    log(`FAIL ${what}`);
  }
};

/** A cookie jar for one origin, enough for a browser-like walk through redirects. */
class Browser {
  constructor() {
    this.cookies = new Map();
  }
  async request(url, init = {}) {
    const u = new URL(url);
    const jar = this.cookies.get(u.host) || new Map();
    const headers = { ...(init.headers || {}) };
    if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
    const response = await fetch(url, { ...init, headers, redirect: "manual" });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const i = pair.indexOf("=");
      jar.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
    this.cookies.set(u.host, jar);
    return response;
  }
  /** Follows redirects until `stop(url)` says it has arrived (the client's redirect URI). */
  async follow(url, stop, init) {
    let response = await this.request(url, init);
    for (let hops = 0; hops < 20; hops++) {
      const location = response.headers.get("location");
      if (!location || ![301, 302, 303, 307, 308].includes(response.status)) return { response, url };
      url = new URL(location, url).href;
      if (stop(url)) return { response: null, url };
      response = await this.request(url);
    }
    throw new Error("too many redirects");
  }
}

const form = (html, name) => {
  const m = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
  return m && m[1].replaceAll("&amp;", "&").replaceAll("&quot;", '"');
};
const formBody = (params) => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams(params).toString(),
});

/** An OAuthClientProvider as an interactive app keeps it, in memory. */
class AppProvider {
  constructor(redirectUrl, signIn) {
    this._redirectUrl = redirectUrl;
    this.signIn = signIn;
    this.store = {};
    this.code = null;
  }
  get redirectUrl() {
    return this._redirectUrl;
  }
  get clientMetadata() {
    return {
      client_name: "oauth-check (MCP TypeScript SDK)",
      redirect_uris: [this._redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }
  clientInformation() {
    return this.store.client;
  }
  saveClientInformation(info) {
    this.store.client = info;
  }
  tokens() {
    return this.store.tokens;
  }
  saveTokens(tokens) {
    this.store.tokens = tokens;
  }
  saveCodeVerifier(v) {
    this.store.verifier = v;
  }
  codeVerifier() {
    return this.store.verifier;
  }
  /** The "browser": the user signs in on Canopy's page; the code comes back to the app. */
  async redirectToAuthorization(url) {
    this.authorizationUrl = url;
    this.code = await this.signIn(url);
  }
}

async function connect(url, authProvider) {
  const client = new Client({ name: "oauth-check", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider });
  await client.connect(transport);
  return client;
}

/** Connects, runs the authorization flow when Canopy says 401, and connects again. */
async function connectInteractive(url, provider) {
  try {
    return await connect(url, provider);
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
    const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
    if (!provider.code) throw new Error("the authorization flow produced no code");
    await transport.finishAuth(provider.code);
    return await connect(url, provider);
  }
}

async function echo(client, text) {
  const result = await client.callTool({ name: "fx__echo", arguments: { message: text } });
  return result.content?.map((c) => c.text).join("");
}

const jwtPayload = (token) => JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
const redirect = "http://127.0.0.1:1/callback"; // never contacted: the script stops at it
const codeFrom = (url) => new URL(url).searchParams.get("code");

// ---------------------------------------------------------------------------------------------
// 1. No token, a garbage token, a token for another resource: the documented 401.
{
  const bare = await fetch(`${base}/mcp`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
  });
  const challenge = bare.headers.get("www-authenticate") || "";
  check(bare.status === 401 && challenge.includes(`resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"`),
    `no token: 401 with ${challenge}`);
  const prm = await (await fetch(`${base}/.well-known/oauth-protected-resource/mcp`)).json();
  check(prm.resource === `${base}/mcp` && prm.authorization_servers?.includes(base), `RFC 9728 metadata names Canopy: ${JSON.stringify(prm)}`);
  const asm = await (await fetch(`${base}/.well-known/oauth-authorization-server`)).json();
  check(asm.issuer === base && asm.code_challenge_methods_supported?.includes("S256"), "RFC 8414 metadata");
}

// ---------------------------------------------------------------------------------------------
// 2. The SDK's client-credentials provider: the MCP client `robot` (its name and its token).
{
  const provider = new ClientCredentialsProvider({ clientId: "robot", clientSecret: robotToken, expectedIssuer: base });
  const client = await connect(`${base}/mcp`, provider);
  const { tools: listed } = await client.listTools();
  check(listed.some((t) => t.name === "fx__echo"), `client credentials: tools/list (${listed.length} tools)`);
  check((await echo(client, "cc")) === "cc", "client credentials: tools/call fx__echo");
  const token = provider.tokens()?.access_token;
  const claims = jwtPayload(token);
  check(claims.sub === "client:robot" && claims.aud === `${base}/mcp`, `JWT sub=${claims.sub} aud=${claims.aud}`);
  await client.close();

  // The same token on another resource: 401 invalid_token (audience).
  const other = await fetch(`${base}/servers/fx/mcp`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } } }),
  });
  check(other.status === 401 && (other.headers.get("www-authenticate") || "").includes("invalid_token"),
    `a /mcp token on /servers/fx/mcp: ${other.status} ${other.headers.get("www-authenticate")}`);
  // Revoked: refused at once.
  const revoke = await fetch(`${base}/oauth/revoke`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`robot:${encodeURIComponent(robotToken)}`).toString("base64")}` },
    body: new URLSearchParams({ token }).toString(),
  });
  check(revoke.status === 200, "revocation answers 200");
  const afterRevoke = await fetch(`${base}/mcp`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
  });
  check(afterRevoke.status === 401, `a revoked token: ${afterRevoke.status}`);
}

// ---------------------------------------------------------------------------------------------
// 3. Authorization code + PKCE, the whole way as an interactive client does it: 401 -> PRM ->
//    AS metadata -> dynamic registration -> /authorize -> sign in -> code -> token -> MCP.
{
  const browser = new Browser();
  const signInWithToken = async (url) => {
    const page = await browser.request(url.href);
    const html = await page.text();
    if (page.status !== 200) throw new Error(`authorize page ${page.status}: ${html.slice(0, 300)}`);
    const { url: back } = await browser.follow(`${base}/oauth/authorize`, (u) => u.startsWith(redirect),
      formBody({ request: form(html, "request"), token: memberToken, action: "allow" }));
    return codeFrom(back);
  };
  const provider = new AppProvider(redirect, signInWithToken);
  const client = await connectInteractive(`${base}/servers/fx/mcp`, provider);
  const auth = provider.authorizationUrl;
  check(auth?.searchParams.get("code_challenge_method") === "S256" && auth.searchParams.get("resource") === `${base}/servers/fx/mcp`,
    `the SDK asked with PKCE S256 for resource ${auth?.searchParams.get("resource")}`);
  check(provider.clientInformation()?.client_id?.startsWith("cnp_client_"), "the SDK registered itself dynamically");
  const { tools: listed } = await client.listTools();
  check(listed.some((t) => t.name === "echo"), `auth code: tools/list on /servers/fx/mcp (${listed.map((t) => t.name).join(",")})`);
  const r = await client.callTool({ name: "echo", arguments: { message: "pkce" } });
  check(r.content?.[0]?.text === "pkce", "auth code: tools/call echo");
  const claims = jwtPayload(provider.tokens().access_token);
  check(claims.sub === "user:alice" && claims.tenant === "default", `the token is alice's: ${claims.sub} in ${claims.tenant}`);
  check(typeof provider.tokens().refresh_token === "string", "a refresh token came with it");
  await client.close();

  // Refresh: a fresh access token from the refresh token, the old refresh token then dead.
  const refresh = async (rt) => fetch(`${base}/oauth/token`, formBody({ grant_type: "refresh_token", refresh_token: rt, client_id: provider.clientInformation().client_id }));
  const first = provider.tokens().refresh_token;
  const rotated = await refresh(first);
  const rotatedBody = await rotated.json();
  check(rotated.status === 200 && rotatedBody.refresh_token && rotatedBody.refresh_token !== first, "refresh rotates");
  const reused = await refresh(first);
  check(reused.status === 400 && (await reused.json()).error === "invalid_grant", "a reused refresh token is refused");
  const familyDead = await refresh(rotatedBody.refresh_token);
  check(familyDead.status === 400, "and the grant is revoked with it (reuse detection)");
}

// ---------------------------------------------------------------------------------------------
// 4. Single sign-on: the tenant's own OpenID provider (oidc-provider), users signing in there.
{
  const port = await new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const issuer = `http://127.0.0.1:${port}`;
  const oidc = new Provider(issuer, {
    clients: [{
      client_id: "canopy",
      client_secret: "canopy-oidc-secret-0123456789",
      redirect_uris: [`${base}/oauth/oidc/callback`],
      grant_types: ["authorization_code"],
      response_types: ["code"],
    }],
    claims: { openid: ["sub"], profile: ["preferred_username", "name"] },
    conformIdTokenClaims: false,
    async findAccount(ctx, id) {
      return { accountId: id, claims: async () => ({ sub: `idp-${id}`, preferred_username: id, name: id }) };
    },
    features: { devInteractions: { enabled: true } },
  });
  const server = oidc.listen(port);
  await new Promise((r) => server.once("listening", r));
  log(`oidc-provider at ${issuer}`);

  const put = await fetch(`${base}/api/v0/identity-provider`, {
    method: "PUT",
    headers: { authorization: `Bearer ${ownerToken}`, "content-type": "application/json" },
    body: JSON.stringify({ issuer, client_id: "canopy", client_secret: "canopy-oidc-secret-0123456789" }),
  });
  const putBody = await put.json();
  check(put.status === 200 && putBody.redirect_uri === `${base}/oauth/oidc/callback` && !JSON.stringify(putBody).includes("canopy-oidc-secret"),
    `identity provider set: ${JSON.stringify(putBody)}`);
  const memberPut = await fetch(`${base}/api/v0/identity-provider`, {
    method: "PUT",
    headers: { authorization: `Bearer ${memberToken}`, "content-type": "application/json" },
    body: JSON.stringify({ issuer, client_id: "x", client_secret: "y" }),
  });
  check(memberPut.status === 403, `a member may not set it: ${memberPut.status}`);
  const audit = await (await fetch(`${base}/api/v0/audit?kind=admin`, { headers: { authorization: `Bearer ${ownerToken}` } })).json();
  const entry = (audit.entries || []).find((e) => e.event_type === "tenant.identity_provider_set");
  check(entry?.actor === "user:admin" && entry?.summary === `issuer ${issuer}` && !JSON.stringify(audit).includes("canopy-oidc-secret"),
    `the change is in the audit log, by ${entry?.actor}, without the secret`);

  const ssoSignIn = (login) => async (url) => {
    const browser = new Browser();
    const page = await (await browser.request(url.href)).text();
    // Canopy's page -> the organisation's provider.
    let { response, url: at } = await browser.follow(`${base}/oauth/authorize/sso`, (u) => u.startsWith(redirect),
      formBody({ request: form(page, "request"), organization: "default" }));
    for (let step = 0; step < 6 && response; step++) {
      const html = await response.text();
      if (response.status >= 400) throw new Error(`HTTP ${response.status} at ${at}: ${html.slice(0, 4000)}`);
      const action = html.match(/<form[^>]*action="([^"]+)"/)?.[1];
      if (!action) throw new Error(`no form at ${at}: ${html.slice(0, 500)}`);
      const target = new URL(action.replaceAll("&amp;", "&"), at).href;
      const prompt = form(html, "prompt");
      const fields = prompt === "login" ? { prompt, login, password: "any" } : { prompt: prompt || "consent" };
      ({ response, url: at } = await browser.follow(target, (u) => u.startsWith(redirect), formBody(fields)));
      if (!response) break;
      if (response.status === 200 && at.startsWith(base)) {
        throw new Error(`Canopy answered a page: ${(await response.text()).slice(0, 600)}`);
      }
    }
    return codeFrom(at);
  };
  const provider = new AppProvider(redirect, ssoSignIn("alice"));
  const client = await connectInteractive(`${base}/mcp`, provider);
  const { tools: listed } = await client.listTools();
  check(listed.some((t) => t.name === "fx__echo"), "SSO: tools/list after signing in at the organisation's provider");
  const claims = jwtPayload(provider.tokens().access_token);
  check(claims.sub === "user:alice" && claims.tenant === "default", `SSO: the token is ${claims.sub} in ${claims.tenant}`);
  await client.close();

  // The owner sees the application's grant and revokes it: its refresh token stops at once.
  const grants = await (await fetch(`${base}/api/v0/oauth-grants`, { headers: { authorization: `Bearer ${ownerToken}` } })).json();
  const grant = grants.find((g) => g.client_id === provider.clientInformation().client_id);
  check(grant?.subject === "user:alice" && grant?.client_name === "oauth-check (MCP TypeScript SDK)", `the grant is listed: ${JSON.stringify(grant)}`);
  const revoked = await fetch(`${base}/api/v0/oauth-grants/${grant?.id}`, { method: "DELETE", headers: { authorization: `Bearer ${ownerToken}` } });
  check(revoked.status === 204, `the owner revokes it: ${revoked.status}`);
  const after = await fetch(`${base}/oauth/token`, formBody({ grant_type: "refresh_token", refresh_token: provider.tokens().refresh_token, client_id: provider.clientInformation().client_id }));
  check(after.status === 400, `its refresh token no longer works: ${after.status}`);

  // Another site auto-submitting the single sign-on form for its own client, in a victim's
  // browser that has a live session at the provider: the form did not come from a page Canopy
  // showed that browser, so Canopy refuses it before going to the provider.
  {
    const attacker = new Browser();
    const page = await (await attacker.request(provider.authorizationUrl.href)).text();
    const victim = new Browser();
    const forged = await victim.request(`${base}/oauth/authorize/sso`, formBody({ request: form(page, "request"), organization: "default" }));
    check(forged.status === 403 && !forged.headers.get("location"), `a cross-site sign-in form is refused: ${forged.status}`);
  }

  // Someone the provider knows but Canopy does not: no token.
  const stranger = new AppProvider(redirect, ssoSignIn("mallory"));
  let refused = false;
  try {
    await connectInteractive(`${base}/mcp`, stranger);
  } catch (e) {
    refused = /no Canopy user of that name/.test(String(e.message));
    log(`mallory: ${e.message.split(":")[0]}, ${(e.message.match(/class="error">([^<]*)/) || [])[1]}`);
  }
  check(refused && !stranger.tokens(), "SSO: a provider user without a Canopy user gets no token");
  server.close();
}

if (failures) {
  log(`${failures} check(s) FAILED`);
  process.exit(1);
}
log("all checks passed");
