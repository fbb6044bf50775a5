// Built by scripts/build-console.sh from console/src (TypeScript) and the generated client in clients/typescript: do not edit; edit the sources and rebuild.

// console/src/dom.ts
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === void 0) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "value") {
      el.value = value;
    } else if (key === "checked") {
      el.checked = Boolean(value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}
function append(el, children) {
  for (const child of children) {
    if (child === null || child === void 0 || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}
function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}
var nextId = 0;
function uid(prefix) {
  nextId += 1;
  return `${prefix}-${nextId}`;
}
function field(labelText, control2, hint) {
  if (!control2.id) control2.id = uid("f");
  const parts = [h("label", { for: control2.id }, labelText), control2];
  if (hint) {
    const hintId = uid("hint");
    control2.setAttribute("aria-describedby", hintId);
    parts.push(h("p", { class: "hint", id: hintId }, hint));
  }
  return h("div", { class: control2.type === "checkbox" ? "field check" : "field" }, ...parts);
}
function table(caption, headers, rows) {
  return h(
    "div",
    { class: "table-wrap" },
    // Each cell names its column (`data-label`): at phone width the rows stack as cards, and
    // the explicit roles keep the table a table for screen readers once CSS changes `display`.
    h(
      "table",
      { role: "table" },
      h("caption", {}, caption),
      h(
        "thead",
        { role: "rowgroup" },
        h("tr", { role: "row" }, headers.map((text) => h("th", { scope: "col", role: "columnheader" }, text)))
      ),
      h("tbody", { role: "rowgroup" }, rows.map((cells) => tableRow(headers, cells)))
    )
  );
}
function tableRow(headers, cells) {
  return h("tr", { role: "row" }, cells.map((cell, i) => h("td", { role: "cell", "data-label": headers[i] }, cell)));
}
function json(value, label) {
  return h("pre", { class: "json", tabindex: "0", "aria-label": label || "JSON" }, JSON.stringify(value, null, 2));
}
function chip(text, kind) {
  return h("span", { class: `chip chip-${kind || text}` }, text);
}

// clients/typescript/node_modules/openapi-fetch/dist/index.mjs
var PATH_PARAM_RE = /\{[^{}]+\}/g;
var supportsRequestInitExt = () => {
  return typeof process === "object" && Number.parseInt(process?.versions?.node?.substring(0, 2)) >= 18 && process.versions.undici;
};
function randomID() {
  return Math.random().toString(36).slice(2, 11);
}
function createClient(clientOptions) {
  let {
    baseUrl = "",
    Request: CustomRequest = globalThis.Request,
    fetch: baseFetch = globalThis.fetch,
    querySerializer: globalQuerySerializer,
    bodySerializer: globalBodySerializer,
    pathSerializer: globalPathSerializer,
    headers: baseHeaders,
    requestInitExt = void 0,
    ...baseOptions
  } = { ...clientOptions };
  requestInitExt = supportsRequestInitExt() ? requestInitExt : void 0;
  baseUrl = removeTrailingSlash(baseUrl);
  const globalMiddlewares = [];
  async function coreFetch(schemaPath, fetchOptions) {
    const {
      baseUrl: localBaseUrl,
      fetch: fetch2 = baseFetch,
      Request = CustomRequest,
      headers,
      params = {},
      parseAs = "json",
      querySerializer: requestQuerySerializer,
      bodySerializer = globalBodySerializer ?? defaultBodySerializer,
      pathSerializer: requestPathSerializer,
      body,
      middleware: requestMiddlewares = [],
      ...init
    } = fetchOptions || {};
    let finalBaseUrl = baseUrl;
    if (localBaseUrl) {
      finalBaseUrl = removeTrailingSlash(localBaseUrl) ?? baseUrl;
    }
    let querySerializer = typeof globalQuerySerializer === "function" ? globalQuerySerializer : createQuerySerializer(globalQuerySerializer);
    if (requestQuerySerializer) {
      querySerializer = typeof requestQuerySerializer === "function" ? requestQuerySerializer : createQuerySerializer({
        ...typeof globalQuerySerializer === "object" ? globalQuerySerializer : {},
        ...requestQuerySerializer
      });
    }
    const pathSerializer = requestPathSerializer || globalPathSerializer || defaultPathSerializer;
    const serializedBody = body === void 0 ? void 0 : bodySerializer(
      body,
      // Note: we declare mergeHeaders() both here and below because it’s a bit of a chicken-or-egg situation:
      // bodySerializer() needs all headers so we aren’t dropping ones set by the user, however,
      // the result of this ALSO sets the lowest-priority content-type header. So we re-merge below,
      // setting the content-type at the very beginning to be overwritten.
      // Lastly, based on the way headers work, it’s not a simple “present-or-not” check becauase null intentionally un-sets headers.
      mergeHeaders(baseHeaders, headers, params.header)
    );
    const finalHeaders = mergeHeaders(
      // with no body, we should not to set Content-Type
      serializedBody === void 0 || // if serialized body is FormData; browser will correctly set Content-Type & boundary expression
      serializedBody instanceof FormData ? {} : {
        "Content-Type": "application/json"
      },
      baseHeaders,
      headers,
      params.header
    );
    const finalMiddlewares = [...globalMiddlewares, ...requestMiddlewares];
    const requestInit = {
      redirect: "follow",
      ...baseOptions,
      ...init,
      body: serializedBody,
      headers: finalHeaders
    };
    let id;
    let options;
    let request = new Request(
      createFinalURL(schemaPath, { baseUrl: finalBaseUrl, params, querySerializer, pathSerializer }),
      requestInit
    );
    let response;
    for (const key in init) {
      if (!(key in request)) {
        request[key] = init[key];
      }
    }
    if (finalMiddlewares.length) {
      id = randomID();
      options = Object.freeze({
        baseUrl: finalBaseUrl,
        fetch: fetch2,
        parseAs,
        querySerializer,
        bodySerializer,
        pathSerializer
      });
      for (const m of finalMiddlewares) {
        if (m && typeof m === "object" && typeof m.onRequest === "function") {
          const result = await m.onRequest({
            request,
            schemaPath,
            params,
            options,
            id
          });
          if (result) {
            if (result instanceof Request) {
              request = result;
            } else if (result instanceof Response) {
              response = result;
              break;
            } else {
              throw new Error("onRequest: must return new Request() or Response() when modifying the request");
            }
          }
        }
      }
    }
    if (!response) {
      try {
        response = await fetch2(request, requestInitExt);
      } catch (error2) {
        let errorAfterMiddleware = error2;
        if (finalMiddlewares.length) {
          for (let i = finalMiddlewares.length - 1; i >= 0; i--) {
            const m = finalMiddlewares[i];
            if (m && typeof m === "object" && typeof m.onError === "function") {
              const result = await m.onError({
                request,
                error: errorAfterMiddleware,
                schemaPath,
                params,
                options,
                id
              });
              if (result) {
                if (result instanceof Response) {
                  errorAfterMiddleware = void 0;
                  response = result;
                  break;
                }
                if (result instanceof Error) {
                  errorAfterMiddleware = result;
                  continue;
                }
                throw new Error("onError: must return new Response() or instance of Error");
              }
            }
          }
        }
        if (errorAfterMiddleware) {
          throw errorAfterMiddleware;
        }
      }
      if (finalMiddlewares.length) {
        for (let i = finalMiddlewares.length - 1; i >= 0; i--) {
          const m = finalMiddlewares[i];
          if (m && typeof m === "object" && typeof m.onResponse === "function") {
            const result = await m.onResponse({
              request,
              response,
              schemaPath,
              params,
              options,
              id
            });
            if (result) {
              if (!(result instanceof Response)) {
                throw new Error("onResponse: must return new Response() when modifying the response");
              }
              response = result;
            }
          }
        }
      }
    }
    const contentLength = response.headers.get("Content-Length");
    if (response.status === 204 || request.method === "HEAD" || contentLength === "0" && !response.headers.get("Transfer-Encoding")?.includes("chunked")) {
      return response.ok ? { data: void 0, response } : { error: void 0, response };
    }
    if (response.ok) {
      const getResponseData = async () => {
        if (parseAs === "stream") {
          return response.body;
        }
        if (parseAs === "json" && !contentLength) {
          const raw = await response.text();
          return raw ? JSON.parse(raw) : void 0;
        }
        return await response[parseAs]();
      };
      return { data: await getResponseData(), response };
    }
    let error = await response.text();
    try {
      error = JSON.parse(error);
    } catch {
    }
    return { error, response };
  }
  return {
    request(method, url, init) {
      return coreFetch(url, { ...init, method: method.toUpperCase() });
    },
    /** Call a GET endpoint */
    GET(url, init) {
      return coreFetch(url, { ...init, method: "GET" });
    },
    /** Call a PUT endpoint */
    PUT(url, init) {
      return coreFetch(url, { ...init, method: "PUT" });
    },
    /** Call a POST endpoint */
    POST(url, init) {
      return coreFetch(url, { ...init, method: "POST" });
    },
    /** Call a DELETE endpoint */
    DELETE(url, init) {
      return coreFetch(url, { ...init, method: "DELETE" });
    },
    /** Call a OPTIONS endpoint */
    OPTIONS(url, init) {
      return coreFetch(url, { ...init, method: "OPTIONS" });
    },
    /** Call a HEAD endpoint */
    HEAD(url, init) {
      return coreFetch(url, { ...init, method: "HEAD" });
    },
    /** Call a PATCH endpoint */
    PATCH(url, init) {
      return coreFetch(url, { ...init, method: "PATCH" });
    },
    /** Call a TRACE endpoint */
    TRACE(url, init) {
      return coreFetch(url, { ...init, method: "TRACE" });
    },
    /** Register middleware */
    use(...middleware) {
      for (const m of middleware) {
        if (!m) {
          continue;
        }
        if (typeof m !== "object" || !("onRequest" in m || "onResponse" in m || "onError" in m)) {
          throw new Error("Middleware must be an object with one of `onRequest()`, `onResponse() or `onError()`");
        }
        globalMiddlewares.push(m);
      }
    },
    /** Unregister middleware */
    eject(...middleware) {
      for (const m of middleware) {
        const i = globalMiddlewares.indexOf(m);
        if (i !== -1) {
          globalMiddlewares.splice(i, 1);
        }
      }
    }
  };
}
function serializePrimitiveParam(name, value, options) {
  if (value === void 0 || value === null) {
    return "";
  }
  if (typeof value === "object") {
    throw new Error(
      "Deeply-nested arrays/objects aren’t supported. Provide your own `querySerializer()` to handle these."
    );
  }
  return `${name}=${options?.allowReserved === true ? value : encodeURIComponent(value)}`;
}
function serializeObjectParam(name, value, options) {
  if (!value || typeof value !== "object") {
    return "";
  }
  const values = [];
  const joiner = {
    simple: ",",
    label: ".",
    matrix: ";"
  }[options.style] || "&";
  if (options.style !== "deepObject" && options.explode === false) {
    for (const k in value) {
      values.push(k, options.allowReserved === true ? value[k] : encodeURIComponent(value[k]));
    }
    const final2 = values.join(",");
    switch (options.style) {
      case "form": {
        return `${name}=${final2}`;
      }
      case "label": {
        return `.${final2}`;
      }
      case "matrix": {
        return `;${name}=${final2}`;
      }
      default: {
        return final2;
      }
    }
  }
  for (const k in value) {
    const finalName = options.style === "deepObject" ? `${name}[${k}]` : k;
    values.push(serializePrimitiveParam(finalName, value[k], options));
  }
  const final = values.join(joiner);
  return options.style === "label" || options.style === "matrix" ? `${joiner}${final}` : final;
}
function serializeArrayParam(name, value, options) {
  if (!Array.isArray(value)) {
    return "";
  }
  if (options.explode === false) {
    const joiner2 = { form: ",", spaceDelimited: "%20", pipeDelimited: "|" }[options.style] || ",";
    const final = (options.allowReserved === true ? value : value.map((v) => encodeURIComponent(v))).join(joiner2);
    switch (options.style) {
      case "simple": {
        return final;
      }
      case "label": {
        return `.${final}`;
      }
      case "matrix": {
        return `;${name}=${final}`;
      }
      // case "spaceDelimited":
      // case "pipeDelimited":
      default: {
        return `${name}=${final}`;
      }
    }
  }
  const joiner = { simple: ",", label: ".", matrix: ";" }[options.style] || "&";
  const values = [];
  for (const v of value) {
    if (options.style === "simple" || options.style === "label") {
      values.push(options.allowReserved === true ? v : encodeURIComponent(v));
    } else {
      values.push(serializePrimitiveParam(name, v, options));
    }
  }
  return options.style === "label" || options.style === "matrix" ? `${joiner}${values.join(joiner)}` : values.join(joiner);
}
function createQuerySerializer(options) {
  return function querySerializer(queryParams) {
    const search = [];
    if (queryParams && typeof queryParams === "object") {
      for (const name in queryParams) {
        const value = queryParams[name];
        if (value === void 0 || value === null) {
          continue;
        }
        if (Array.isArray(value)) {
          if (value.length === 0) {
            continue;
          }
          search.push(
            serializeArrayParam(name, value, {
              style: "form",
              explode: true,
              ...options?.array,
              allowReserved: options?.allowReserved || false
            })
          );
          continue;
        }
        if (typeof value === "object") {
          search.push(
            serializeObjectParam(name, value, {
              style: "deepObject",
              explode: true,
              ...options?.object,
              allowReserved: options?.allowReserved || false
            })
          );
          continue;
        }
        search.push(serializePrimitiveParam(name, value, options));
      }
    }
    return search.join("&");
  };
}
function defaultPathSerializer(pathname, pathParams) {
  let nextURL = pathname;
  for (const match of pathname.match(PATH_PARAM_RE) ?? []) {
    let name = match.substring(1, match.length - 1);
    let explode = false;
    let style = "simple";
    if (name.endsWith("*")) {
      explode = true;
      name = name.substring(0, name.length - 1);
    }
    if (name.startsWith(".")) {
      style = "label";
      name = name.substring(1);
    } else if (name.startsWith(";")) {
      style = "matrix";
      name = name.substring(1);
    }
    if (!pathParams || pathParams[name] === void 0 || pathParams[name] === null) {
      continue;
    }
    const value = pathParams[name];
    if (Array.isArray(value)) {
      nextURL = nextURL.replace(match, serializeArrayParam(name, value, { style, explode }));
      continue;
    }
    if (typeof value === "object") {
      nextURL = nextURL.replace(match, serializeObjectParam(name, value, { style, explode }));
      continue;
    }
    if (style === "matrix") {
      nextURL = nextURL.replace(match, `;${serializePrimitiveParam(name, value)}`);
      continue;
    }
    nextURL = nextURL.replace(match, style === "label" ? `.${encodeURIComponent(value)}` : encodeURIComponent(value));
  }
  return nextURL;
}
function defaultBodySerializer(body, headers) {
  if (body instanceof FormData) {
    return body;
  }
  if (headers) {
    const contentType = headers.get instanceof Function ? headers.get("Content-Type") ?? headers.get("content-type") : headers["Content-Type"] ?? headers["content-type"];
    if (contentType === "application/x-www-form-urlencoded") {
      return new URLSearchParams(body).toString();
    }
  }
  return JSON.stringify(body);
}
function createFinalURL(pathname, options) {
  let finalURL = `${options.baseUrl}${pathname}`;
  if (options.params?.path) {
    finalURL = options.pathSerializer(finalURL, options.params.path);
  }
  let search = options.querySerializer(options.params.query ?? {});
  if (search.startsWith("?")) {
    search = search.substring(1);
  }
  if (search) {
    finalURL += `?${search}`;
  }
  return finalURL;
}
function mergeHeaders(...allHeaders) {
  const finalHeaders = new Headers();
  for (const h2 of allHeaders) {
    if (!h2 || typeof h2 !== "object") {
      continue;
    }
    const iterator = h2 instanceof Headers ? h2.entries() : Object.entries(h2);
    for (const [k, v] of iterator) {
      if (v === null) {
        finalHeaders.delete(k);
      } else if (Array.isArray(v)) {
        for (const v2 of v) {
          finalHeaders.append(k, v2);
        }
      } else if (v !== void 0) {
        finalHeaders.set(k, v);
      }
    }
  }
  return finalHeaders;
}
function removeTrailingSlash(url) {
  if (url.endsWith("/")) {
    return url.substring(0, url.length - 1);
  }
  return url;
}

// clients/typescript/index.ts
function createCanopyClient(options) {
  return createClient(options);
}

// console/src/auth.ts
var PENDING = "canopy-console-sign-in";
var METADATA = "/.well-known/oauth-authorization-server";
var config = { mode: "development", public_url: location.origin };
var tokens = null;
var refreshTimer = null;
var refreshing = null;
var SignInError = class extends Error {
};
function configure(c) {
  config = c;
}
function required() {
  return config.mode === "enterprise";
}
function signedIn() {
  return tokens !== null;
}
function authorization() {
  return tokens ? `Bearer ${tokens.access}` : null;
}
var redirectUri = () => `${location.origin}/console/`;
function base64url(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
var random = (n) => base64url(crypto.getRandomValues(new Uint8Array(n)));
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
async function post(path, fields) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      credentials: "omit",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: new URLSearchParams(fields)
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
async function signIn() {
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
          token_endpoint_auth_method: "none"
        })
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) throw new SignInError(answer.error_description || `Registering the console answered ${response.status}.`);
      return answer;
    })()
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
    scope: (meta.scopes_supported || []).join(" ")
  });
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state }));
  location.assign(`/oauth/authorize?${params}`);
  return new Promise(() => {
  });
}
async function completeSignIn() {
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
    resource: `${meta.issuer}/api/v0`
  });
  keep(answer, clientId);
  return true;
}
function keep(answer, clientId) {
  const lifetime = Number(answer.expires_in) || 300;
  tokens = {
    access: answer.access_token,
    refresh: answer.refresh_token || tokens && tokens.refresh || null,
    clientId,
    expiresAt: Date.now() + lifetime * 1e3
  };
  clearTimeout(refreshTimer);
  const lead = Math.min(60, lifetime / 4);
  refreshTimer = setTimeout(() => refresh(), Math.max(1, lifetime - lead) * 1e3);
}
function refresh() {
  if (!tokens || !tokens.refresh) return Promise.resolve(false);
  if (refreshing) return refreshing;
  const { refresh: token, clientId } = tokens;
  refreshing = post("/oauth/token", { grant_type: "refresh_token", client_id: clientId, refresh_token: token }).then((answer) => {
    keep(answer, clientId);
    return true;
  }).catch(() => {
    forget();
    return false;
  }).finally(() => {
    refreshing = null;
  });
  return refreshing;
}
function forget() {
  tokens = null;
  clearTimeout(refreshTimer);
  refreshTimer = null;
}
async function signOut() {
  const held = tokens;
  forget();
  if (!held) return;
  const revoke = (token, hint) => post("/oauth/revoke", { token, token_type_hint: hint, client_id: held.clientId }).catch(() => {
  });
  await Promise.all([
    held.refresh ? revoke(held.refresh, "refresh_token") : null,
    revoke(held.access, "access_token")
  ]);
}

