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

/**
 * The bytes a download route answers, as a Blob: `fetch` follows its `307` to the signed URL by
 * itself, so the page never sees that URL (a bearer secret). A redirect to another origin (an
 * object store) is refused by the console's `connect-src 'self'`: that is an ApiError with the
 * code NETWORK, and the caller may fall back to opening the signed URL.
 */
export async function download(path) {
  let response = await send("GET", path, undefined, undefined, "*/*");
  if (response.status === 401 && auth.required() && auth.signedIn() && (await auth.refresh())) {
    response = await send("GET", path, undefined, undefined, "*/*");
  }
  if (!response.ok) throw await failure(response, "GET", path);
  return response.blob();
}

/** The ApiError of a failed answer (the envelope's code and message when it has one). */
async function failure(response, method, path) {
  let error = null;
  try {
    error = (await response.json()).error;
  } catch {
    error = null;
  }
  if (error && typeof error.message === "string") return new ApiError(response.status, error.code, error.message);
  return new ApiError(response.status, "HTTP_" + response.status, `${method} ${path} answered ${response.status}`);
}

/**
 * Follows a `text/event-stream` answer of the API (e.g. `/jobs/ID/logs?follow=true`): calls
 * `onEvent({ event, id, data })` for each event (`data` parsed as JSON when it is) until the
 * stream ends or `signal` aborts. Answers whether it ended by itself (false when aborted).
 * Goes through fetch, not EventSource, so it carries the access token like every request.
 */
export async function stream(path, onEvent, signal) {
  let response = await send("GET", path, undefined, signal, "text/event-stream");
  if (response.status === 401 && auth.required() && auth.signedIn() && (await auth.refresh())) {
    response = await send("GET", path, undefined, signal, "text/event-stream");
  }
  if (!response.ok) throw await failure(response, "GET", path);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
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
          // Not JSON: kept as text.
        }
        onEvent(event);
      }
    }
  } catch (e) {
    if (signal && signal.aborted) return false;
    throw new ApiError(0, "NETWORK", `The stream from Canopy broke: ${e.message}`);
  } finally {
    reader.releaseLock();
  }
}

async function send(method, path, body, signal, accept = "application/json") {
  const init = { method, credentials: "same-origin", headers: { accept }, signal };
  const authorization = auth.authorization();
  if (authorization) init.headers.authorization = authorization;
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    return await fetch(`/api/v0${path}`, init);
  } catch (e) {
    if (signal && signal.aborted) throw e;
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
