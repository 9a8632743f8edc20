/**
 * `npm run bench:xds`: how long the xDS server takes to build, validate and encode its
 * snapshot (the work done on the router's event loop on each registry change), and how long
 * a registry change takes to reach a real gRPC xDS client, and (in memory, with the Envoy client
 * model of fixtures/envoy-ads-model.ts, no sockets) how long a registry change takes until the
 * new route is live on an Envoy-like client that warms clusters, and how many bytes that push sends.
 */
import * as grpc from "@grpc/grpc-js";
import * as grpcXds from "@grpc/grpc-js-xds";
import pino from "pino";
import { startDemoAgent } from "../fixtures/demo-agent";
import { agentServiceDefinition, type Pong } from "../proto";
import { startXdsServer } from "../router/xds";
import { envoyRoot } from "../envoy/proto";
import type { DeploymentRecord, RegistrySource } from "../registry/types";
import { AdsLoopback } from "../fixtures/ads-loopback";
import { SnapshotCache } from "../router/xds/snapshot";
import { DEFAULT_API_LISTENER, DEFAULT_ENVOY_INPUT } from "../envoy/config";

class Registry implements RegistrySource {
  readonly description = "bench";
  private readonly listeners = new Set<() => void>();
  constructor(private records: DeploymentRecord[]) {}
  async start(): Promise<void> {}
  lookup(): undefined { return undefined; }
  list(): DeploymentRecord[] { return this.records; }
  onChange(l: () => void): () => void { this.listeners.add(l); return () => this.listeners.delete(l); }
  async close(): Promise<void> {}
  set(records: DeploymentRecord[]): void { this.records = records; for (const l of this.listeners) l(); }
}

const records = (n: number, prefix = "dep"): DeploymentRecord[] =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, host: "127.0.0.1", port: 50054 + (i % 100) }));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function buildTimes(n: number): Promise<{ initial: number; change: number }> {
  const builds: number[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => { const l = JSON.parse(line) as { buildMs?: number }; if (l.buildMs !== undefined) builds.push(l.buildMs); } });
  const registry = new Registry(records(n));
  const server = await startXdsServer({ listen: "127.0.0.1:0", registry, routerTarget: { host: "127.0.0.1", port: 50052 }, logger, debounceMs: 5 });
  for (let k = 0; k < 10; k++) {
    registry.set([...records(n), { id: `extra-${k}`, host: "127.0.0.1", port: 50100 }]);
    await new Promise((r) => setTimeout(r, 40));
  }
  await server.close();
  return { initial: builds[0]!, change: median(builds.slice(1)) };
}

async function changeToClient(): Promise<number> {
  const agent = await startDemoAgent({ deploymentId: "late" });
  const registry = new Registry([]);
  const server = await startXdsServer({ listen: "127.0.0.1:0", registry, routerTarget: { host: agent.host, port: agent.port } });
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({ xds_servers: [{ server_uri: `127.0.0.1:${server.port}`, channel_creds: [{ type: "insecure" }], server_features: ["xds_v3"] }], node: { id: "bench", cluster: "bench", locality: {} } });
  grpcXds.register();
  const Ctor = grpc.makeGenericClientConstructor(agentServiceDefinition(), "AgentService");
  const client = new Ctor("xds:///pixell-a2a", grpc.credentials.createInsecure()) as unknown as {
    Ping(r: object, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Pong) => void): void; close(): void;
  };
  const ping = (): Promise<Pong | undefined> => new Promise((resolve) => {
    const md = new grpc.Metadata();
    md.set("x-deployment-id", "late");
    client.Ping({}, md, { deadline: Date.now() + 2000 }, (_e, r) => resolve(r));
  });
  await ping(); // resolve the channel first (catch-all answers)
  // The catch-all is the same agent: wait until the route for "late" names its own cluster instead.
  const before = server.versions().route;
  const started = performance.now();
  registry.set([{ id: "late", host: agent.host, port: agent.port }]);
  const acked = (): boolean => server.versions().route !== before && server.streams().some((s) =>
    s.types.route?.acceptedVersion === server.versions().route && s.types.cluster?.acceptedVersion === server.versions().cluster);
  while (!acked()) {
    await new Promise((r) => setTimeout(r, 2));
  }
  const ms = performance.now() - started;
  client.close();
  await server.close();
  await agent.stop(true);
  return ms;
}

