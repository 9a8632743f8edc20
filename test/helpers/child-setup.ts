/**
 * One echo agent behind a child-process router, with the registry in a temp file: the
 * set-up most fault tests share. `close()` undoes all of it.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { RawClient, startEchoServer, type EchoServer } from "../../fixtures/echo-server";
import { startChildRouter, type ChildRouter, type ChildRouterOptions } from "../../fixtures/child-router";
import type { RegistryEntry } from "./router-fixture";

export interface AgentBehindChildRouter {
  readonly agent: EchoServer;
  readonly router: ChildRouter;
  readonly client: RawClient;
  readonly registryPath: string;
  close(): Promise<void>;
}

export async function startAgentBehindChildRouter(opts: {
  /** The agent's name, which is also its deployment id. */
  readonly agent: string;
  /** More registry entries (e.g. a dead port). */
  readonly extra?: readonly RegistryEntry[];
  readonly router?: Omit<ChildRouterOptions, "registry">;
}): Promise<AgentBehindChildRouter> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pixell-child-router-"));
  const registryPath = path.join(dir, "r.json");
  const agent = await startEchoServer({ name: opts.agent });
  fs.writeFileSync(registryPath, JSON.stringify({ deployments: [{ id: opts.agent, port: agent.port }, ...(opts.extra ?? [])] }));
  const router = await startChildRouter({ ...opts.router, registry: `file:${registryPath}` });
  const client = new RawClient(`127.0.0.1:${router.port}`);
  return {
    agent, router, client, registryPath,
    async close() {
      client.close();
      await router.kill();
      await agent.stop(true);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
