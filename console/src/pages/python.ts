// Python: the tenant's Python environments the principal may see (GET /api/v0/python/environments),
// each with its REPL sessions and processes (running, or ended with the reason), its frozen
// specification (GET .../freeze) and destroy (DELETE, through the python server's own tool).
import { h, table, json, chip, replace } from "../dom.js";
import { api, call } from "../api.js";

const byId = (id: string) => ({ params: { path: { id } } });

export async function pythonPage(ctx) {
  const envs = await call(() => api.GET("/api/v0/python/environments"));
  const cards = envs.map((env) => {
    const frozen = h("div", {});
    const sessions = env.sessions.length
      ? table(
          `REPL sessions and processes of ${env.name}`,
          ["Kind", "Name", "State", "Started", "Ended"],
          env.sessions.map((s) => [
            s.kind,
            s.name,
            chip(s.state === "running" ? "running" : `ended: ${s.ended_reason || "unknown"}`),
            s.started_at,
            s.ended_at || "",
          ]),
        )
      : h("p", {}, "No REPL sessions or processes.");
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
        h("dd", {}, env.created_at),
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
                    await call(() => api.GET("/api/v0/python/environments/{id}/freeze", byId(env.id))),
                    `Frozen specification of ${env.name}`,
                  ));
              } catch (error) {
                ctx.notifyError(error);
              }
            },
          },
          `Freeze ${env.name}`,
        ),
        h(
          "button",
          {
            type: "button",
            class: "danger",
            onclick: async () => {
              if (!window.confirm(`Destroy the environment ${env.name}? Its workspace and sessions end.`)) return;
              try {
                await call(() => api.DELETE("/api/v0/python/environments/{id}", byId(env.id)));
                ctx.notify(`Destroyed ${env.name}.`);
                await ctx.reload();
              } catch (error) {
                ctx.notifyError(error);
              }
            },
          },
          `Destroy ${env.name}`,
        ),
      ),
      frozen,
    );
  });
  return h(
    "section",
    { "aria-labelledby": "python-h" },
    h("h1", { id: "python-h" }, "Python environments"),
    cards.length
      ? cards
      : h("p", {}, "No environments yet. Agents create them with the python tools (create_environment)."),
  );
}
