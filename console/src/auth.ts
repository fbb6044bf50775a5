// Enterprise-mode sign-in: the console is an OAuth 2.1 public client of Canopy's own
// authorization server, on the same origin, with the authorization code flow and PKCE (S256).
//
// Sign-in (when the API answers 401, or the "Sign in" button): register the console dynamically
// (RFC 7591, `token_endpoint_auth_method: none`, redirect URI `${origin}/console/`), make a PKCE
// verifier and a state, keep those two (and nothing else) in sessionStorage, and send the browser
// to /oauth/authorize for the resource `${issuer}/api/v0` (RFC 8707; the issuer is the
// deployment's public URL, from the AS metadata) with every scope the AS offers (it grants what
// the user's role allows: no `canopy:admin` for a member; to the platform operator, who signs in
// with their operator token, only `canopy:operator`). Back at /console/?code=…&state=…&iss=…
// the state must be the one kept, and `iss` the issuer (RFC 9207); the code is exchanged at
// /oauth/token and code, state and iss leave the address bar (history.replaceState).
//
// Where things live: the access and refresh tokens in this module's memory only, never in
// localStorage, sessionStorage or a cookie, so a reload signs in again (with single sign-on at
// the identity provider, one click). The client id travels inside the state (`RANDOM.CLIENT_ID`:
// a client id is public), so sessionStorage holds only the verifier and the state, and only
// while the browser is at the authorization server. The access token is refreshed (the refresh
// token rotates) a minute before it expires, and once more on a 401; when the refresh is refused
// the grant is over and the next request signs in again. Sign out revokes the refresh token (the
// grant ends) and the access token (RFC 7009) and forgets both.
//
// One audience is enough: everything the console does goes through /api/v0, the Python page's
// destroy included (DELETE /api/v0/python/environments/ID calls the python server's tool on the
// worker as the signed-in principal), so it never needs a token for an MCP endpoint. Had it
// needed one, a second authorization would be the way: the token endpoint keeps a refresh
// token to the resource its grant was made for (a `resource` naming another is invalid_target).
//
// Every endpoint is called by path on this origin (/oauth/register, /oauth/token,
// /oauth/revoke), so the console's CSP stays `connect-src 'self'`; the authorization page is a
// navigation, not a connection.

const PENDING = "canopy-console-sign-in";
const METADATA = "/.well-known/oauth-authorization-server";

let config = { mode: "development", public_url: location.origin };
/** { access, refresh, clientId, expiresAt } while signed in; null otherwise. */
let tokens = null;
let refreshTimer = null;
let refreshing = null;

/** A sign-in that did not complete: the reason is shown on the sign-in page. */
export class SignInError extends Error {}

/** The console's config.json. */
export function configure(c) {
  config = c;
}

/** Whether requests need the console's sign-in (enterprise mode). */
export function required() {
  return config.mode === "enterprise";
}

/** Whether the console holds tokens (it signed in itself). */
export function signedIn() {
  return tokens !== null;
}

/** The Authorization header value for API requests, or null. */
export function authorization() {
  return tokens ? `Bearer ${tokens.access}` : null;
}

const redirectUri = () => `${location.origin}/console/`;

function base64url(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const random = (n) => base64url(crypto.getRandomValues(new Uint8Array(n)));

async function challengeOf(verifier) {
  if (!crypto.subtle) throw new SignInError("Sign-in needs a secure page: open the console over https.");
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

async function metadata() {
  const response = await fetch(METADATA, { credentials: "omit" });
  if (!response.ok) throw new SignInError(`The authorization server's metadata answered ${response.status}.`);
  return response.json();
}

/** POSTs a form to one of the authorization server's endpoints: the JSON answer, or SignInError. */
async function post(path, fields) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      credentials: "omit",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: new URLSearchParams(fields),
    });
  } catch (e) {
    throw new SignInError(`Canopy did not answer: ${e.message}`);
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new SignInError(answer.error_description || answer.error || `${path} answered ${response.status}`);
  }
  return answer;
}