// console/src/api.ts
var ApiError = class extends Error {
  status;
  code;
  constructor(status2, code, message) {
    super(message);
    this.status = status2;
    this.code = code;
  }
};
var api = createCanopyClient({
  baseUrl: location.origin,
  credentials: "same-origin",
  headers: { accept: "application/json" }
});
api.use({
  onRequest({ request }) {
    const authorization2 = authorization();
    if (authorization2) request.headers.set("authorization", authorization2);
    return request;
  }
});
async function call(send, { signIn: signIn2 = true, signal = void 0 } = {}) {
  let answer = await attempt(send, signal);
  if (answer.response.status === 401 && required()) {
    if (signedIn() && await refresh()) answer = await attempt(send, signal);
    else if (signIn2 && !signedIn()) await signIn();
  }
  if (!answer.response.ok) throw failure(answer);
  return answer.data;
}
async function attempt(send, signal) {
  try {
    return await send();
  } catch (e) {
    if (signal && signal.aborted) throw e;
    throw new ApiError(0, "NETWORK", `Canopy did not answer: ${e instanceof Error ? e.message : String(e)}`);
  }
}
function failure(answer) {
  const { status: status2, url } = answer.response;
  const body = answer.error;
  const error = body && typeof body === "object" ? body.error : void 0;
  if (error && typeof error.message === "string") return new ApiError(status2, error.code, error.message);
  const path = url ? new URL(url).pathname : "/api/v0";
  return new ApiError(status2, "HTTP_" + status2, `${path} answered ${status2}`);
}
async function downloadArtifact(id, artifactId) {
  return call(
    () => api.GET("/api/v0/jobs/{id}/artifacts/{artifact_id}/download", {
      params: { path: { id, artifact_id: artifactId } },
      headers: { accept: "*/*" },
      parseAs: "blob"
    }),
    { signIn: false }
  );
}
async function followJobLogs(id, cursor, onEvent, signal) {
  const body = await call(
    () => api.GET("/api/v0/jobs/{id}/logs", {
      params: { path: { id }, query: clean({ follow: "true", cursor }) },
      headers: { accept: "text/event-stream" },
      parseAs: "stream",
      signal
    }),
    { signIn: false, signal }
  );
  return readEvents(body, onEvent, signal);
}
async function readEvents(body, onEvent, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (; ; ) {
      const { value, done } = await reader.read();
      if (done) return true;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = { event: "message", id: null, data: "" };
        const data = [];
        for (const line of block.split("\n")) {
          if (!line || line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const key = colon < 0 ? line : line.slice(0, colon);
          const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (key === "event") event.event = val;
          else if (key === "id") event.id = val;
          else if (key === "data") data.push(val);
        }
        if (!data.length) continue;
        event.data = data.join("\n");
        try {
          event.data = JSON.parse(event.data);
        } catch {
        }
        onEvent(event);
      }
    }
  } catch (e) {
    if (signal && signal.aborted) return false;
    throw new ApiError(0, "NETWORK", `The stream from Canopy broke: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    reader.releaseLock();
  }
}
function clean(params) {
  const kept = {};
  for (const [k, v] of Object.entries(params)) if (v !== void 0 && v !== null && v !== "") kept[k] = v;
  return kept;
}

// console/src/schema-form.ts
function kindOf(schema) {
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  if (Array.isArray(schema.enum) && schema.enum.every((v) => typeof v === "string")) return "enum";
  if (type === "string" || type === "number" || type === "integer" || type === "boolean") return type;
  return "json";
}
function control(name, schema, required2) {
  const kind = kindOf(schema);
  const common = { name, "data-kind": kind, required: required2 && kind !== "boolean" };
  switch (kind) {
    case "enum":
      return h(
        "select",
        common,
        required2 ? null : h("option", { value: "" }, "(none)"),
        schema.enum.map((v) => h("option", { value: v }, v))
      );
    case "string":
      return h("input", { ...common, type: "text", autocomplete: "off", value: schema.default ?? "" });
    case "number":
    case "integer":
      return h("input", {
        ...common,
        type: "number",
        step: kind === "integer" ? "1" : "any",
        value: schema.default ?? ""
      });
    case "boolean":
      return h("input", { ...common, type: "checkbox", checked: schema.default === true });
    default:
      return h("textarea", {
        ...common,
        rows: "3",
        spellcheck: "false",
        value: schema.default !== void 0 ? JSON.stringify(schema.default) : ""
      });
  }
}
function schemaFields(schema) {
  const properties = schema && schema.properties || {};
  const required2 = new Set(schema && schema.required || []);
  const controls = [];
  const fields = Object.entries(properties).map(([name, prop]) => {
    const p = prop && typeof prop === "object" ? prop : {};
    const input = control(name, p, required2.has(name));
    input.id = uid("arg");
    controls.push([name, input]);
    const label = `${p.title || name}${required2.has(name) ? " (required)" : ""}`;
    const kind = input.dataset.kind;
    const hints = [p.description, kind === "json" ? "as JSON" : null].filter(Boolean);
    return field(label, input, hints.join(" · ") || null);
  });
  const read = () => {
    const args = {};
    for (const [name, input] of controls) {
      const kind = input.dataset.kind;
      if (kind === "boolean") {
        args[name] = input.checked;
        continue;
      }
      const raw = input.value;
      if (raw === "") {
        if (required2.has(name) && kind !== "string") throw new Error(`${name} is required`);
        if (required2.has(name)) args[name] = "";
        continue;
      }
      if (kind === "number" || kind === "integer") {
        const n = Number(raw);
        if (!Number.isFinite(n) || kind === "integer" && !Number.isInteger(n)) {
          throw new Error(`${name} must be ${kind === "integer" ? "a whole number" : "a number"}`);
        }
        args[name] = n;
      } else if (kind === "json") {
        try {
          args[name] = JSON.parse(raw);
        } catch {
          throw new Error(`${name} is not valid JSON`);
        }
      } else {
        args[name] = raw;
      }
    }
    return args;
  };
  return { fields, read, names: Object.keys(properties) };
}

// console/src/pages/servers.ts
var byName = (name) => ({ params: { path: { name } } });
async function serversPage(ctx) {
  const section = h("section", { "aria-labelledby": "servers-h" }, h("h1", { id: "servers-h" }, "Servers"));
  const list3 = h("div", {});
  let names = [];
  const refresh2 = async () => {
    const servers = await call(() => api.GET("/api/v0/servers"));
    names = servers.map((s) => s.name);
    replace(list3, serversTable(ctx, servers, refresh2));
  };
  await refresh2();
  section.append(list3);
  if (ctx.manages) section.append(registerForm(ctx, refresh2, () => names));
  return section;
}
function status(server) {
  return h(
    "span",
    {},
    chip(server.status),
    server.status === "error" && server.status_error ? h("span", { class: "reason" }, ` ${server.status_error}`) : null
  );
}
function serversTable(ctx, servers, refresh2) {
  if (!servers.length) return h("p", {}, "No servers are registered yet.");
  const rows = servers.map((s) => {
    const act = (label, run) => h(
      "button",
      {
        type: "button",
        onclick: async (event) => {
          event.target.disabled = true;
          try {
            await run();
            await refresh2();
          } catch (error) {
            ctx.notifyError(error);
            event.target.disabled = false;
          }
        }
      },
      label
    );
    const builtin = s.transport === "builtin";
    const actions = h(
      "div",
      { class: "actions" },
      s.enabled ? act(`Disable ${s.name}`, async () => {
        await call(() => api.POST("/api/v0/servers/{name}/disable", byName(s.name)));
        ctx.notify(`Disabled ${s.name}: its tools are no longer offered.`);
      }) : act(`Enable ${s.name}`, async () => {
        await call(() => api.POST("/api/v0/servers/{name}/enable", byName(s.name)));
        ctx.notify(`Enabled ${s.name}.`);
      }),
      builtin ? null : act(`Deregister ${s.name}`, async () => {
        if (!window.confirm(`Deregister ${s.name}? Its tools disappear for every client.`)) return;
        await call(() => api.DELETE("/api/v0/servers/{name}", byName(s.name)));
        ctx.notify(`Deregistered ${s.name}.`);
      })
    );
    const cells = [
      h("a", { href: `#/servers/${encodeURIComponent(s.name)}` }, s.name),
      status(s),
      s.transport,
      String(s.tool_count),
      s.enabled ? chip("enabled") : chip("disabled")
    ];
    return ctx.manages ? [...cells, actions] : cells;
  });
  const headers = ["Name", "Status", "Transport", "Tools", "Enabled"];
  return table("Registered servers", ctx.manages ? [...headers, "Actions"] : headers, rows);
}
var TRANSPORTS = [
  ["streamable_http", "Streamable HTTP"],
  ["sse", "SSE (legacy HTTP+SSE)"],
  ["stdio", "stdio (a command Canopy runs)"]
];
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
      }
    },
    addLabel
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
        }
      },
      `Remove ${noun.toLowerCase()} ${index}`
    )
  );
  row.read = () => [key.value.trim(), value.value];
  rows.append(row);
  return key;
}
function registerForm(ctx, refresh2, registered) {
  const name = h("input", { type: "text", name: "name", required: true, autocomplete: "off", pattern: "[A-Za-z0-9_\\-]+" });
  const transport = h(
    "select",
    { name: "transport" },
    TRANSPORTS.map(([value, label]) => h("option", { value }, label))
  );
  const url = h("input", { type: "url", name: "url", required: true, autocomplete: "off", placeholder: "https://host/mcp" });
  const description = h("input", { type: "text", name: "description", autocomplete: "off" });
  const token = h("input", { type: "password", name: "bearer_token", autocomplete: "off" });
  const command = h("input", { type: "text", name: "command", autocomplete: "off", placeholder: "/usr/local/bin/my-mcp-server" });
  const args = h("textarea", { name: "args", rows: "3", autocomplete: "off", spellcheck: "false" });
  const env = secretPairs("Variable", "Add an environment variable", "[A-Za-z_][A-Za-z0-9_]*");
  const headers = secretPairs("Header", "Add a header", "[A-Za-z0-9_\\-]+");
  const force = h("input", { type: "checkbox", name: "force" });
  const urlHint = () => transport.value === "sse" ? "The server's SSE endpoint (e.g. https://host/sse)." : "The server's MCP endpoint.";
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
      headers.add
    )
  );
  const local = h(
    "fieldset",
    { class: "plain" },
    h("legend", {}, "The stdio server"),
    field("Command", command, "The program to run (a path on Canopy's host, or a name on its PATH)."),
    field("Arguments (one per line)", args),
    h("p", { class: "hint" }, "Environment variables: their values are stored sealed and never shown again."),
    env.rows,
    env.add
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
        const body = { name: name.value.trim(), transport: transport.value };
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
        const replacing = force.checked && registered().includes(body.name);
        const question = `Replace the registration of ${body.name}? Its settings and secrets are replaced by these, and its catalog is discovered again.`;
        if (replacing && !window.confirm(question)) {
          button.disabled = false;
          return;
        }
        if (force.checked) body.force = true;
        try {
          const server = await call(() => api.POST("/api/v0/servers", { body }));
          token.value = "";
          env.clear();
          headers.clear();
          form.reset();
          show();
          const detail = server.status === "error" ? `: ${server.status_error || "error"}` : "";
          const verb = replacing ? "Replaced" : "Registered";
          ctx.notify(`${verb} ${server.name} (${server.status}${detail}, ${server.tool_count} tools).`);
          await refresh2();
        } catch (error) {
          ctx.notifyError(error);
        } finally {
          button.disabled = false;
        }
      }
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
      "Without it, a name already registered is refused (409); with it, that registration is replaced."
    ),
    h("button", { type: "submit" }, "Register")
  );
  show();
  return form;
}
async function serverPage(ctx, name) {
  const [server, tools] = await Promise.all([
    call(() => api.GET("/api/v0/servers/{name}", byName(name))),
    call(() => api.GET("/api/v0/tools", { params: { query: { server: name } } }))
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
      server.args && server.args.length ? [h("dt", {}, "Arguments"), h("dd", {}, server.args.map((a, i) => [i ? " " : null, h("code", {}, a)]))] : null,
      server.headers && Object.keys(server.headers).length ? [
        h("dt", {}, "Headers"),
        h("dd", {}, Object.keys(server.headers).map((k, i) => [i ? ", " : null, h("code", {}, k), " (value sealed)"]))
      ] : null,
      server.env && Object.keys(server.env).length ? [
        h("dt", {}, "Environment"),
        h("dd", {}, Object.keys(server.env).map((k, i) => [i ? ", " : null, h("code", {}, k), " (value sealed)"]))
      ] : null,
      server.description ? [h("dt", {}, "Description"), h("dd", {}, server.description)] : null
    ),
    h("h2", {}, `Tools (${tools.length})`),
    tools.length ? tools.map((tool) => toolCard(ctx, tool)) : h("p", {}, "This server offers no tools.")
  );
}
function toolCard(ctx, tool) {
  const { fields, read, names } = schemaFields(tool.input_schema);
  const output = h("div", { class: "result", "aria-live": "polite" });
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
      }
    },
    h("h4", {}, "Try it"),
    fields.length ? fields : h("p", {}, "This tool takes no arguments."),
    blocked ? h("p", { class: "error" }, "This tool takes an argument called “name”, which REST invoke cannot pass; call it over /mcp.") : null,
    h("button", { type: "submit", disabled: blocked }, `Call ${tool.name}`)
  );
  return h(
    "article",
    { class: "card tool", "aria-labelledby": `tool-${tool.name}` },
    h("h3", { id: `tool-${tool.name}` }, tool.name, " ", tool.enabled ? null : chip("disabled")),
    tool.title ? h("p", { class: "title" }, tool.title) : null,
    tool.description ? h("p", {}, tool.description) : null,
    h("details", {}, h("summary", {}, "Input schema"), json(tool.input_schema, `Input schema of ${tool.name}`)),
    tool.output_schema ? h("details", {}, h("summary", {}, "Output schema"), json(tool.output_schema, `Output schema of ${tool.name}`)) : null,
    form,
    output
  );
}
function callResult(result) {
  const content = Array.isArray(result.content) ? result.content : [];
  return h(
    "div",
    { class: result.isError ? "call-error" : "call-ok" },
    h("h4", {}, result.isError ? "Result (the tool reported an error)" : "Result"),
    content.map(
      (c) => c && c.type === "text" ? h("pre", { class: "text-result" }, c.text) : json(c, "Content item")
    ),
    result.structuredContent !== void 0 && result.structuredContent !== null ? [h("h5", {}, "Structured content"), json(result.structuredContent, "Structured content")] : null
  );
}

