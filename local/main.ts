/**
 * `npm start`: the whole A2A data path on 127.0.0.1, no AWS. Three demo agents on free
 * ports, a registry file for them, and the router on 127.0.0.1:50051 (Envoy's place in
 * AWS, so clients use the same port). Ctrl-C stops everything.
 *
 * The probe runs against the router every 15 s and prints its tables (deployments, the router as
 * the one task, the endpoint), as the Lambda reports them in AWS.
 *
 * Flags: --port N (router port, default 50051), --admin-port N (default 9902), --agents N (default 3),
 * --probe-interval-ms N (default 15000; 0 turns the probe off).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { startProbeLoop } from "../probe-lambda/loop";
import { startRouter } from "../router";
import { createLogger } from "../lib/log";
import { startDemoAgent, type DemoAgent } from "../fixtures/demo-agent";
import { LOCAL_OPTIONS } from "./options";

const DEMO_IDS = ["demo-echo", "demo-summarizer", "demo-planner", "demo-translator", "demo-coder"];

async function main(): Promise<void> {
  const { values } = parseArgs({ options: LOCAL_OPTIONS });
  const count = Math.min(Math.max(Number(values.agents), 1), DEMO_IDS.length);
  const agents: DemoAgent[] = [];
  for (const id of DEMO_IDS.slice(0, count)) agents.push(await startDemoAgent({ deploymentId: id }));

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pixell-a2a-local-"));
  const registryPath = path.join(dir, "registry.json");
  fs.writeFileSync(registryPath, JSON.stringify({ deployments: agents.map((a) => ({ id: a.deploymentId, host: a.host, port: a.port })) }, null, 2));

  // Warnings and errors only: the terminal is for the summary below.
  const logger = createLogger("pixell-router", process.env.LOG_LEVEL ?? "warn");
  const router = await startRouter({ listen: `127.0.0.1:${values.port}`, admin: `127.0.0.1:${values["admin-port"]}`, registry: `file:${registryPath}`, logger, drainMs: 2000 });

  const lines = [
    "pixell-a2a local mode: demo agents behind the router, on 127.0.0.1 only",
    "",
    `  router (A2A endpoint)  127.0.0.1:${router.port}`,
    `  router admin           http://127.0.0.1:${router.adminPort}/deployments`,
    `  registry file          ${registryPath}  (edit it: the router reloads within a second)`,
    "",
    "  deployment             agent",
    ...agents.map((a) => `  ${a.deploymentId.padEnd(22)} ${a.host}:${a.port}`),
    "",
    "Call an agent through the router:",
    `  npm run a2a -- invoke ${agents[0]!.deploymentId} summarize text=hello --endpoint 127.0.0.1:${router.port}`,
    "",
    "Ctrl-C stops everything.",
    "",
  ];
  process.stdout.write(lines.join("\n"));

  const probeIntervalMs = Number(values["probe-interval-ms"]);
  const probe = probeIntervalMs > 0
    ? startProbeLoop({ endpoint: `127.0.0.1:${router.port}`, registryPath, intervalMs: probeIntervalMs, write: (t) => process.stdout.write(t) })
    : undefined;

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write("\nstopping...\n");
    void (async () => {
      await probe?.stop();
      await router.drain();
      await Promise.all(agents.map((a) => a.stop(true)));
      fs.rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    })();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`local mode failed to start: ${(err as Error).message}\n`);
  if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") process.stderr.write("Another process holds the port: stop it, or pass --port N.\n");
  process.exit(1);
});
