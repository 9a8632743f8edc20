/**
 * The router's admin HTTP server: liveness, readiness, the deployment table,
 * a live health check per deployment, and Prometheus metrics.
 */
import * as http from "node:http";
import type { Logger } from "../lib/log";
import type { RouterMetrics } from "./metrics";
import type { RegistrySource } from "../registry/types";
import { isValidDeploymentId } from "../registry/types";

export interface AdminOptions {
  readonly registry: RegistrySource;
  readonly metrics: RouterMetrics;
  readonly logger: Logger;
  /** True once the registry has loaded and the router is not draining. */
  readonly isReady: () => boolean;
  readonly healthTimeoutMs?: number;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export function createAdminServer(opts: AdminOptions): http.Server {
  const { registry, metrics, logger, isReady } = opts;
  const healthTimeoutMs = opts.healthTimeoutMs ?? 3000;

  const liveHealth = async (id: string, res: http.ServerResponse): Promise<void> => {
    if (!isValidDeploymentId(id)) return sendJson(res, 400, { error: `malformed deployment id ${JSON.stringify(id.slice(0, 64))}` });
    let target;
    try {
      target = await registry.lookup(id);
    } catch (err) {
      return sendJson(res, 503, { deploymentId: id, healthy: false, code: "UNAVAILABLE", message: (err as Error).message });
    }
    if (!target) return sendJson(res, 404, { deploymentId: id, healthy: false, code: "NOT_FOUND", message: `deployment ${id} is not registered` });
    const address = `${target.host.includes(":") ? `[${target.host}]` : target.host}:${target.port}`;
    // grpc-js and the agent proto load on the first live check, not at start: they would add ~12 MiB of RSS
    // to every router for an operator's endpoint (docs/decisions/router-memory.md). Typed lazy requires; Node caches them.
    const grpc = require("@grpc/grpc-js") as typeof import("@grpc/grpc-js");
    const { checkHealth } = require("../lib/health") as typeof import("../lib/health");
    // Straight to the agent: this asks whether the agent answers, not whether the router does.
    const client = new grpc.Client(address, grpc.credentials.createInsecure());
    try {
      const r = await checkHealth(client, id, healthTimeoutMs);
      sendJson(res, r.ok ? 200 : 503, { deploymentId: id, healthy: r.ok, code: r.codeName, message: r.message, latencyMs: r.latencyMs, address });
    } finally {
      client.close();
    }
  };

  return http.createServer((req, res) => {
    const url = (req.url ?? "/").split("?")[0]!;
    if (req.method !== "GET") return sendJson(res, 405, { error: "only GET is served here" });
    if (url === "/healthz") return sendJson(res, 200, { status: "alive" });
    if (url === "/readyz") return isReady() ? sendJson(res, 200, { status: "ready" }) : sendJson(res, 503, { status: "not ready" });
    if (url === "/deployments") {
      return sendJson(res, 200, { source: registry.description, deployments: registry.list().sort((a, b) => a.id.localeCompare(b.id)) });
    }
    const m = /^\/deployments\/([^/]+)\/health$/.exec(url);
    if (m) {
      liveHealth(decodeURIComponent(m[1]!), res).catch((err: unknown) => {
        logger.error({ err: (err as Error).message }, "live health check failed");
        if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
      });
      return;
    }
    if (url === "/metrics") {
      metrics.registry.metrics().then((text) => {
        res.writeHead(200, { "content-type": metrics.registry.contentType });
        res.end(text);
      }, (err: unknown) => sendJson(res, 500, { error: (err as Error).message }));
      return;
    }
    sendJson(res, 404, { error: "not found: try /healthz, /readyz, /deployments, /deployments/{id}/health or /metrics" });
  });
}
