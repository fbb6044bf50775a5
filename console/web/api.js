// The console's only way to Canopy: the public REST API under /api/v0, same origin. Errors
// come back as ApiError carrying the envelope's code and message.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** `request("GET", "/servers")`, `request("POST", "/servers", body)`: the parsed JSON answer. */
export async function request(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { accept: "application/json" } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/api/v0${path}`, init);
  } catch (e) {
    throw new ApiError(0, "NETWORK", `Canopy did not answer: ${e.message}`);
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

/** A query string from the non-empty values of `params` ("" when none). */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}