/** Snapshot build (+ consistency check) and encode cost at n deployments: first build, and a one-deployment change. */
function cacheCost(n: number): { first: { build: number; encode: number; bytes: number }; change: { build: number; encode: number } } {
  const cache = new SnapshotCache({ apiListeners: [DEFAULT_API_LISTENER], envoy: DEFAULT_ENVOY_INPUT, versionPrefix: "b" });
  const first = cache.build(records(n));
  if (!first.ok) throw new Error(first.problems.join("; "));
  const changes: { build: number; encode: number }[] = [];
  for (let k = 0; k < 5; k++) {
    const r = cache.build([...records(n), { id: `extra-${k}`, host: "127.0.0.1", port: 50100 }]);
    if (!r.ok) throw new Error(r.problems.join("; "));
    changes.push({ build: r.stats.buildMs, encode: r.stats.encodeMs });
  }
  return {
    first: { build: first.stats.buildMs, encode: first.stats.encodeMs, bytes: first.stats.bytes },
    change: { build: median(changes.map((c) => c.build)), encode: median(changes.map((c) => c.encode)) },
  };
}

/** Registry change -> route live (its cluster active) on the Envoy-like model, in memory; and bytes sent for the push. */
function routeLive(n: number): { ms: number; bytes: number; messages: number } {
  const base = records(n);
  const loop = new AdsLoopback(base);
  loop.settle();
  const samples: { ms: number; bytes: number; messages: number }[] = [];
  for (let k = 0; k < 5; k++) {
    const id = `new-${k}`;
    const bytesBefore = loop.bytesSent;
    let messages = 0;
    const started = performance.now();
    loop.change([...base, { id, host: "127.0.0.1", port: 50100 }]);
    while (loop.model.routeTable()[id] === undefined) {
      const a = loop.deliverToServer();
      const b = loop.deliverToClient();
      if (b) messages++;
      if (!a && !b) throw new Error(`route for ${id} never went live`);
    }
    const ms = performance.now() - started;
    if (loop.model.violations.length > 0) throw new Error(loop.model.violations.join("; "));
    loop.settle();
    samples.push({ ms, bytes: loop.bytesSent - bytesBefore, messages });
    loop.change(base);
    loop.settle();
  }
  return { ms: median(samples.map((s) => s.ms)), bytes: median(samples.map((s) => s.bytes)), messages: median(samples.map((s) => s.messages)) };
}

async function main(): Promise<void> {
  const t0 = performance.now();
  envoyRoot();
  process.stdout.write(`loading Envoy's protos: ${Math.round(performance.now() - t0)} ms\n`);
  const c = cacheCost(10_000);
  process.stdout.write(`10000 deployments: first snapshot build+check ${c.first.build.toFixed(0)} ms, encode ${c.first.encode.toFixed(0)} ms, ${(c.first.bytes / 1024).toFixed(0)} KiB; one change: build+check ${c.change.build.toFixed(0)} ms, encode ${c.change.encode.toFixed(1)} ms (median of 5)\n`);
  for (const n of [1, 100, 10_000]) {
    const r = routeLive(n);
    process.stdout.write(`${n} deployments: registry change -> route live on the Envoy-like model ${r.ms.toFixed(1)} ms (in memory, no debounce), ${r.messages} responses, ${(r.bytes / 1024).toFixed(1)} KiB per push (median of 5)\n`);
  }
  for (const n of [100, 1000]) {
    const { initial, change } = await buildTimes(n);
    process.stdout.write(`${n} deployments: first snapshot ${initial} ms, one change ${change} ms (median of 10)\n`);
  }
  process.stdout.write(`registry change -> gRPC xDS client ACKed the new routes and clusters: ${Math.round(await changeToClient())} ms (debounce 100 ms)\n`);
}

main().catch((err: unknown) => { process.stderr.write(`bench failed: ${String(err)}\n`); process.exitCode = 1; });
