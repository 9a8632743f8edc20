/** A router on 127.0.0.1 in front of named echo servers, with its registry in a temp file. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startRouter, type RunningRouter } from "../../router";
import { silentLogger, type Logger } from "../../lib/log";
import { RawClient, startEchoServer, type EchoServer } from "../../fixtures/echo-server";

export interface RegistryEntry { id: string; host?: string; port: number }

export interface RouterFixture {
  readonly router: RunningRouter;
  readonly agents: Map<string, EchoServer>;
  readonly client: RawClient;
  readonly registryPath: string;
  writeRegistry(entries: RegistryEntry[]): void;
  admin(pathname: string): Promise<{ status: number; body: string }>;
  close(): Promise<void>;
}

export async function startRouterFixture(agentNames: string[], extra: RegistryEntry[] = [], logger: Logger = silentLogger): Promise<RouterFixture> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pixell-router-test-"));
  const registryPath = path.join(dir, "registry.json");
  const agents = new Map<string, EchoServer>();
  for (const name of agentNames) agents.set(name, await startEchoServer({ name }));
  const writeRegistry = (entries: RegistryEntry[]): void => {
    // Write then rename, as deploy tools do, so the router never reads half a file.
    fs.writeFileSync(registryPath + ".tmp", JSON.stringify({ deployments: entries }));
    fs.renameSync(registryPath + ".tmp", registryPath);
  };
  writeRegistry([...[...agents.values()].map((a) => ({ id: a.name, port: a.port })), ...extra]);
  const router = await startRouter({ listen: "127.0.0.1:0", admin: "127.0.0.1:0", registry: `file:${registryPath}`, logger, drainMs: 5000 });
  const client = new RawClient(`127.0.0.1:${router.port}`);
  return {
    router, agents, client, registryPath, writeRegistry,
    async admin(pathname) {
      const res = await fetch(`http://127.0.0.1:${router.adminPort}${pathname}`);
      return { status: res.status, body: await res.text() };
    },
    async close() {
      client.close();
      await router.close();
      await Promise.all([...agents.values()].map((a) => a.stop(true)));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `fn` until it returns true, for at most `ms`. */
export async function eventually(fn: () => boolean | Promise<boolean>, ms = 3000, what = "condition"): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out after ${ms}ms waiting for ${what}`);
}