// console/src/pages/groups.ts
var byName2 = (name) => ({ params: { path: { name } } });
var list = (value) => value.split(",").map((s) => s.trim()).filter(Boolean);
function ruleInputs(group) {
  const input = (name, value) => h("input", { type: "text", name, autocomplete: "off", value: value || "" });
  return {
    description: input("description", group && group.description),
    included_servers: input("included_servers", group && group.included_servers.join(", ")),
    included_tools: input("included_tools", group && group.included_tools.join(", ")),
    excluded_tools: input("excluded_tools", group && group.excluded_tools.join(", "))
  };
}
function ruleFields(inputs) {
  return [
    field("Description", inputs.description),
    field("Included servers", inputs.included_servers, "Comma-separated server names; every tool of each."),
    field("Included tools", inputs.included_tools, "Comma-separated, as server__tool."),
    field("Excluded tools", inputs.excluded_tools, "Comma-separated, as server__tool; removed from the above.")
  ];
}
function ruleBody(inputs) {
  return {
    description: inputs.description.value.trim(),
    included_servers: list(inputs.included_servers.value),
    included_tools: list(inputs.included_tools.value),
    excluded_tools: list(inputs.excluded_tools.value)
  };
}
async function groupsPage(ctx) {
  const section = h("section", { "aria-labelledby": "groups-h" }, h("h1", { id: "groups-h" }, "Groups"));
  const listing = h("div", {});
  const refresh2 = async () => {
    const groups = await call(() => api.GET("/api/v0/groups"));
    const tools = await Promise.all(
      groups.map(
        (g) => call(() => api.GET("/api/v0/groups/{name}/effective-tools", byName2(g.name))).catch((error) => error)
      )
    );
    replace(
      listing,
      groups.length ? groups.map((g, i) => groupCard(ctx, g, tools[i], refresh2)) : h("p", {}, "No groups yet. A group is an MCP endpoint offering a chosen set of tools.")
    );
  };
  await refresh2();
  section.append(listing);
  if (ctx.manages) section.append(createForm(ctx, refresh2));
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
    group.included_prompts.length || group.excluded_prompts.length ? [row("Included prompts", group.included_prompts), row("Excluded prompts", group.excluded_prompts)] : null,
    group.included_resources.length || group.excluded_resources.length ? [row("Included resources", group.included_resources), row("Excluded resources", group.excluded_resources)] : null
  );
}
function members(tools) {
  if (tools instanceof ApiError) return h("p", { class: "error" }, `${tools.message} (${tools.code})`);
  if (!tools.length) return h("p", {}, "No tools: the rules admit none that is enabled now.");
  const servers = [...new Set(tools.map((t) => t.name.split("__")[0]))];
  return [
    h("p", {}, `Servers: ${servers.join(", ")}`),
    h(
      "ul",
      { class: "members", "aria-label": "Effective tools" },
      tools.map((t) => h("li", {}, h("code", {}, t.name), t.enabled ? null : [" ", chip("disabled")]))
    )
  ];
}
function groupCard(ctx, group, tools, refresh2) {
  const headingId = `group-${group.name}`;
  const body = h("div", {});
  const show = () => replace(
    body,
    group.description ? h("p", {}, group.description) : null,
    h("p", {}, "MCP endpoint: ", h("code", { class: "endpoint" }, group.endpoint)),
    h("h3", {}, "Rules"),
    rules(group),
    h("h3", {}, "Effective members"),
    members(tools),
    ctx.manages ? h(
      "div",
      { class: "actions" },
      h("button", { type: "button", onclick: edit }, `Edit ${group.name}`),
      h("button", { type: "button", class: "danger", onclick: remove }, `Delete ${group.name}`)
    ) : null
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
            const updated = await call(
              () => api.PUT("/api/v0/groups/{name}", {
                ...byName2(group.name),
                body: {
                  ...ruleBody(inputs),
                  included_prompts: group.included_prompts,
                  excluded_prompts: group.excluded_prompts,
                  included_resources: group.included_resources,
                  excluded_resources: group.excluded_resources
                }
              })
            );
            ctx.notify(`Saved ${updated.name}.`);
            await refresh2();
          } catch (error) {
            ctx.notifyError(error);
            button.disabled = false;
          }
        }
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
            }
          },
          "Cancel"
        )
      )
    );
    replace(body, form);
    inputs.description.focus();
  }
  async function remove(event) {
    if (!window.confirm(`Delete the group ${group.name}? Its endpoint stops answering.`)) return;
    event.target.disabled = true;
    try {
      await call(() => api.DELETE("/api/v0/groups/{name}", byName2(group.name)));
      ctx.notify(`Deleted ${group.name}.`);
      await refresh2();
    } catch (error) {
      ctx.notifyError(error);
      event.target.disabled = false;
    }
  }
  show();
  return h("article", { class: "card group", "aria-labelledby": headingId }, h("h2", { id: headingId }, group.name), body);
}
function createForm(ctx, refresh2) {
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
          await refresh2();
        } catch (error) {
          ctx.notifyError(error);
        } finally {
          button.disabled = false;
        }
      }
    },
    h("h2", { id: "create-group-h" }, "Create a group"),
    field("Group name", name, "Letters, digits, - and _; it names the endpoint."),
    ruleFields(inputs),
    h("button", { type: "submit" }, "Create group")
  );
  return form;
}