/** Starts signing in: registers the console and sends the browser to the authorization page. */
export async function signIn() {
  const [meta, registration] = await Promise.all([
    metadata(),
    (async () => {
      const response = await fetch("/oauth/register", {
        method: "POST",
        credentials: "omit",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({
          client_name: "Canopy console",
          client_uri: redirectUri(),
          redirect_uris: [redirectUri()],
          grant_types: ["authorization_code", "refresh_token"],
          response_types: ["code"],
          token_endpoint_auth_method: "none",
        }),
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) throw new SignInError(answer.error_description || `Registering the console answered ${response.status}.`);
      return answer;
    })(),
  ]);
  const verifier = random(48);
  const state = `${random(24)}.${registration.client_id}`;
  const params = new URLSearchParams({
    response_type: "code",
    client_id: registration.client_id,
    redirect_uri: redirectUri(),
    code_challenge: await challengeOf(verifier),
    code_challenge_method: "S256",
    state,
    resource: `${meta.issuer}/api/v0`,
    scope: (meta.scopes_supported || []).join(" "),
  });
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state }));
  location.assign(`/oauth/authorize?${params}`);
  // The page is leaving: whoever waits on this waits for good.
  return new Promise(() => {});
}

/**
 * Finishes a sign-in when the address is the authorization server's answer (?code= or ?error=):
 * true when signed in, false when the address is no such answer; SignInError when it failed.
 */
export async function completeSignIn() {
  const params = new URLSearchParams(location.search);
  if (!params.has("code") && !params.has("error")) return false;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, "", `${location.pathname}${location.hash}`);
  if (!pending || params.get("state") !== pending.state) {
    throw new SignInError("This answer is not for a sign-in this page started (its state differs). Sign in again.");
  }
  const meta = await metadata();
  if (params.get("iss") !== meta.issuer) {
    throw new SignInError("The answer does not come from this Canopy's authorization server (iss). Sign in again.");
  }
  if (params.has("error")) {
    const why = params.get("error") === "access_denied" ? "You denied the sign-in." : params.get("error_description") || params.get("error");
    throw new SignInError(why);
  }
  const clientId = pending.state.slice(pending.state.indexOf(".") + 1);
  const answer = await post("/oauth/token", {
    grant_type: "authorization_code",
    client_id: clientId,
    code: params.get("code"),
    code_verifier: pending.verifier,
    redirect_uri: redirectUri(),
    resource: `${meta.issuer}/api/v0`,
  });
  keep(answer, clientId);
  return true;
}

function keep(answer, clientId) {
  const lifetime = Number(answer.expires_in) || 300;
  tokens = {
    access: answer.access_token,
    refresh: answer.refresh_token || (tokens && tokens.refresh) || null,
    clientId,
    expiresAt: Date.now() + lifetime * 1000,
  };
  clearTimeout(refreshTimer);
  // A minute before it expires (a quarter of its life, for short-lived tokens).
  const lead = Math.min(60, lifetime / 4);
  refreshTimer = setTimeout(() => refresh(), Math.max(1, lifetime - lead) * 1000);
}

/**
 * A new access token from the refresh token (rotated): true when there is one. Concurrent
 * callers share one refresh (a refresh token presented twice ends the grant). A refused refresh
 * (the grant was revoked or is over) forgets the tokens: the next request signs in again.
 */
export function refresh() {
  if (!tokens || !tokens.refresh) return Promise.resolve(false);
  if (refreshing) return refreshing;
  const { refresh: token, clientId } = tokens;
  refreshing = post("/oauth/token", { grant_type: "refresh_token", client_id: clientId, refresh_token: token })
    .then((answer) => {
      keep(answer, clientId);
      return true;
    })
    .catch(() => {
      forget();
      return false;
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

/** Drops the tokens (nothing else holds them). */
export function forget() {
  tokens = null;
  clearTimeout(refreshTimer);
  refreshTimer = null;
}

/** Signs out: revokes the refresh token (its grant ends) and the access token, forgets both. */
export async function signOut() {
  const held = tokens;
  forget();
  if (!held) return;
  const revoke = (token, hint) =>
    post("/oauth/revoke", { token, token_type_hint: hint, client_id: held.clientId }).catch(() => {});
  await Promise.all([
    held.refresh ? revoke(held.refresh, "refresh_token") : null,
    revoke(held.access, "access_token"),
  ]);
}
