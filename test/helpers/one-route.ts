/**
 * One router in front of one agent: a file registry naming the agent under `id`, the router on a free
 * 127.0.0.1 port, and a raw gRPC client to it. close() undoes all three (not the agent).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type * as grpc from "@grpc/grpc-js";
import { startRouter, type RunningRouter } from "../../router";
import { silentLogger } from "../../lib/log";
import { RawClient } from "../../fixtures/echo-server";

export interface OneRoute {
  readonly router: RunningRouter;
  readonly client: RawClient;
  close(): Promise<void>;
}

/** `engine` undefined: the one ROUTER_ENGINE names (the router's default). */
export async function routeOne(id: string, agentPort: number, engine?: "frames" | "http2"): Promise<OneRoute> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pixell-one-route-"));
  const registry = path.join(dir, "r.json");
  fs.writeFileSync(registry, JSON.stringify({ deployments: [{ id, port: agentPort }] }));
  const router = await startRouter({ listen: "127.0.0.1:0", registry: `file:${registry}`, logger: silentLogger, ...(engine ? { engine } : {}) });
  const client = new RawClient(`127.0.0.1:${router.port}`);
  return {
    router,
    client,
    async close() {
      client.close();
      await router.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The gRPC error a call ends with; throws when it succeeds. */
export async function callFailure(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try { await p; } catch (err) { return err as grpc.ServiceError; }
  throw new Error("expected the call to fail");
}
