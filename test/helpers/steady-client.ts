/**
 * A well-behaved client calling one deployment in a loop while a test abuses the router, so the
 * test can assert the abuse never failed or stalled anyone else.
 */
import * as grpc from "@grpc/grpc-js";
import { md, RawClient } from "../../fixtures/echo-server";

export interface SteadyClient {
  readonly ok: number;
  readonly failures: string[];
  /** Slowest successful call, in ms. */
  readonly maxMs: number;
  stop(): Promise<void>;
}

export function startSteadyClient(port: number, deploymentId: string, everyMs = 20, deadlineMs = 2000): SteadyClient {
  const client = new RawClient(`127.0.0.1:${port}`);
  const state = { ok: 0, failures: [] as string[], maxMs: 0 };
  let running = true;
  const loop = (async () => {
    let i = 0;
    while (running) {
      const t0 = performance.now();
      try {
        const r = await client.unary("Unary", String(i), md({ "x-deployment-id": deploymentId }), { deadline: Date.now() + deadlineMs });
        if (r.body.toString() !== `${deploymentId}:${i}`) state.failures.push(`wrong answer ${r.body.toString()}`);
        else state.ok++;
        state.maxMs = Math.max(state.maxMs, performance.now() - t0);
      } catch (err) {
        state.failures.push(`${grpc.status[(err as grpc.ServiceError).code]}: ${(err as grpc.ServiceError).details}`);
      }
      i++;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    get ok() { return state.ok; },
    get failures() { return state.failures; },
    get maxMs() { return state.maxMs; },
    async stop() {
      running = false;
      await loop;
      client.close();
    },
  };
}
