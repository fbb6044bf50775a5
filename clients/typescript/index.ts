// Canopy's admin client for TypeScript: openapi-fetch, typed by `canopy-api.d.ts`, which
// openapi-typescript generates from the checked-in `openapi/canopy-api.json`
// (`scripts/generate-clients.sh`; never edit the .d.ts by hand).
import createClient, { type ClientOptions } from "openapi-fetch";
import type { components, paths } from "./canopy-api";

export type { components, operations, paths } from "./canopy-api";
/** The request and response bodies of `/api/v0`, by name (`Schemas["ServerView"]`, ...). */
export type Schemas = components["schemas"];
/** What every error answer carries: `{ ok: false, error: { code, message } }`. */
export type ErrorEnvelope = Schemas["ErrorEnvelope"];
export type ErrorCode = Schemas["ErrorCode"];

/**
 * A client of a Canopy deployment at `baseUrl` (e.g. `http://127.0.0.1:8080`, what `canopy start`
 * listens on): `client.GET("/api/v0/tools", { params: { query: { server: "calc" } } })`.
 */
export function createCanopyClient(options: ClientOptions & { baseUrl: string }) {
  return createClient<paths>(options);
}

export type CanopyClient = ReturnType<typeof createCanopyClient>;