// console/src/pages/identities.ts
var byName3 = (name) => ({ params: { path: { name } } });
var list2 = (value) => value.split(",").map((s) => s.trim()).filter(Boolean);
var joined = (values) => values && values.length ? values.join(", ") : "none";
var refusal = (error) => h("p", { class: "error" }, `${error.message} (${error.code})`);
function loader(ctx, render) {
  const box = h("div", {});
  const refresh2 = async () => {
    try {
      replace(box, await render(refresh2));
    } catch (error) {
      if (error && error.code !== void 0) replace(box, refusal(error));
      else throw error;
    }
  };
  return { box, refresh: refresh2 };
}
function actionButton(ctx, label, confirmText, run, refresh2) {
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
          await refresh2();
        } catch (error) {
          ctx.notifyError(error);
          event.target.disabled = false;
        }
      }
    },
    label
  );
}
function roleCell(ctx, user, self, refresh2) {
  const owner = ctx.me && ctx.me.role === "owner";
  if (user.name === self || user.role === "owner" && !owner) return user.role;
  const roles = owner ? ["member", "admin", "owner"] : ["member", "admin"];
  const select = h(
    "select",
    // Names are letters, digits, - and _: a stable id, so the focus finds it after the refresh.
    { name: "role", id: `role-of-${user.name}` },
    roles.map((r) => h("option", { value: r, selected: r === user.role }, r))
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
          const updated = await call(
            () => api.PATCH("/api/v0/users/{name}", { ...byName3(user.name), body: { role: select.value } })
          );
          ctx.notify(`Changed the role of ${updated.name} to ${updated.role}: it applies from their next request.`);
          await refresh2();
          const again = document.getElementById(`role-of-${updated.name}`);
          if (again) again.focus();
        } catch (error) {
          ctx.notifyError(error);
          button.disabled = false;
        }
      }
    },
    h("label", { for: select.id, class: "visually-hidden" }, `Role of ${user.name}`),
    select,
    button
  );
}
async function identitiesPage(ctx) {
  const users = loader(ctx, async (refresh2) => {
    const all = await call(() => api.GET("/api/v0/users"));
    const self = ctx.me && ctx.me.kind === "user" ? ctx.me.name : null;
    return all.length ? table(
      "Users",
      ["Name", "Role", "Created", "Actions"],
      all.map((u) => [
        u.name,
        roleCell(ctx, u, self, refresh2),
        u.created_at,
        u.name === self ? h("span", { class: "hint" }, "you") : actionButton(
          ctx,
          `Delete ${u.name}`,
          `Delete the user ${u.name}? Their token stops working at once.`,
          async () => {
            await call(() => api.DELETE("/api/v0/users/{name}", byName3(u.name)));
            ctx.notify(`Deleted ${u.name}: their token no longer works.`);
          },
          refresh2
        )
      ])
    ) : h("p", {}, "No users.");
  });
  const clients = loader(ctx, async (refresh2) => {
    const all = await call(() => api.GET("/api/v0/mcp-clients"));
    return all.length ? table(
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
            { type: "button", onclick: () => editClient(ctx, c, editSlot, refresh2) },
            `Edit ${c.name}`
          ),
          actionButton(
            ctx,
            `Delete ${c.name}`,
            `Delete the MCP client ${c.name}? Its token stops working at once.`,
            async () => {
              await call(() => api.DELETE("/api/v0/mcp-clients/{name}", byName3(c.name)));
              ctx.notify(`Deleted ${c.name}: its token no longer works.`);
            },
            refresh2
          )
        )
      ])
    ) : h("p", {}, "No MCP clients yet.");
  });
  const editSlot = h("div", {});
  const grants = loader(ctx, async (refresh2) => {
    const all = await call(() => api.GET("/api/v0/oauth-grants"));
    return all.length ? table(
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
          refresh2
        )
      ])
    ) : h("p", {}, "No live OAuth grants.");
  });
  const tokenSlot = h("div", {});
  const userTokenSlot = h("div", {});
  if (!ctx.manages) {
    await grants.refresh();
    return h(
      "section",
      { "aria-labelledby": "identities-h" },
      h("h1", { id: "identities-h" }, "Identities"),
      h("p", {}, "Users and MCP clients are managed by the tenant's owners and admins."),
      h("h2", {}, "Your OAuth grants"),
      grants.box
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
    grants.box
  );
}
function showToken(slot, name, token, focusAfter) {
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
    h("button", { type: "button", onclick: dismiss }, "Dismiss the token")
  );
  return panel;
}
function createClientForm(ctx, tokenSlot, refresh2) {
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
          const created = await call(
            () => api.POST("/api/v0/mcp-clients", {
              body: {
                name: name.value.trim(),
                description: description.value.trim(),
                allowed_servers: list2(servers.value),
                allowed_groups: list2(groups.value),
                allowed_tools: list2(tools.value)
              }
            })
          );
          form.reset();
          if (created.access_token) {
            showToken(tokenSlot, created.name, created.access_token, () => form.querySelector("input").focus());
          }
          ctx.notify(`Created the MCP client ${created.name}.`);
          await refresh2();
        } catch (error) {
          ctx.notifyError(error);
        } finally {
          button.disabled = false;
        }
      }
    },
    h("h3", { id: "create-client-h" }, "Create an MCP client"),
    field("Client name", name),
    field("Client description", description),
    field("Allowed servers", servers, "Comma-separated server names; * is every server. Empty admits none."),
    field("Allowed groups", groups, "Comma-separated group names."),
    field("Allowed tools", tools, "Comma-separated, as server__tool."),
    h("button", { type: "submit" }, "Create MCP client")
  );
  return form;
}
function createUserForm(ctx, tokenSlot, refresh2) {
  const name = h("input", { type: "text", name: "name", required: true, autocomplete: "off" });
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
          await refresh2();
        } catch (error) {
          ctx.notifyError(error);
        } finally {
          button.disabled = false;
        }
      }
    },
    h("h3", { id: "create-user-h" }, "Create a user"),
    field("User name", name),
    field("Role", role, "A member uses the tenant's tools; an admin also manages it; only an owner creates an owner."),
    h("button", { type: "submit" }, "Create user")
  );
  return form;
}
function editClient(ctx, client, slot, refresh2) {
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
          const updated = await call(
            () => api.PUT("/api/v0/mcp-clients/{name}", {
              ...byName3(client.name),
              body: {
                description: description.value.trim(),
                allowed_servers: list2(servers.value),
                allowed_groups: list2(groups.value),
                allowed_tools: list2(tools.value)
              }
            })
          );
          ctx.notify(`Saved ${updated.name}: its next request follows the new allow lists.`);
          await refresh2();
          close();
        } catch (error) {
          ctx.notifyError(error);
          button.disabled = false;
        }
      }
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
      h("button", { type: "button", onclick: close }, "Cancel")
    )
  );
  replace(slot, form);
  description.focus();
}

