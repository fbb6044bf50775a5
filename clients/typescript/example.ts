// Type-checked usage (`npm run typecheck`, run by `scripts/generate-clients.sh`): if the
// generated types stop fitting these calls, the check fails. Not shipped, not run.
import { createCanopyClient, type ErrorEnvelope, type Schemas } from "./index";

export async function example(): Promise<void> {
  const canopy = createCanopyClient({ baseUrl: "http://127.0.0.1:8080" });

  const registered = await canopy.POST("/api/v0/servers", {
    params: { header: { "Idempotency-Key": "register-calc-1" } },
    body: { name: "calc", url: "http://127.0.0.1:9000/mcp" },
  });
  if (registered.error) {
    const failure: ErrorEnvelope = registered.error;
    throw new Error(`${failure.error.code}: ${failure.error.message}`);
  }
  const server: Schemas["ServerView"] = registered.data;

  const tools = await canopy.GET("/api/v0/tools", { params: { query: { server: server.name } } });
  const names: string[] = (tools.data ?? []).map((tool) => tool.name);

  const result = await canopy.POST("/api/v0/tools/invoke", { body: { name: "calc__add", a: 1, b: 2 } });
  const isError: unknown = result.data?.isError;

  await canopy.POST("/api/v0/tools/disable", { params: { query: { entity: "calc__add" } } });
  await canopy.PUT("/api/v0/groups/{name}", {
    params: { path: { name: "math" } },
    body: { included_servers: ["calc"] },
  });
  await canopy.DELETE("/api/v0/servers/{name}", { params: { path: { name: server.name } } });

  const ready = await canopy.GET("/readyz");
  const checks: Record<string, string> | undefined = ready.data?.checks;
  void names, isError, checks;
}
