// The console's only way to Canopy: the public REST API under /api/v0, same origin. Errors
// come back as ApiError carrying the envelope's code and message. In enterprise mode every
// request carries the signed-in principal's access token (auth.js); a 401 refreshes it once and
// retries, or, when the console holds no token (or its grant is over), starts the sign-in.
import * as auth from "./auth.js";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** `request("GET", "/servers")`, `request("POST", "/servers", body)`: the parsed JSON answer. */
export async function request(method, path, body) {
  let response = await send(method, path, body);
  if (response.status === 401 && auth.required()) {
    if (auth.signedIn() && (await auth.refresh())) response = await send(method, path, body);
    // No token, or a grant that is over: sign in (the page leaves for the authorization server).
    else if (!auth.signedIn()) await auth.signIn();
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = data && data.error;
    if (error && typeof error.message === "string") throw new ApiError(response.status, error.code, error.message);
    throw new ApiError(response.status, "HTTP_" + response.status, `${method} ${path} answered ${response.status}`);
  }
  return data;
}

async function send(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { accept: "application/json" } };
  const authorization = auth.authorization();
  if (authorization) init.headers.authorization = authorization;
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    return await fetch(`/api/v0${path}`, init);
  } catch (e) {
    throw new ApiError(0, "NETWORK", `Canopy did not answer: ${e.message}`);
  }
}

/** A query string from the non-empty values of `params` ("" when none). */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}