// console/src/pages/audit.ts
async function auditPage(ctx) {
  const kind = h(
    "select",
    { name: "kind" },
    h("option", { value: "" }, "All"),
    h("option", { value: "call" }, "Calls"),
    h("option", { value: "admin" }, "Admin actions")
  );
  const outcome = h(
    "select",
    { name: "outcome" },
    h("option", { value: "" }, "Any"),
    h("option", { value: "ok" }, "ok"),
    h("option", { value: "tool_error" }, "tool_error"),
    h("option", { value: "error" }, "error")
  );
  const server = h("input", { type: "text", name: "server", autocomplete: "off" });
  const actor = h("input", { type: "text", name: "actor", autocomplete: "off", placeholder: "user:alice" });
  const results = h("div", {});
  const more = h("div", {});
  const live = h("input", { type: "checkbox", name: "live" });
  const liveState = h("p", { class: "hint live-state" });
  let rows = [];
  let seen = /* @__PURE__ */ new Set();
  let filters = {};
  const render = () => replace(
    results,
    rows.length ? table(
      `Audit log (${rows.length} shown)`,
      ["When", "Kind", "Actor", "What", "Outcome", "Latency", "Summary"],
      rows.map(entryRow)
    ) : h("p", {}, "No audit entries match.")
  );
  const load = async (cursor) => {
    if (!cursor) filters = { kind: kind.value, outcome: outcome.value, server: server.value.trim(), actor: actor.value.trim() };
    const page = await call(() => api.GET("/api/v0/audit", { params: { query: clean({ ...filters, limit: 25, cursor }) } }));
    if (!cursor) seen = /* @__PURE__ */ new Set();
    const fresh = page.entries.filter((e) => !seen.has(entryKey(e)));
    for (const e of fresh) seen.add(entryKey(e));
    rows = cursor ? rows.concat(fresh) : fresh;
    render();
    replace(
      more,
      page.next_cursor ? h(
        "button",
        {
          type: "button",
          onclick: () => load(page.next_cursor).catch(ctx.notifyError)
        },
        "Older entries"
      ) : rows.length ? h("p", { class: "hint" }, "That is the oldest entry.") : null
    );
  };
  let polling = false;
  const poll = async () => {
    if (polling || !live.checked || document.hidden || !results.isConnected) return;
    polling = true;
    try {
      const newest = rows.length ? Date.parse(rows[0].at) : Date.now() - 6e4;
      const since = new Date(newest - 3e4).toISOString();
      const fresh = [];
      let cursor;
      for (let pages = 0; pages < 5; pages += 1) {
        const page = await call(
          () => api.GET("/api/v0/audit", { params: { query: clean({ ...filters, since, limit: 200, cursor }) } })
        );
        fresh.push(...page.entries.filter((e) => !seen.has(entryKey(e))));
        cursor = page.next_cursor;
        if (!cursor) break;
      }
      for (const e of fresh) seen.add(entryKey(e));
      if (fresh.length) {
        rows = fresh.concat(rows).sort((a, b) => a.at < b.at ? 1 : a.at > b.at ? -1 : 0);
        render();
      }
      replace(liveState, `Live: checked at ${(/* @__PURE__ */ new Date()).toLocaleTimeString()}${fresh.length ? `, ${fresh.length} new` : ""}.`);
    } catch (error) {
      replace(liveState, `Live: the last check failed: ${error.message}.`);
    } finally {
      polling = false;
    }
  };
  const timer = setInterval(() => {
    if (!results.isConnected) {
      clearInterval(timer);
      document.removeEventListener("visibilitychange", onVisibility);
      return;
    }
    poll();
  }, 2e3);
  const onVisibility = () => {
    if (!live.checked) return;
    if (document.hidden) replace(liveState, "Live: paused while the tab is hidden.");
    else poll();
  };
  document.addEventListener("visibilitychange", onVisibility);
  live.addEventListener("change", () => {
    if (live.checked) poll();
    else replace(liveState, "Live updates are off.");
  });
  const filterForm = h(
    "form",
    {
      class: "filters card",
      "aria-label": "Audit filters",
      onsubmit: (event) => {
        event.preventDefault();
        load().catch(ctx.notifyError);
      }
    },
    field("Kind", kind),
    field("Outcome", outcome),
    field("Server", server),
    field("Actor", actor),
    h("button", { type: "submit" }, "Apply filters")
  );
  await load();
  return h(
    "section",
    { "aria-labelledby": "audit-h" },
    h("h1", { id: "audit-h" }, "Audit"),
    filterForm,
    h(
      "div",
      { class: "live" },
      field("Live", live),
      h("p", { class: "hint" }, "Show new entries as they are recorded (checked every 2 s)."),
      liveState
    ),
    results,
    more
  );
}
function entryKey(e) {
  return e.call_id || e.event_id || `${e.at} ${e.kind} ${e.actor} ${e.server || ""} ${e.name || ""} ${e.event_type || ""}`;
}
function entryRow(e) {
  const what = e.kind === "call" ? [e.method || "", " ", h("code", {}, [e.server, e.name].filter(Boolean).join("__"))] : [e.event_type || "", " ", h("code", {}, [e.aggregate_type, e.aggregate_id].filter(Boolean).join(" "))];
  const outcome = e.error_code ? [chip(e.outcome), " ", e.error_code] : chip(e.outcome);
  return [
    h("time", { datetime: e.at }, e.at.replace("T", " ").replace(/\.\d+/, "")),
    e.kind,
    e.actor,
    h("span", {}, what),
    outcome,
    e.latency_ms !== void 0 && e.latency_ms !== null ? `${e.latency_ms} ms` : "",
    e.summary || ""
  ];
}

