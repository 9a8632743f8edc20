/**
 * The backends of bench/registry-lookup.ts, in a process of their own so that their CPU is not counted
 * as the sources' (process.cpuUsage() is per process): a fake PAR REST API answering
 * `GET /deployments/{id}/health` the way registry/par.ts reads it, and the local Cloud Map endpoint of
 * fixtures/fake-cloudmap.ts with the same deployments spread over shards of 1,000 (Cloud Map's
 * per-service quota, not adjustable; the namespace quota raised to fit, as a real stack must).
 * Both on 127.0.0.1. Talks to its parent over the fork IPC channel: sends `ready` with the URLs,
 * answers `counts` with the requests each backend saw, and exits when the parent disconnects.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { startFakeCloudMap, type FakeInstance } from "../fixtures/fake-cloudmap";

export const NAMESPACE = "pixell-runtime.local";
/** Instances one Cloud Map service may hold (fixtures/fake-cloudmap.ts CLOUDMAP_QUOTAS). */
export const SHARD_SIZE = 1000;

export const deploymentId = (i: number): string => `dep-${String(i).padStart(5, "0")}`;
/** The A2A port PAR reports for deployment i (distinct per id, so a wrong answer is caught). */
export const portOf = (i: number): number => 20_000 + (i % 40_000);
export const shardName = (k: number): string => (k === 0 ? "agents" : `agents-${k}`);

export interface FakesReady {
  readonly type: "ready";
  readonly parUrl: string;
  readonly cloudMapUrl: string;
  readonly shards: readonly string[];
}

export interface FakesCounts {
  readonly type: "counts";
  /** GETs the PAR fake answered (hits and 404s). */
  readonly par: number;
  /** TCP connections the PAR fake accepted (fetch's keep-alive pool reuses them). */
  readonly parConnections: number;
  readonly discoverInstances: number;
  readonly discoverInstancesRevision: number;
  readonly listInstances: number;
}

/** The PAR REST API's health route for `deployments` ids; anything else is 404. */
async function startFakePar(deployments: number): Promise<{ url: string; requests: () => number; connections: () => number; close: () => Promise<void> }> {
  let requests = 0;
  let connections = 0;
  const route = /^\/deployments\/dep-([0-9]{5})\/health$/;
  const server = http.createServer((req, res) => {
    requests++;
    const m = req.method === "GET" ? route.exec(req.url ?? "") : null;
    const i = m ? Number(m[1]) : -1;
    if (i < 0 || i >= deployments) {
      res.writeHead(404, { "content-type": "application/json" }).end(`{"detail":"deployment not found"}`);
      return;
    }
    // The shape PAR answers today (registry/par.ts targetFromParHealth reads ports.a2a).
    const body = JSON.stringify({ status: "running", healthy: true, ports: { a2a: portOf(i), rest: 8080 } });
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) }).end(body);
  });
  server.keepAliveTimeout = 30_000;
  server.on("connection", () => { connections++; });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => requests,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

async function main(): Promise<void> {
  const deployments = Number(process.argv[2] ?? 10_000);
  if (!Number.isInteger(deployments) || deployments < 1 || deployments > 40_000) throw new Error(`deployments must be 1-40000, got ${process.argv[2]}`);
  const shards = Math.ceil(deployments / SHARD_SIZE);
  const layout: FakeInstance[][] = Array.from({ length: shards }, () => []);
  for (let i = 0; i < deployments; i++) layout[Math.floor(i / SHARD_SIZE)]!.push({ id: deploymentId(i), ipv4: "127.0.0.1", port: portOf(i) });
  const par = await startFakePar(deployments);
  const cm = await startFakeCloudMap({
    namespace: NAMESPACE,
    instancesPerNamespace: Math.max(2000, deployments),
    services: layout.map((instances, k) => ({ name: shardName(k), instances })),
  });
  process.on("message", (m: unknown) => {
    if ((m as { type?: string } | null)?.type !== "counts") return;
    const counts: FakesCounts = {
      type: "counts", par: par.requests(), parConnections: par.connections(),
      discoverInstances: cm.count("DiscoverInstances"), discoverInstancesRevision: cm.count("DiscoverInstancesRevision"), listInstances: cm.count("ListInstances"),
    };
    process.send?.(counts);
  });
  process.on("disconnect", () => { void Promise.all([par.close(), cm.close()]).then(() => process.exit(0)); });
  const ready: FakesReady = { type: "ready", parUrl: par.url, cloudMapUrl: cm.url, shards: layout.map((_, k) => shardName(k)) };
  process.send?.(ready);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`registry fakes failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  });
}
