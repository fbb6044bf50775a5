// The console's only way to Canopy: the public REST API under /api/v0, same origin, through the
// admin client generated from its OpenAPI document (clients/typescript: openapi-typescript's
// types, openapi-fetch's requests), so every path, parameter and body the console sends is
// checked against the document when the console is built (scripts/build-console.sh), and every
// answer is typed. Errors come back as ApiError carrying the envelope's code and message. In
// enterprise mode every request carries the signed-in principal's access token (auth.ts); a 401
// refreshes it once and retries, or, when the console holds no token (or its grant is over),
// starts the sign-in.
import { createCanopyClient, type ErrorEnvelope, type Schemas } from "../../clients/typescript/index";
import * as auth from "./auth.js";

export type { Schemas };

export class ApiError extends Error {
  status: number;
  code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * The typed client: `call(() => api.GET("/api/v0/servers/{name}", { params: { path: { name } } }))`.
 * Same origin, JSON unless a call asks for something else; the access token is added to every
 * request as it is sent (so a retry after a refresh carries the new one).
 */
export const api = createCanopyClient({
  baseUrl: location.origin,
  credentials: "same-origin",
  headers: { accept: "application/json" },
});
api.use({
  onRequest({ request }) {
    const authorization = auth.authorization();
    if (authorization) request.headers.set("authorization", authorization);
    return request;
  },
});

/** What a call of `api` answers (openapi-fetch's shape): the data, or the error's body. */
type Answer<T> = { data?: T; error?: unknown; response: Response };

/**
 * Runs `send` (one call of `api`) and answers its data, or throws the ApiError of its failure.
 * On a 401 in enterprise mode: refresh the token once and send again, or, holding no token,
 * start the sign-in (unless `signIn` is false: downloads and streams only refresh).
 */
export async function call<T>(send: () => Promise<Answer<T>>, { signIn = true, signal = undefined as AbortSignal | undefined } = {}): Promise<T> {
  let answer = await attempt(send, signal);
  if (answer.response.status === 401 && auth.required()) {
    if (auth.signedIn() && (await auth.refresh())) answer = await attempt(send, signal);
    // No token, or a grant that is over: sign in (the page leaves for the authorization server).
    else if (signIn && !auth.signedIn()) await auth.signIn();
  }
  if (!answer.response.ok) throw failure(answer);
  return answer.data as T;
}

async function attempt<T>(send: () => Promise<Answer<T>>, signal?: AbortSignal): Promise<Answer<T>> {
  try {
    return await send();
  } catch (e) {
    if (signal && signal.aborted) throw e;
    throw new ApiError(0, "NETWORK", `Canopy did not answer: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The ApiError of a failed answer (the envelope's code and message when it has one). */
function failure(answer: Answer<unknown>): ApiError {
  const { status, url } = answer.response;
  const body = answer.error as ErrorEnvelope | string | undefined;
  const error = body && typeof body === "object" ? body.error : undefined;
  if (error && typeof error.message === "string") return new ApiError(status, error.code, error.message);
  const path = url ? new URL(url).pathname : "/api/v0";
  return new ApiError(status, "HTTP_" + status, `${path} answered ${status}`);
}

/**
 * The bytes of a job artifact's download route, as a Blob: `fetch` follows its `307` to the
 * signed URL by itself, so the page never sees that URL (a bearer secret). A redirect to
 * another origin (an object store) is refused by the console's `connect-src 'self'`: that is an
 * ApiError with the code NETWORK, and the caller may fall back to opening the signed URL.
 */
export async function downloadArtifact(id: string, artifactId: string): Promise<Blob> {
  return call(
    () =>
      api.GET("/api/v0/jobs/{id}/artifacts/{artifact_id}/download", {
        params: { path: { id, artifact_id: artifactId } },
        headers: { accept: "*/*" },
        parseAs: "blob",
      }),
    { signIn: false },
  );
}

/**
 * Follows a job's log lines live (`GET /jobs/ID/logs?follow=true`, a `text/event-stream`):
 * calls `onEvent({ event, id, data })` for each event (`data` parsed as JSON when it is) until
 * the stream ends or `signal` aborts. Answers whether it ended by itself (false when aborted).
 * Goes through the client, not EventSource, so it carries the access token like every request.
 */
export async function followJobLogs(
  id: string,
  cursor: string | undefined,
  onEvent: (event: { event: string; id: string | null; data: any }) => void,
  signal: AbortSignal,
): Promise<boolean> {
  const body = await call(
    () =>
      api.GET("/api/v0/jobs/{id}/logs", {
        params: { path: { id }, query: clean({ follow: "true", cursor }) },
        headers: { accept: "text/event-stream" },
        parseAs: "stream",
        signal,
      }),
    { signIn: false, signal },
  );
  // parseAs "stream": the body itself (openapi-fetch types it as the JSON answer).
  return readEvents(body as unknown as ReadableStream<Uint8Array>, onEvent, signal);
}

async function readEvents(
  body: ReadableStream<Uint8Array>,
  onEvent: (event: { event: string; id: string | null; data: any }) => void,
  signal: AbortSignal,
): Promise<boolean> {
  const reader = body.pipeThrough(new TextDecoderStream() as unknown as ReadableWritablePair<string, Uint8Array>).getReader();
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
        const event = { event: "message", id: null as string | null, data: "" as any };
        const data: string[] = [];
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
    throw new ApiError(0, "NETWORK", `The stream from Canopy broke: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    reader.releaseLock();
  }
}

/**
 * The query parameters of `params` that have a value (an empty form field is no filter):
 * `{ query: clean({ status: input.value.trim(), limit: 20 }) }`.
 */
export function clean<T extends Record<string, unknown>>(params: T): T {
  const kept: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") kept[k] = v;
  return kept as T;
}