// console/src/pages/jobs.ts
var TERMINAL = /* @__PURE__ */ new Set(["completed", "failed", "rejected", "cancelled"]);
var byId = (id) => ({ params: { path: { id } } });
async function jobsPage(ctx) {
  const status2 = h("input", { type: "text", name: "status", autocomplete: "off", placeholder: "running" });
  const results = h("div", {});
  const more = h("div", {});
  let jobs = [];
  const load = async (cursor) => {
    const page = await call(
      () => api.GET("/api/v0/jobs", { params: { query: clean({ status: status2.value.trim(), limit: "20", cursor }) } })
    );
    jobs = cursor ? jobs.concat(page.jobs) : page.jobs;
    replace(
      results,
      jobs.length ? table(
        `Jobs (${jobs.length} shown)`,
        ["Job", "Name", "Status", "Phase", "Submitted", "Finished"],
        jobs.map((j) => [
          h("a", { href: `#/jobs/${encodeURIComponent(j.job_id)}` }, j.job_id),
          j.name,
          chip(j.status),
          j.phase,
          j.submitted_at,
          j.finished_at || ""
        ])
      ) : h("p", {}, "No jobs yet. Agents submit them with the grid tools, or POST /api/v0/jobs.")
    );
    replace(
      more,
      page.has_more && page.next_cursor ? h("button", { type: "button", onclick: () => load(page.next_cursor).catch(ctx.notifyError) }, "More jobs") : null
    );
  };
  const filters = h(
    "form",
    {
      class: "filters card",
      "aria-label": "Job filters",
      onsubmit: (event) => {
        event.preventDefault();
        load().catch(ctx.notifyError);
      }
    },
    field("Status", status2, "pending, queued, running, completed, failed, cancelled…"),
    h("button", { type: "submit" }, "Apply filter")
  );
  const [, inputs] = await Promise.all([load(), call(() => api.GET("/api/v0/job-inputs")).catch((error) => error)]);
  return h(
    "section",
    { "aria-labelledby": "jobs-h" },
    h("h1", { id: "jobs-h" }, "Jobs"),
    filters,
    results,
    more,
    h("h2", {}, "Inputs and scripts"),
    uploadsView(inputs)
  );
}
function uploadsView(view) {
  if (view instanceof ApiError) return h("p", { class: "error" }, `${view.message} (${view.code})`);
  if (!view.inputs.length) {
    return h("p", {}, "No inputs uploaded yet. Agents upload them with the grid tools, or POST /api/v0/job-inputs.");
  }
  return table(
    "Uploaded inputs and scripts",
    ["Input", "File", "Kind", "Status", "Size", "Mounted at", "Created"],
    view.inputs.map((i) => [
      h("code", {}, i.input_id),
      i.filename,
      i.kind,
      chip(i.ready ? "ready" : i.status, i.ready ? "ready" : "pending"),
      i.size_bytes === void 0 || i.size_bytes === null ? "" : size(i.size_bytes),
      h("code", {}, i.mount_path),
      i.created_at
    ])
  );
}
function mountedView(job) {
  const mounted = [...job.input_files || [], ...job.script_file ? [job.script_file] : []];
  if (!mounted.length) return h("p", {}, "This job mounts no uploaded input.");
  return table(
    "Inputs",
    ["File", "Kind", "Content type", "Size", "Mounted at", "Input"],
    mounted.map((i) => [i.filename, i.kind, i.content_type, size(i.size_bytes), h("code", {}, i.mount_path), h("code", {}, i.input_id)])
  );
}
async function jobPage(ctx, id) {
  const [job, events, logs, artifacts] = await Promise.all([
    call(() => api.GET("/api/v0/jobs/{id}", byId(id))),
    call(() => api.GET("/api/v0/jobs/{id}/events", byId(id))),
    call(() => api.GET("/api/v0/jobs/{id}/logs", { params: { path: { id }, query: { limit: String(LOG_PAGE) } } })),
    call(() => api.GET("/api/v0/jobs/{id}/artifacts", byId(id))).catch((error) => error)
  ]);
  const reason = h("input", { type: "text", name: "reason", autocomplete: "off" });
  const cancel = TERMINAL.has(job.status) ? null : h(
    "form",
    {
      class: "card",
      "aria-label": "Cancel this job",
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          const body = reason.value.trim() ? { reason: reason.value.trim() } : {};
          const r = await call(() => api.POST("/api/v0/jobs/{id}/cancel", { ...byId(id), body }));
          ctx.notify(`Job ${r.job_id}: ${r.status}${r.cancel_requested ? " (its runner was asked to stop it)" : ""}.`);
          await ctx.reload();
        } catch (error) {
          ctx.notifyError(error);
        }
      }
    },
    field("Reason (optional)", reason),
    h("button", { type: "submit", class: "danger" }, "Cancel job")
  );
  const statusDd = h("dd", {});
  const phaseDd = h("dd", {});
  const showState = (j) => {
    replace(statusDd, chip(j.status), j.status_message ? ` ${j.status_message}` : "");
    replace(phaseDd, j.phase);
  };
  showState(job);
  const lifecycle = eventsView(events);
  const section = h(
    "section",
    { "aria-labelledby": "job-h" },
    h("p", {}, h("a", { href: "#/jobs" }, "← All jobs")),
    h("h1", { id: "job-h" }, job.name || job.job_id),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Job"),
      h("dd", {}, h("code", {}, job.job_id)),
      h("dt", {}, "Status"),
      statusDd,
      h("dt", {}, "Phase"),
      phaseDd,
      h("dt", {}, "Image"),
      h("dd", {}, h("code", {}, job.image)),
      h("dt", {}, "Command"),
      h("dd", {}, h("code", {}, [...job.command || [], ...job.args || []].join(" "))),
      job.failure ? [h("dt", {}, "Failure"), h("dd", {}, json(job.failure, "Failure"))] : null
    ),
    cancel,
    h("h2", {}, "Inputs"),
    mountedView(job),
    h("h2", {}, "Events"),
    lifecycle.box
  );
  const refresh2 = async () => {
    const [fresh, latest] = await Promise.all([
      call(() => api.GET("/api/v0/jobs/{id}", byId(id))),
      call(() => api.GET("/api/v0/jobs/{id}/events", byId(id)))
    ]);
    showState(fresh);
    lifecycle.update(latest);
  };
  section.append(...logsSection(ctx, job, logs, refresh2).filter(Boolean));
  section.append(h("h2", {}, "Artifacts"), artifactsView(ctx, job, artifacts));
  return section;
}
var EVENT_HEADERS = ["#", "When", "Level", "Title", "Message"];
var eventCells = (e) => [String(e.sequence), e.created_at, e.level, e.title, e.message];
function eventsView(view) {
  const box = h("div", {});
  const seen = /* @__PURE__ */ new Set();
  const render = (events) => {
    for (const e of events) seen.add(e.id);
    replace(box, events.length ? table("Lifecycle events", EVENT_HEADERS, events.map(eventCells)) : h("p", {}, "No events yet."));
  };
  render(view.events);
  const update = (latest) => {
    const added = latest.events.filter((e) => !seen.has(e.id));
    const body = box.querySelector("tbody");
    if (!added.length) return;
    if (!body) return render(latest.events);
    for (const e of added) {
      seen.add(e.id);
      body.append(tableRow(EVENT_HEADERS, eventCells(e)));
    }
  };
  return { box, update };
}
var logLine = (l) => `${l.created_at} ${l.stream}: ${l.message}
`;
var LOG_PAGE = 500;
function moreLines(ctx, job, logs, pre) {
  let cursor = logs.next_cursor;
  let shown = logs.items.length;
  const count = h("p", { class: "hint", "aria-live": "polite" }, `The first ${shown} lines; the job printed more.`);
  const button = h(
    "button",
    {
      type: "button",
      onclick: async () => {
        button.disabled = true;
        try {
          const page = await call(
            () => api.GET("/api/v0/jobs/{id}/logs", {
              params: { path: { id: job.job_id }, query: clean({ limit: String(LOG_PAGE), cursor }) }
            })
          );
          pre.append(page.items.map(logLine).join(""));
          shown += page.items.length;
          cursor = page.next_cursor || cursor;
          if (page.has_more) {
            replace(count, `The first ${shown} lines; the job printed more.`);
            button.disabled = false;
          } else {
            replace(count, `All ${shown} lines.`);
            button.remove();
            pre.focus();
          }
        } catch (error) {
          ctx.notifyError(error);
          button.disabled = false;
        }
      }
    },
    "More log lines"
  );
  return h("div", { class: "live" }, count, button);
}
function logsSection(ctx, job, logs, refresh2) {
  const pre = h("pre", { class: "logs", tabindex: "0", "aria-label": "Job logs" }, logs.items.map(logLine).join(""));
  const empty = h("p", {}, "No log lines yet.");
  pre.hidden = !logs.items.length;
  empty.hidden = logs.items.length > 0;
  if (TERMINAL.has(job.status)) {
    return [h("h2", {}, "Logs"), pre, empty, logs.has_more ? moreLines(ctx, job, logs, pre) : null];
  }
  let cursor = logs.next_cursor || (logs.items.length ? logs.items[logs.items.length - 1].entry_id : "");
  let controller = null;
  const state = h("p", { class: "hint live-state" });
  const live = h("input", { type: "checkbox", name: "live", checked: true });
  const stop = () => {
    if (controller) controller.abort();
    controller = null;
  };
  const gone = () => !pre.isConnected;
  const follow = async () => {
    if (controller || !live.checked || document.hidden || gone()) return;
    controller = new AbortController();
    const mine = controller;
    replace(state, "Live: following new lines as the job prints them, and its status and events.");
    try {
      let ended = false;
      const finished = await followJobLogs(
        job.job_id,
        cursor,
        (event) => {
          if (gone()) stop();
          else if (event.event === "log" && event.data && typeof event.data === "object") {
            cursor = event.data.entry_id || event.id || cursor;
            pre.append(logLine(event.data));
            pre.hidden = false;
            empty.hidden = true;
          } else if (event.event === "end") {
            ended = TERMINAL.has(event.data && event.data.status);
          }
        },
        mine.signal
      );
      if (controller === mine) controller = null;
      if (!finished || gone()) return;
      if (ended) {
        live.checked = false;
        replace(state, "The job has ended.");
        await ctx.reload();
        return;
      }
      setTimeout(follow, 500);
    } catch (error) {
      if (controller === mine) controller = null;
      if (mine.signal.aborted || gone()) return;
      replace(state, `Live updates stopped: ${error.message}. `);
      live.checked = false;
    }
  };
  live.addEventListener("change", () => {
    if (live.checked) follow();
    else {
      stop();
      replace(state, "Paused.");
    }
  });
  const onVisibility = () => {
    if (gone()) return;
    if (document.hidden) {
      stop();
      replace(state, "Paused while the tab is hidden.");
    } else follow();
  };
  document.addEventListener("visibilitychange", onVisibility);
  let asking = false;
  const poll = setInterval(async () => {
    if (asking || !live.checked || document.hidden || gone()) return;
    asking = true;
    try {
      await refresh2();
    } catch (error) {
      if (!gone()) replace(state, `The job's status could not be read: ${error.message}. `);
    } finally {
      asking = false;
    }
  }, 2e3);
  const watchdog = setInterval(() => {
    if (!gone()) return;
    stop();
    clearInterval(poll);
    clearInterval(watchdog);
    document.removeEventListener("visibilitychange", onVisibility);
  }, 2e3);
  setTimeout(follow, 0);
  return [h("h2", {}, "Logs"), h("div", { class: "live" }, field("Live", live), state), pre, empty];
}
function size(bytes) {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = -1;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]} (${bytes} bytes)`;
}
var IN_PAGE_MAX = 256 * 1024 * 1024;
function save(href, filename, newTab) {
  const link = document.createElement("a");
  link.href = href;
  link.download = filename;
  link.rel = "noopener noreferrer";
  if (newTab) link.target = "_blank";
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  link.removeAttribute("href");
}
async function download(ctx, job, artifact, button) {
  button.disabled = true;
  const path = { id: job.job_id, artifact_id: artifact.artifact_id };
  const filename = artifact.filename.split("/").pop();
  try {
    let blob = null;
    if (artifact.size_bytes <= IN_PAGE_MAX) {
      try {
        blob = await downloadArtifact(path.id, path.artifact_id);
      } catch (error) {
        if (error.code !== "NETWORK") throw error;
      }
    }
    if (blob) {
      const href = URL.createObjectURL(blob);
      save(href, filename, false);
      setTimeout(() => URL.revokeObjectURL(href), 6e4);
    } else {
      const answer = await call(() => api.GET("/api/v0/jobs/{id}/artifacts/{artifact_id}", { params: { path } }));
      save(answer.download_url, filename, new URL(answer.download_url, location.href).origin !== location.origin);
    }
    ctx.notify(`Downloading ${artifact.filename}.`);
  } catch (error) {
    ctx.notifyError(error);
  } finally {
    button.disabled = false;
  }
}
function artifactsView(ctx, job, view) {
  if (view instanceof ApiError) return h("p", { class: "error" }, `${view.message} (${view.code})`);
  const parts = [];
  if (!view.artifacts_ready && !TERMINAL.has(job.status)) {
    parts.push(h("p", {}, "Artifacts appear here once the job has ended (what it leaves under /workspace/artifacts/)."));
  } else if (!view.artifacts.length) {
    parts.push(h("p", {}, "The job left no artifacts."));
  } else {
    parts.push(
      table(
        "Artifacts",
        ["File", "Size", "Content type", "SHA-256", "Created", "Actions"],
        view.artifacts.map((a) => {
          const button = h(
            "button",
            { type: "button", onclick: () => download(ctx, job, a, button), disabled: !a.ready },
            `Download ${a.filename}`
          );
          return [h("code", {}, a.filename), size(a.size_bytes), a.content_type, h("code", { class: "digest" }, a.sha256), a.created_at, button];
        })
      )
    );
  }
  if (view.missing && view.missing.length) {
    parts.push(h("p", { class: "error" }, "Expected but not left by the job: ", view.missing.join(", ")));
  }
  return h("div", {}, parts);
}

// console/src/pages/python.ts
var byId2 = (id) => ({ params: { path: { id } } });
async function pythonPage(ctx) {
  const envs = await call(() => api.GET("/api/v0/python/environments"));
  const cards = envs.map((env) => {
    const frozen = h("div", {});
    const sessions = env.sessions.length ? table(
      `REPL sessions and processes of ${env.name}`,
      ["Kind", "Name", "State", "Started", "Ended"],
      env.sessions.map((s) => [
        s.kind,
        s.name,
        chip(s.state === "running" ? "running" : `ended: ${s.ended_reason || "unknown"}`),
        s.started_at,
        s.ended_at || ""
      ])
    ) : h("p", {}, "No REPL sessions or processes.");
    return h(
      "article",
      { class: "card", "aria-label": `Environment ${env.name}` },
      h("h2", {}, env.name),
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "Id"),
        h("dd", {}, h("code", {}, env.id)),
        h("dt", {}, "Python"),
        h("dd", {}, env.python_version),
        h("dt", {}, "Owner"),
        h("dd", {}, env.owner),
        h("dt", {}, "Network"),
        h("dd", {}, env.allow_egress ? "egress allowed" : "none while code runs"),
        h("dt", {}, "Created"),
        h("dd", {}, env.created_at)
      ),
      sessions,
      h(
        "div",
        { class: "actions" },
        h(
          "button",
          {
            type: "button",
            onclick: async () => {
              try {
                replace(frozen, json(
                  await call(() => api.GET("/api/v0/python/environments/{id}/freeze", byId2(env.id))),
                  `Frozen specification of ${env.name}`
                ));
              } catch (error) {
                ctx.notifyError(error);
              }
            }
          },
          `Freeze ${env.name}`
        ),
        h(
          "button",
          {
            type: "button",
            class: "danger",
            onclick: async () => {
              if (!window.confirm(`Destroy the environment ${env.name}? Its workspace and sessions end.`)) return;
              try {
                await call(() => api.DELETE("/api/v0/python/environments/{id}", byId2(env.id)));
                ctx.notify(`Destroyed ${env.name}.`);
                await ctx.reload();
              } catch (error) {
                ctx.notifyError(error);
              }
            }
          },
          `Destroy ${env.name}`
        )
      ),
      frozen
    );
  });
  return h(
    "section",
    { "aria-labelledby": "python-h" },
    h("h1", { id: "python-h" }, "Python environments"),
    cards.length ? cards : h("p", {}, "No environments yet. Agents create them with the python tools (create_environment).")
  );
}

// console/src/pages/connect.ts
function copyButton(ctx, label, text) {
  return h(
    "button",
    {
      type: "button",
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(text);
          ctx.notify(`Copied the ${label}.`);
        } catch {
          ctx.notify("The browser did not allow copying: select the text instead.", "error");
        }
      }
    },
    `Copy the ${label}`
  );
}
function snippet(ctx, title, where, text) {
  return h(
    "article",
    { class: "card" },
    h("h3", {}, title),
    h("p", { class: "hint" }, where),
    h("pre", { class: "json", tabindex: "0", "aria-label": title }, text),
    copyButton(ctx, `${title} configuration`, text)
  );
}
function principal(me2) {
  const row = (label, value) => [h("dt", {}, label), h("dd", {}, value)];
  return h(
    "article",
    { class: "card", "aria-labelledby": "principal-h" },
    h("h2", { id: "principal-h" }, "Signed in as"),
    h(
      "dl",
      { class: "facts", "aria-label": "Signed-in principal" },
      row("Principal", h("code", {}, me2.subject || me2.name)),
      row("Kind", me2.kind),
      me2.role ? row("Role", me2.role) : null,
      me2.tenant ? row("Tenant", me2.tenant) : null,
      row("Scopes", me2.scopes ? me2.scopes.join(" ") : "not limited by a scope"),
      row("Manages the tenant", me2.manages_tenant ? "yes" : "no")
    )
  );
}
function endpointsOf(base, servers, groups) {
  return [
    { label: "Everything you may see", url: `${base}/mcp`, key: "canopy", flags: [] },
    ...servers.map((s) => ({
      label: `Server ${s.name} (tool names unprefixed)`,
      url: `${base}/servers/${encodeURIComponent(s.name)}/mcp`,
      key: `canopy-${s.name}`,
      flags: ["--server", s.name]
    })),
    ...groups.map((g) => ({
      label: `Group ${g.name}`,
      url: `${base}/groups/${encodeURIComponent(g.name)}/mcp`,
      key: `canopy-group-${g.name}`,
      flags: ["--group", g.name]
    }))
  ];
}
function shellWord(word) {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}
function configurations(ctx, base, enterprise, endpoint) {
  const { url, key, flags } = endpoint;
  const text = (v) => JSON.stringify(v, null, 2);
  const stdioArgs = ["stdio", "--registry", base, ...flags];
  const stdioLine = ["canopy", ...stdioArgs].map(shellWord).join(" ");
  const login = ["canopy", "login", "--oauth", "--registry", base, ...flags].map(shellWord).join(" ");
  const inspector = enterprise ? (
    // The Inspector's CLI has no OAuth of its own: it runs the stdio bridge, signed in once
    // (after `--`, so the bridge's flags are not read as the Inspector's).
    `${login}
