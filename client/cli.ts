/**
 * `npm run a2a -- <command>`: reach agents from a shell. Replaces test_a2a_connectivity.sh,
 * test_a2a_connection.py and the grpcurl examples. See USAGE in cli-args.ts and docs/client.md.
 * Exit codes: 0 ok, 1 unhealthy / call failed / registry unreadable, 2 usage error.
 */
import type { ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import pino from "pino";
import pLimit from "p-limit";
import type { Logger } from "../lib/log";
import { cloudMapSourceFactory, createServiceDiscoveryClient } from "../registry/cloudmap";
import { parseRegistrySpec, RegistryChain } from "../registry/chain";
import { createSources } from "../registry/create";
import { A2AClient, A2AError } from "./a2a-client";
import { EXIT, formatCheckTable, formatHealth, parseCli, USAGE, type CliCommand } from "./cli-args";
import type { HealthCheckResult } from "../lib/health";

export interface CliIO {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  /** Diagnostics of the registry sources (JSON lines); stderr by default. */
  readonly logger?: Logger;
  /** Cloud Map client for `check --registry cloudmap:...`; default: one from the environment. */
  readonly serviceDiscovery?: ServiceDiscoveryClient;
}

/** Runs one command line and returns the exit code. Never throws. */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const cmd = parseCli(argv, io.env);
  if (cmd.kind === "usage-error") {
    io.stderr(`a2a: ${cmd.message}\n\n${USAGE}`);
    return EXIT.USAGE;
  }
  if (cmd.kind === "help") {
    io.stdout(USAGE);
    return EXIT.OK;
  }
  const out = (value: unknown, text: string): void => io.stdout(cmd.json ? JSON.stringify(value, null, 2) + "\n" : text);
  // The token comes from the environment only, never a flag: it stays out of shell history and `ps`.
  const client = new A2AClient({ endpoint: cmd.endpoint, timeoutMs: cmd.timeoutMs, tls: cmd.tls, token: io.env.PAR_A2A_TOKEN ?? "" });
  try {
    return await runCommand(cmd, client, io, out);
  } catch (err) {
    if (err instanceof A2AError) {
      out(
        { ok: false, deploymentId: err.deploymentId, code: err.code, codeName: err.codeName, message: err.details, address: err.address },
        "",
      );
      io.stderr(`a2a: ${err.codeName}: ${err.details} (deployment ${err.deploymentId} via ${err.address})\n`);
      return EXIT.FAILED;
    }
    io.stderr(`a2a: ${(err as Error).message}\n`);
    return EXIT.FAILED;
  } finally {
    client.close();
  }
}

type Out = (value: unknown, text: string) => void;

async function runCommand(cmd: Exclude<CliCommand, { kind: "help" }>, client: A2AClient, io: CliIO, out: Out): Promise<number> {
  const started = performance.now();
  const elapsed = (): number => Math.round((performance.now() - started) * 10) / 10;
  switch (cmd.kind) {
    case "health": {
      const r = await client.health(cmd.deploymentId);
      out(r, formatHealth(r));
      return r.ok ? EXIT.OK : EXIT.FAILED;
    }
    case "ping": {
      const r = await client.ping(cmd.deploymentId);
      out({ ok: true, deploymentId: cmd.deploymentId, ...r, latencyMs: elapsed() }, `${r.message} (${elapsed()} ms)\n`);
      return EXIT.OK;
    }
    case "capabilities": {
      const r = await client.describeCapabilities(cmd.deploymentId);
      const meta = Object.entries(r.metadata).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `  ${k}: ${v}`);
      out({ ok: true, deploymentId: cmd.deploymentId, ...r }, `methods: ${r.methods.join(", ")}\n${meta.length ? `metadata:\n${meta.join("\n")}\n` : ""}`);
      return EXIT.OK;
    }
    case "invoke": {
      const r = await client.invoke(cmd.deploymentId, { action: cmd.action, parameters: cmd.parameters, requestId: cmd.requestId });
      out({ ok: r.success, deploymentId: cmd.deploymentId, ...r }, r.success ? `${r.result}\n` : "");
      // The agent answered, but the action failed: a script must see it.
      if (!r.success) io.stderr(`a2a: action ${cmd.action} failed on ${cmd.deploymentId}: ${r.error || "(no error text)"} (request ${r.requestId})\n`);
      return r.success ? EXIT.OK : EXIT.FAILED;
    }
    case "check":
      return runCheck(cmd, client, io, out);
  }
}

async function runCheck(cmd: Extract<CliCommand, { kind: "check" }>, client: A2AClient, io: CliIO, out: Out): Promise<number> {
  const logger = io.logger ?? pino({ level: io.env.LOG_LEVEL ?? "warn", base: { service: "a2a-cli" } }, pino.destination({ dest: 2, sync: true }));
  let specs;
  try {
    specs = parseRegistrySpec(cmd.registry);
  } catch (err) {
    io.stderr(`a2a: --registry: ${(err as Error).message}\n`);
    return EXIT.USAGE;
  }
  const unlistable = specs.filter((s) => s.kind === "par");
  if (unlistable.length > 0) {
    io.stderr("a2a: --registry: par: sources cannot list deployments (PAR's API looks ids up one at a time): use file:PATH or cloudmap:NAMESPACE/SERVICE\n");
    return EXIT.USAGE;
  }
  // Only a cloudmap: entry needs the AWS SDK client (made here so it can be destroyed after).
  const ownClient = io.serviceDiscovery === undefined && specs.some((s) => s.kind === "cloudmap");
  const sd = ownClient ? createServiceDiscoveryClient(io.env) : io.serviceDiscovery;
  const registry = new RegistryChain(createSources(cmd.registry, logger, cloudMapSourceFactory({ client: sd })));
  let ids: string[];
  try {
    await registry.start();
    // Sources start even when their backend is down; one that never loaded has no snapshot age.
    const unread = registry.sources.filter((s) => {
      const age = s.snapshotAgeSeconds?.();
      return age === undefined || !Number.isFinite(age);
    });
    if (unread.length > 0) {
      io.stderr(`a2a: could not read ${unread.map((s) => s.description).join(", ")}${describeErrors(unread)}\n`);
      return EXIT.FAILED;
    }
    ids = registry.list().map((d) => d.id).sort();
  } finally {
    await registry.close();
    if (ownClient) sd?.destroy();
  }
  if (ids.length === 0) {
    out({ ok: false, endpoint: cmd.endpoint, registry: cmd.registry, results: [] }, "");
    io.stderr(`a2a: ${cmd.registry} lists no deployments: nothing was checked\n`);
    return EXIT.FAILED;
  }
  const limit = pLimit(cmd.concurrency);
  const results: HealthCheckResult[] = await Promise.all(ids.map((id) => limit(() => client.health(id))));
  const healthy = results.filter((r) => r.ok).length;
  out(
    { ok: healthy === results.length, endpoint: cmd.endpoint, registry: cmd.registry, healthy, unhealthy: results.length - healthy, results },
    formatCheckTable(results, cmd.endpoint),
  );
  return healthy === results.length ? EXIT.OK : EXIT.FAILED;
}

function describeErrors(sources: readonly object[]): string {
  const errors = sources.map((s) => (s as { lastError?: unknown }).lastError).filter((e): e is string => typeof e === "string");
  return errors.length ? `: ${errors.join("; ")}` : " (see the log lines above)";
}

if (require.main === module) {
  runCli(process.argv.slice(2), {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
  }).then((code) => { process.exitCode = code; }, (err: unknown) => {
    process.stderr.write(`a2a: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = EXIT.FAILED;
  });
}
