/**
 * `npm run bench:registry [-- --json] [--par-cold N] [--concurrency C] [--warm N]` (issue 17, row c):
 * PAR's REST source and the Cloud Map source at 10,000 deployments, lookup CPU per call with a cold
 * cache and with a warm one. Also a part of `npm run bench` (runRegistryLookupPart, `--no-registry` skips it).
 *
 * The real sources, built as the router builds them (RegistryChain over createSources, registry/create.ts),
 * against fakes on 127.0.0.1 in a child process (bench/registry-fakes.ts) so that process.cpuUsage() of
 * this process is the sources' CPU alone:
 * - PAR: first misses = the process's first 2,000 misses (fetch not yet compiled), unmeasured ids otherwise;
 *   cold = N other distinct ids, each a miss answered by one GET /deployments/{id}/health, C in flight;
 *   warm = the same ids again, many times (cache hits inside the source's 5 s TTL).
 * - Cloud Map: load = the sources' start(), one DiscoverInstances per shard of 1,000 (a service holds at most
 *   1,000, registry/cloudmap-listing.ts); cold = each id looked up once after the load; warm = repeated.
 * The poll interval is set to an hour so no background poll lands in a measured phase.
 */
import { fork, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import { FAKE_AWS_CLIENT_CONFIG } from "../fixtures/fake-aws";
import { silentLogger } from "../lib/log";
import { RegistryChain } from "../registry/chain";
import { cloudMapSourceFactory } from "../registry/cloudmap";
import { createSources } from "../registry/create";
import type { Resolution } from "../registry/types";
import { deploymentId, NAMESPACE, portOf, type FakesCounts, type FakesReady } from "./registry-fakes";
import { renderRegistryLookups, type LookupPhase, type RegistryLookupFigures } from "./registry-lookup-report";

export interface RegistryLookupOptions {
  /** Deployments both backends hold (default 10,000). */
  readonly deployments?: number;
  /**
   * Distinct ids the PAR cold phase looks up (default 2,000: at 64 in flight on 2 shared cores 10,000 misses take
   * about 11 s, past the source's 5 s TTL, so the warm phase would measure stale refreshes instead of hits).
   */
  readonly parColdIds?: number;
  /** PAR lookups in flight at once in the cold phase (default 64, the probe's concurrency). */
  readonly concurrency?: number;
  /** Lookups in each warm phase (default 200,000). */
  readonly warmLookups?: number;
  readonly log?: (line: string) => void;
}

const START_TIMEOUT_MS = 30_000;
const HOUR_MS = 3_600_000;
export const DEFAULT_PAR_COLD_IDS = 2000;
/** ParSource's default ttlMs (registry/par.ts), which createSources uses. */
const PAR_TTL_MS = 5000;
/** Room left in the TTL for the warm phase itself (about 0.1 s here; 1 s for a slow machine). */
const WARM_MARGIN_MS = 1000;
/** Unmeasured misses before PAR's cold phase, on ids outside it. */
const PAR_WARMUP_MISSES = 2000;

/** The fakes' process and a way to read its request counters. */
interface Fakes {
  readonly ready: FakesReady;
  counts(): Promise<FakesCounts>;
  stop(): Promise<void>;
}

async function startFakes(deployments: number): Promise<Fakes> {
  const child: ChildProcess = fork(path.join(__dirname, "registry-fakes.ts"), [String(deployments)], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const ready = await new Promise<FakesReady>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bench/registry-fakes.ts did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    child.once("exit", (code, signal) => { clearTimeout(timer); reject(new Error(`bench/registry-fakes.ts exited before it was ready (code ${code}, signal ${signal})`)); });
    child.on("message", (m: unknown) => {
      if ((m as { type?: string }).type === "ready") { clearTimeout(timer); resolve(m as FakesReady); }
    });
  }).catch(async (err: unknown) => { child.kill("SIGKILL"); await exited; throw err; });
  return {
    ready,
    counts: () => new Promise<FakesCounts>((resolve) => {
      const on = (m: unknown): void => {
        if ((m as { type?: string }).type !== "counts") return;
        child.off("message", on);
        resolve(m as FakesCounts);
      };
      child.on("message", on);
      child.send({ type: "counts" });
    }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
        if (child.connected) child.disconnect();
        else child.kill("SIGTERM");
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

/** CPU (user + system) since `from`, µs. */
function cpuSince(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return d.user + d.system;
}

/** Throws unless `r` is deployment i's target (a wrong or missing answer makes the figures meaningless). */
function expectTarget(r: Resolution, i: number, what: string): void {
  if (r === undefined || r.host !== "127.0.0.1" || r.port !== portOf(i)) {
    throw new Error(`${what}: ${deploymentId(i)} resolved to ${JSON.stringify(r)}, expected 127.0.0.1:${portOf(i)}`);
  }
}

/**
 * `lookups` synchronous lookups cycling over ids 0..n-1 (the warm phase). A lookup that returns a
 * Promise is a miss the warm phase should not have: counted and reported, not awaited.
 */
function warmPhase(registry: RegistryChain, indices: readonly number[], lookups: number, deployments: number, what: string): { phase: LookupPhase; misses: number } {
  const ids = indices.map(deploymentId);
  const n = ids.length;
  let misses = 0;
  let found = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let k = 0; k < lookups; k++) {
    const r = registry.lookup(ids[k % n]!);
    if (r instanceof Promise) { misses++; r.catch(() => undefined); } else if (r !== undefined) found++;
  }
  const cpuUs = cpuSince(cpu0);
  const wallMs = performance.now() - t0;
  if (found + misses !== lookups) throw new Error(`${what}: ${lookups - found - misses} of ${lookups} warm lookups found nothing`);
  // Spot-check the answers after the timed loop (checking inside it would be measured too).
  for (const k of [0, n >> 1, n - 1]) { const r = registry.lookup(ids[k]!); if (!(r instanceof Promise)) expectTarget(r, indices[k]!, what); }
  return { phase: { deployments, lookups, distinctIds: n, cpuUs, requests: 0, wallMs }, misses };
}

export async function runRegistryLookupPart(opts: RegistryLookupOptions = {}): Promise<RegistryLookupFigures> {
  const deployments = opts.deployments ?? 10_000;
  const parColdIds = Math.min(opts.parColdIds ?? DEFAULT_PAR_COLD_IDS, deployments);
  const concurrency = opts.concurrency ?? 64;
  const warmLookups = opts.warmLookups ?? 200_000;
  const log = opts.log ?? ((): void => undefined);
  const fakes = await startFakes(deployments);
  const registries: RegistryChain[] = [];
  let client: ServiceDiscoveryClient | undefined;
  try {
    // PAR: the router's `--registry par:URL`.
    const par = new RegistryChain(createSources(`par:${fakes.ready.parUrl}`, silentLogger));
    registries.push(par);
    await par.start();
    // First misses, on ids outside the cold set: fetch's CPU per request settles after about 2,000 requests
    // here (JIT: from 1-1.5 ms to about 0.5 ms), so the cold row is a miss's steady cost (keep-alive connections
    // open, fetch compiled) and this row the first misses of a freshly started router.
    log(`registry: PAR first misses (warm-up), ${Math.min(PAR_WARMUP_MISSES, deployments - parColdIds)} ids`);
    const cw = await fakes.counts();
    const tw = performance.now();
    const cpuw = process.cpuUsage();
    const warmupIds = Array.from({ length: Math.min(PAR_WARMUP_MISSES, deployments - parColdIds) }, (_, k) => deployments - 1 - k);
    let nextWarmup = 0;
    await Promise.all(Array.from({ length: Math.min(concurrency, warmupIds.length) }, async () => {
      for (let k = nextWarmup++; k < warmupIds.length; k = nextWarmup++) expectTarget(await par.lookup(deploymentId(warmupIds[k]!)), warmupIds[k]!, "PAR warm-up");
    }));
    const firstMisses: LookupPhase = { deployments, lookups: warmupIds.length, distinctIds: warmupIds.length, cpuUs: cpuSince(cpuw), requests: 0, wallMs: performance.now() - tw };
    log(`registry: PAR cold, ${parColdIds} ids, ${concurrency} in flight`);
    let c0 = await fakes.counts();
    let t0 = performance.now();
    let cpu0 = process.cpuUsage();
    let next = 0;
    const resolvedAt = new Array<number>(parColdIds).fill(0);
    await Promise.all(Array.from({ length: Math.min(concurrency, parColdIds) }, async () => {
      for (let i = next++; i < parColdIds; i = next++) {
        expectTarget(await par.lookup(deploymentId(i)), i, "PAR cold");
        resolvedAt[i] = performance.now();
      }
    }));
    let cpuUs = cpuSince(cpu0);
    let wallMs = performance.now() - t0;
    let c1 = await fakes.counts();
    const parColdConnections = c1.parConnections - c0.parConnections;
    const parFirstMisses: LookupPhase = { ...firstMisses, requests: c0.par - cw.par };
    const parCold: LookupPhase = { deployments, lookups: parColdIds, distinctIds: parColdIds, cpuUs, requests: c1.par - c0.par, wallMs };

    // Hits only: the ids cached recently enough to stay inside the TTL for the whole warm phase (on a
    // slow machine the first of a long cold phase have gone stale, and a stale hit starts a refresh).
    const cutoff = performance.now() - (PAR_TTL_MS - WARM_MARGIN_MS);
    const fresh = resolvedAt.flatMap((at, i) => (at >= cutoff ? [i] : []));
    if (fresh.length === 0) throw new Error(`PAR warm: every id of the cold phase is older than ${PAR_TTL_MS - WARM_MARGIN_MS} ms; use a smaller --par-cold`);
    log(`registry: PAR warm, ${warmLookups} lookups over ${fresh.length} ids`);
    const parWarm = warmPhase(par, fresh, warmLookups, deployments, "PAR warm");
    // Misses here are stale entries (past the 5 s TTL) being refreshed: they show as requests.
    await new Promise((r) => setTimeout(r, 50));
    const c2 = await fakes.counts();
    const parWarmPhase: LookupPhase = { ...parWarm.phase, requests: c2.par - c1.par };

    // Cloud Map: the router's `--registry cloudmap:NS/agents,cloudmap:NS/agents-1,...`, one source per shard.
    client = new ServiceDiscoveryClient({ ...FAKE_AWS_CLIENT_CONFIG, endpoint: fakes.ready.cloudMapUrl, maxAttempts: 3, disableHostPrefix: true });
    const spec = fakes.ready.shards.map((s) => `cloudmap:${NAMESPACE}/${s}`).join(",");
    const cm = new RegistryChain(createSources(spec, silentLogger, cloudMapSourceFactory({ client, pollIntervalMs: HOUR_MS })));
    registries.push(cm);
    log(`registry: Cloud Map load, ${fakes.ready.shards.length} shards`);
    c0 = await fakes.counts();
    t0 = performance.now();
    cpu0 = process.cpuUsage();
    await cm.start();
    cpuUs = cpuSince(cpu0);
    wallMs = performance.now() - t0;
    c1 = await fakes.counts();
    const loaded = cm.list().length;
    if (loaded !== deployments) throw new Error(`Cloud Map load: the sources hold ${loaded} deployments, expected ${deployments}`);
    const cmRequests = (a: FakesCounts, b: FakesCounts): number =>
      (b.discoverInstances - a.discoverInstances) + (b.discoverInstancesRevision - a.discoverInstancesRevision) + (b.listInstances - a.listInstances);
    const cmLoad: LookupPhase = { deployments, lookups: 0, distinctIds: 0, cpuUs, requests: cmRequests(c0, c1), wallMs };

    log(`registry: Cloud Map cold, ${deployments} lookups`);
    const results: Resolution[] = new Array<Resolution>(deployments);
    const ids = Array.from({ length: deployments }, (_, i) => deploymentId(i));
    t0 = performance.now();
    cpu0 = process.cpuUsage();
    for (let i = 0; i < deployments; i++) results[i] = cm.lookup(ids[i]!) as Resolution;
    cpuUs = cpuSince(cpu0);
    wallMs = performance.now() - t0;
    for (let i = 0; i < deployments; i++) expectTarget(results[i], i, "Cloud Map cold");
    const cmCold: LookupPhase = { deployments, lookups: deployments, distinctIds: deployments, cpuUs, requests: 0, wallMs };

    log(`registry: Cloud Map warm, ${warmLookups} lookups`);
    const cmWarm = warmPhase(cm, ids.map((_, i) => i), warmLookups, deployments, "Cloud Map warm");
    if (cmWarm.misses > 0) throw new Error(`Cloud Map warm: ${cmWarm.misses} lookups returned a Promise; the Cloud Map source answers from memory only`);
    const c3 = await fakes.counts();
    return {
      par: { firstMisses: parFirstMisses, cold: parCold, warm: parWarmPhase, concurrency, coldConnections: parColdConnections },
      cloudMap: {
        shards: fakes.ready.shards.length,
        load: cmLoad,
        cold: { ...cmCold, requests: 0 },
        warm: { ...cmWarm.phase, requests: cmRequests(c1, c3) },
      },
    };
  } finally {
    await Promise.all(registries.map((r) => r.close()));
    client?.destroy();
    await fakes.stop();
  }
}

function positive(flag: string, raw: string | undefined, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`--${flag} must be a whole number from 1 to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { json: { type: "boolean" }, "par-cold": { type: "string" }, concurrency: { type: "string" }, warm: { type: "string" } },
    strict: true,
  });
  const figures = await runRegistryLookupPart({
    parColdIds: positive("par-cold", values["par-cold"], 10_000),
    concurrency: positive("concurrency", values.concurrency, 1024),
    warmLookups: positive("warm", values.warm, 10_000_000),
    log: (line) => process.stderr.write(`bench: ${line}\n`),
  });
  process.stdout.write(values.json ? `${JSON.stringify(figures, null, 2)}\n` : renderRegistryLookups(figures));
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench:registry failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