npx @modelcontextprotocol/inspector --cli --method tools/list -- ${stdioLine}`
  ) : `npx @modelcontextprotocol/inspector --cli ${shellWord(url)} --transport http --method tools/list`;
  const signIn2 = enterprise ? "Signs in with OAuth in the browser the first time it connects." : "Development mode: no credentials.";
  return [
    h("h3", { class: "visually-hidden" }, `Configurations for ${endpoint.label}`),
    snippet(
      ctx,
      "Claude Desktop",
      `claude_desktop_config.json, through the mcp-remote bridge. ${signIn2}`,
      text({ mcpServers: { [key]: { command: "npx", args: ["-y", "mcp-remote", url] } } })
    ),
    snippet(ctx, "Claude Code", `A command to run once. ${signIn2}`, `claude mcp add --transport http ${shellWord(key)} ${shellWord(url)}`),
    snippet(ctx, "Cursor", `~/.cursor/mcp.json. ${signIn2}`, text({ mcpServers: { [key]: { url } } })),
    snippet(ctx, "VS Code", `.vscode/mcp.json. ${signIn2}`, text({ servers: { [key]: { type: "http", url } } })),
    snippet(
      ctx,
      "MCP Inspector",
      enterprise ? "Commands to run: the Inspector's CLI does not sign in itself, so it lists the tools through the canopy CLI, signed in once." : "A command to run: lists the endpoint's tools.",
      inspector
    ),
    enterprise ? snippet(
      ctx,
      "Sign in the canopy CLI",
      "Once, before the stdio bridge below: signs in in the browser and saves the grant for this endpoint in ~/.canopy.conf.",
      login
    ) : null,
    snippet(
      ctx,
      "canopy stdio",
      "For a client that launches a process (Claude Desktop, Cursor): the canopy CLI as the server, bridging to this endpoint.",
      text({ mcpServers: { [key]: { command: "canopy", args: stdioArgs } } })
    ),
    snippet(
      ctx,
      "Claude Code through canopy stdio",
      "A command to run once.",
      `claude mcp add ${shellWord(key)} -- ${stdioLine}`
    )
  ];
}
async function connectPage(ctx) {
  const base = ctx.config.public_url || location.origin;
  const enterprise = ctx.config.mode !== "development";
  const servers = await call(() => api.GET("/api/v0/servers"));
  const groups = await call(() => api.GET("/api/v0/groups")).catch(() => []);
  const endpoints = endpointsOf(base, servers, groups);
  const choice = h(
    "select",
    { name: "endpoint" },
    endpoints.map((e, i) => h("option", { value: String(i) }, `${e.label}: ${e.url}`))
  );
  const box = h("div", {});
  const show = () => replace(box, configurations(ctx, base, enterprise, endpoints[Number(choice.value)] || endpoints[0]));
  choice.addEventListener("change", show);
  show();
  return h(
    "section",
    { "aria-labelledby": "connect-h" },
    h("h1", { id: "connect-h" }, "Connect"),
    h(
      "p",
      {},
      enterprise ? "Enterprise mode: no configuration below holds a token. Each client signs in itself with OAuth at Canopy's authorization server, as whoever signs in there, and sees what that principal may see (an MCP client identity may send its own token instead)." : "Development mode: the endpoints need no credentials (they listen on loopback only)."
    ),
    principal(ctx.me),
    h("h2", {}, "Endpoints"),
    h(
      "ul",
      { class: "endpoints" },
      endpoints.map((e) => h("li", {}, h("span", {}, `${e.label}: `), h("code", {}, e.url))),
      h("li", {}, h("span", {}, "REST admin API: "), h("code", {}, `${base}/api/v0`))
    ),
    h("h2", { id: "configurations-h" }, "Client configurations"),
    field("Endpoint", choice, "The configurations below connect to this endpoint."),
    box
  );
}

// console/src/pages/tenants.ts
var byId3 = (id) => ({ params: { path: { id } } });
async function tenantsPage(ctx) {
  const listBox = h("div", {});
  const tokenSlot = h("div", {});
  const refresh2 = async () => {
    const all = await call(() => api.GET("/api/v0/tenants"));
    replace(
      listBox,
      table(
        "Tenants",
        ["ID", "Display name", "Status", "Created", "Changed", "Actions"],
        all.map((t) => [t.id, t.display_name, t.status, t.created_at, t.updated_at, statusButton(ctx, t, refresh2)])
      )
    );
  };
  await refresh2();
  return h(
    "section",
    { "aria-labelledby": "tenants-h" },
    h("h1", { id: "tenants-h" }, "Tenants"),
    h(
      "p",
      {},
      "The organisations of this deployment. As the platform operator you create, suspend and resume them; ",
      "what is inside a tenant is its own and never shown here."
    ),
    listBox,
    h("h2", { id: "create-tenant-h" }, "Create a tenant"),
    tokenSlot,
    createTenantForm(ctx, tokenSlot, refresh2)
  );
}
function statusButton(ctx, tenant, refresh2) {
  const suspended = tenant.status === "suspended";
  return h(
    "button",
    {
      type: "button",
      class: suspended ? void 0 : "danger",
      onclick: async (event) => {
        if (!suspended && !window.confirm(`Suspend ${tenant.id}? Every token of its users and MCP clients is refused until you resume it.`)) return;
        event.target.disabled = true;
        try {
          const changed = suspended ? await call(() => api.POST("/api/v0/tenants/{id}/resume", byId3(tenant.id))) : await call(() => api.POST("/api/v0/tenants/{id}/suspend", byId3(tenant.id)));
          ctx.notify(
            changed.status === "suspended" ? `Suspended ${changed.id}: its tokens are refused.` : `Resumed ${changed.id}: its tokens work again.`
          );
          await refresh2();
        } catch (error) {
          ctx.notifyError(error);
          event.target.disabled = false;
        }
      }
    },
    suspended ? `Resume ${tenant.id}` : `Suspend ${tenant.id}`
  );
}
function createTenantForm(ctx, tokenSlot, refresh2) {
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
          const created = await call(
            () => api.POST("/api/v0/tenants", {
              body: { id: id.value.trim(), owner: owner.value.trim(), ...name ? { display_name: name } : {} }
            })
          );
          form.reset();
          if (created.owner_access_token) {
            showToken(tokenSlot, `${created.owner.name} (owner of ${created.id})`, created.owner_access_token, () => id.focus());
          }
          ctx.notify(`Created the tenant ${created.id} with its owner ${created.owner.name}.`);
          await refresh2();
        } catch (error) {
          ctx.notifyError(error);
        } finally {
          button.disabled = false;
        }
      }
    },
    field("Tenant ID", id, "Lowercase letters, digits and -, at most 63 (platform is reserved)."),
    field("Display name", displayName, "Optional; the ID when empty."),
    field("Owner's user name", owner, "The tenant's first user, an owner: their token is shown once, here."),
    h("button", { type: "submit" }, "Create tenant")
  );
  return form;
}

// console/src/app.ts
var main = () => document.getElementById("main");
function notify(message, kind = "ok") {
  const el = document.getElementById("notice");
  replace(el, message ? h("p", { class: `notice-${kind}` }, message) : null);
}
function notifyError(error) {
  if (error instanceof ApiError) notify(`${error.message} (${error.code})`, "error");
  else notify(String(error && error.message ? error.message : error), "error");
}
var config2 = { mode: "development", public_url: location.origin };
var me = { kind: "development", name: "dev", manages_tenant: true };
async function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [page, ...rest] = hash.split("/");
  const arg = rest.length ? decodeURIComponent(rest.join("/")) : null;
  const operator = me.kind === "operator";
  const name = page || (operator ? "tenants" : "servers");
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const target = main();
  replace(target, h("p", {}, "Loading…"));
  const ctx = { config: config2, me, manages: Boolean(me.manages_tenant), notify, notifyError, reload: route };
  try {
    let content;
    if (name === "tenants" && !operator) content = notForYou("Tenants", "Tenants are managed by the platform operator.");
    else if (name === "tenants") content = await tenantsPage(ctx);
    else if (operator && name !== "tenants")
      content = notForYou(
        "Not for the platform operator",
        "The platform operator sees nothing inside a tenant: its servers, identities, audit, jobs and environments are its own. See Tenants."
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
function notForYou(title, why) {
  return h("section", {}, h("h1", {}, title), h("p", {}, why));
}
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
          await signIn();
        } catch (error) {
          notifyError(error);
          button.disabled = false;
        }
      }
    },
    "Sign in"
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
        "with your Canopy user token (the platform operator: the operator token) or your organisation's single sign-on."
      ),
      problem ? h("p", { class: "error" }, problem) : null,
      button,
      h(
        "p",
        { class: "hint" },
        "Your session lives in this page only: nothing is stored in the browser, so a reload signs you in again."
      )
    )
  );
  document.title = "Sign in · Canopy console";
}
function account(me2) {
  const who = me2.role ? `${me2.name} (${me2.role})` : `${me2.name} (${me2.kind})`;
  replace(
    document.getElementById("account"),
    h("span", { class: "who" }, "Signed in as ", h("strong", {}, who), me2.tenant ? ` in ${me2.tenant}` : null),
    signedIn() ? h(
      "button",
      {
        type: "button",
        onclick: async () => {
          await signOut();
          signInPage(null);
          notify("You are signed out: the console revoked its tokens.");
          document.getElementById("sign-in-h").focus();
        }
      },
      "Sign out"
    ) : null
  );
}
async function start() {
  try {
    const response = await fetch("/console/config.json", { credentials: "same-origin" });
    if (response.ok) config2 = await response.json();
  } catch {
  }
  configure(config2);
  const mode = document.getElementById("mode");
  replace(mode, `${config2.mode} mode`);
  if (required()) {
    try {
      await completeSignIn();
    } catch (error) {
      signInPage(error.message);
      return;
    }
  }
  try {
    me = await call(() => api.GET("/api/v0/me"));
  } catch (error) {
    if (required()) {
      forget();
      signInPage(`${error.message}${error.code ? ` (${error.code})` : ""}`);
    } else {
      notifyError(error);
    }
    return;
  }
  if (config2.mode === "enterprise") account(me);
  const operator = me.kind === "operator";
  for (const link of document.querySelectorAll("nav a")) {
    const page = link.dataset.page;
    link.parentElement.hidden = operator ? page !== "tenants" : page === "tenants" || page === "audit" && !me.manages_tenant;
  }
  window.addEventListener("hashchange", () => {
    notify("");
    route();
  });
  await route();
}
start();
export {
  notify,
  notifyError
};
