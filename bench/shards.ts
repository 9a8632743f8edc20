/**
 * `npm run bench:shards [-- --deployments N --shards S --watch-s SECONDS --out PATH]`: the registry past
 * 1,000 deployments (docs/decisions/registry-shards.md), simulated with the local Cloud Map endpoint
 * (fixtures/fake-cloudmap.ts, the real SDK client over AWS JSON 1.1). Defaults: 5,000 deployments
 * over 5 shards of 1,000 (the namespace quota raised to 5,000, as a real stack must).
 *
 * Measures, on this machine:
 * 1. the registry's start: the time the router's 5 Cloud Map sources take to load every shard;
 * 2. lookup: ns per lookup through the router's registry chain (the 5 shard sources, built as the router
 *    builds them), every id and a miss, against one source holding 1,000 (ratio: what sharding costs the hot path);
 * 3. poll cost: requests the router's sources send in `--watch-s` seconds on their own timers at the
 *    default 5 s interval, quiet and with one shard changing every second, as requests per minute per
 *    router; then how many routers the account's quotas carry (DiscoverInstances 1,000/s steady,
 *    DiscoverInstancesRevision 3,000/s; https://docs.aws.amazon.com/cloud-map/latest/dg/cloud-map-limits.html);
 * 4. one probe run over every deployment through a router process (router/main.ts reading the 5 shards from
 *    the same endpoint; discovery from the 5 shards, Health per
 *    deployment at the Lambda's defaults: concurrency 64, 3000 ms timeout), metrics to a local
 *    CloudWatch endpoint: wall time, discovery time, PutMetricData requests.
 * 5. memory per open stream: a router process (file registry) holding 1,000 and 2,000 calls open to a
 *    hung agent: RSS growth per 1,000 open streams (docs/capacity.md).
 * Nothing leaves 127.0.0.1. Numbers are this shared machine's; the ratios travel, the absolute times less so.
 */
import { writeFileSync, mkdirSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { startDemoAgent, type DemoAgent } from "../fixtures/demo-agent";
import { discoverFromCloudMap } from "../probe-lambda/discover";
import { putBatches } from "../probe-lambda/metrics";
import { createProbeClient } from "../probe-lambda/probe";
import { runProbe } from "../probe-lambda/run";
import { silentLogger } from "../lib/log";
import { RegistryChain } from "../registry/chain";
import { CloudMapSource, cloudMapSourceFactory, DEFAULT_CLOUDMAP_POLL_INTERVAL_MS } from "../registry/cloudmap";
import type { RegistrySource } from "../registry/types";
import { createSources } from "../registry/create";
import { FAKE_AWS_CLIENT_CONFIG } from "../fixtures/fake-aws";
import { metricValue, rssBytes, startChildRouter, type ChildRouter } from "../fixtures/child-router";
import * as grpc from "@grpc/grpc-js";
import { checkHealth } from "../lib/health";
import { startFakeCloudMap, type FakeCloudMap, type FakeInstance } from "../fixtures/fake-cloudmap";
import { startFakeCloudWatch } from "../fixtures/fake-cloudwatch";

const NS = "pixell-runtime.local";
/** Cloud Map's per-account, per-Region request quotas (cloud-map-limits.html). */
const QUOTA = { discoverInstancesPerSecond: 1000, discoverInstancesBurst: 2000, revisionPerSecond: 3000 } as const;

interface Options { deployments: number; shards: number; watchSeconds: number; out: string }

function options(argv: string[]): Options {
  const { values } = parseArgs({ args: argv, options: { deployments: { type: "string" }, shards: { type: "string" }, "watch-s": { type: "string" }, out: { type: "string" } }, strict: true });
  const int = (v: string | undefined, def: number, min: number, max: number, name: string): number => {
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
    return n;
  };
  const shards = int(values.shards, 5, 1, 20, "shards");
  const deployments = int(values.deployments, 5000, 1, shards * 1000, "deployments");
  return { deployments, shards, watchSeconds: int(values["watch-s"], 30, 5, 600, "watch-s"), out: values.out ?? "bench/results/shards.md" };
}

const shardName = (k: number): string => (k === 0 ? "agents" : `agents-${k}`);

/** `n` deployments spread evenly over the shards, round-robin over the agents' ports. */
function layout(n: number, shards: number, ports: readonly number[]): FakeInstance[][] {
  const out: FakeInstance[][] = Array.from({ length: shards }, () => []);
  for (let i = 0; i < n; i++) out[i % shards]!.push({ id: `dep-${String(i).padStart(5, "0")}`, ipv4: "127.0.0.1", port: ports[i % ports.length]! });
  return out;
}

function nsPerLookup(registry: RegistrySource, ids: readonly string[], rounds: number): number {
  let found = 0;
  const started = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) for (const id of ids) if (registry.lookup(id) !== undefined) found++;
  const ns = Number(process.hrtime.bigint() - started) / (rounds * ids.length);
  if (found === 0 && ids.some((id) => !id.startsWith("missing"))) throw new Error("lookup found nothing: the registry is not loaded");
  return ns;
}

/** Requests per operation sent while `during` runs. */
async function countDuring(cm: FakeCloudMap, during: () => Promise<void>): Promise<{ revisions: number; lists: number; seconds: number }> {
  const r0 = cm.count("DiscoverInstancesRevision");
  const l0 = cm.count("DiscoverInstances");
  const t0 = performance.now();
  await during();
  return { revisions: cm.count("DiscoverInstancesRevision") - r0, lists: cm.count("DiscoverInstances") - l0, seconds: (performance.now() - t0) / 1000 };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number, digits = 0): string => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function main(): Promise<void> {
  const opts = options(process.argv.slice(2));
  const agents: DemoAgent[] = await Promise.all(Array.from({ length: 4 }, (_, i) => startDemoAgent({ deploymentId: `bench-agent-${i}` })));
  const shards = layout(opts.deployments, opts.shards, agents.map((a) => a.port));
  const cm = await startFakeCloudMap({ instancesPerNamespace: Math.max(2000, opts.deployments), services: shards.map((instances, k) => ({ name: shardName(k), instances })) });
  const cw = await startFakeCloudWatch();
  const single = await startFakeCloudMap({ services: [{ name: "agents", instances: shards[0]!.slice(0, 1000) }] });
  let registry: RegistryChain | undefined;
  let router: ChildRouter | undefined;
  const lines: string[] = [];
  const say = (line = ""): void => { lines.push(line); process.stdout.write(line + "\n"); };
  try {
    // 1. Start: every shard loaded before the router takes calls.
    const spec = shards.map((_, k) => `cloudmap:${NS}/${shardName(k)}`).join(",");
    const startedAt = performance.now();
    registry = new RegistryChain(createSources(spec, silentLogger, cloudMapSourceFactory({ client: cm.client(3) })));
    await registry.start();
    const startMs = performance.now() - startedAt;
    const loaded = registry.list().length;
    if (loaded !== opts.deployments) throw new Error(`the router loaded ${loaded} deployments, expected ${opts.deployments}`);

    // 2. Lookup through the chain of shard sources, against one source of 1,000.
    const ids = shards.flat().map((d) => d.id);
    const one = new CloudMapSource({ namespace: NS, service: "agents", client: single.client(), pollIntervalMs: 3_600_000 });
    await one.start();
    const oneIds = shards[0]!.slice(0, 1000).map((d) => d.id);
    const misses = Array.from({ length: 1000 }, (_, i) => `missing-${i}`);
    nsPerLookup(registry, ids, 20); // warm-up
    nsPerLookup(one, oneIds, 20);
    const rounds = 200;
    const lookupSharded = nsPerLookup(registry, ids, rounds);
    const lookupOne = nsPerLookup(one, oneIds, Math.round((rounds * ids.length) / oneIds.length));
    const missSharded = nsPerLookup(registry, misses, rounds);
    await one.close();

    // 3. Poll cost on the sources' own timers (default interval), quiet and with churn.
    const sources = registry.sources.filter((s): s is CloudMapSource => s instanceof CloudMapSource);
    const quiet = await countDuring(cm, () => sleep(opts.watchSeconds * 1000));
    let churned = 0;
    const churn = await countDuring(cm, async () => {
      const until = performance.now() + opts.watchSeconds * 1000;
      for (let tick = 0; performance.now() < until; tick++) {
        const k = tick % shards.length;
        const base = shards[k]!;
        // One deployment leaves or comes back on one shard per second: a busy registry.
        cm.setInstances(tick % 2 === 0 ? base.slice(1) : base, shardName(k));
        churned++;
        await sleep(1000);
      }
    });
    shards.forEach((instances, k) => cm.setInstances(instances, shardName(k)));
    const perMinute = (n: number, s: number): number => (n / s) * 60;
    const quietRev = perMinute(quiet.revisions, quiet.seconds);
    const quietList = perMinute(quiet.lists, quiet.seconds);
    const churnRev = perMinute(churn.revisions, churn.seconds);
    const churnList = perMinute(churn.lists, churn.seconds);
    const staleness = Math.max(...sources.map((s) => s.snapshotAgeSeconds()));

    // 4. One probe run over every deployment, through the router, metrics to the local CloudWatch endpoint.
    await registry.close();
    router = await startChildRouter({
      registry: spec,
      env: {
        AWS_ENDPOINT_URL_SERVICEDISCOVERY: cm.url, AWS_REGION: FAKE_AWS_CLIENT_CONFIG.region,
        AWS_ACCESS_KEY_ID: FAKE_AWS_CLIENT_CONFIG.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: FAKE_AWS_CLIENT_CONFIG.credentials.secretAccessKey,
      },
    });
    const deploymentsBody = await router.admin("/deployments");
    const routed = (JSON.parse(deploymentsBody.body) as { deployments: unknown[] }).deployments.length;
    if (routed !== opts.deployments) throw new Error(`the router process knows ${routed} deployments, expected ${opts.deployments}`);
    const sd = cm.client(3);
    const cwClient = cw.client(1);
    const probeClient = createProbeClient(`127.0.0.1:${router.port}`);
    let discoveryMs = 0;
    const putBefore = cw.count("PutMetricData");
    const probeStarted = performance.now();
    const summary = await runProbe({
      discover: async () => {
        const t = performance.now();
        const d = await discoverFromCloudMap(sd, shards.map((_, k) => ({ namespace: NS, service: shardName(k), serviceId: cm.services[k]!.id })));
        discoveryMs = performance.now() - t;
        return d;
      },
      client: probeClient,
      timeoutMs: 3000,
      concurrency: 64,
      sink: async (batches) => {
        const put = await putBatches(cwClient, batches);
        if (put.failed.length > 0) throw new Error(`${put.failed.length} PutMetricData batches failed`);
      },
    });
    const probeMs = performance.now() - probeStarted;
    probeClient.close();
    sd.destroy();
    cwClient.destroy();
    if (summary.probed !== opts.deployments || summary.healthy !== opts.deployments) throw new Error(`probe: ${summary.healthy}/${summary.probed} healthy, expected ${opts.deployments}`);
    const registered = cw.accepted.flatMap((b) => b.MetricData).filter((d) => d.MetricName === "RegisteredInstances");

    // 5. RSS per 1,000 open streams: a router holding calls to an agent that never answers.
    const hung = await startDemoAgent({ deploymentId: "hung", hang: true });
    const regFile = path.join(os.tmpdir(), `bench-shards-${process.pid}.json`);
    writeFileSync(regFile, JSON.stringify({ deployments: [{ id: "hung", port: hung.port }] }));
    const streamRouter = await startChildRouter({ registry: `file:${regFile}` });
    const rss: number[] = [];
    const clients: grpc.Client[] = [];
    try {
      const active = async (): Promise<number> => metricValue((await streamRouter.admin("/metrics")).body, "pixell_router_active_streams");
      await checkHealth(new grpc.Client(`127.0.0.1:${streamRouter.port}`, grpc.credentials.createInsecure()), "missing", 2000);
      await sleep(500);
      rss.push(rssBytes(streamRouter.pid));
      for (const target of [1000, 2000]) {
        // 100 streams per client connection, as many callers would spread them.
        while (clients.length * 100 < target) clients.push(new grpc.Client(`127.0.0.1:${streamRouter.port}`, grpc.credentials.createInsecure()));
        for (let i = target - 1000; i < target; i++) void checkHealth(clients[Math.floor(i / 100)]!, "hung", 120_000);
        const until = Date.now() + 30_000;
        while ((await active()) < target && Date.now() < until) await sleep(100);
        if ((await active()) < target) throw new Error(`the router holds ${await active()} streams, expected ${target}`);
        await sleep(500);
        rss.push(rssBytes(streamRouter.pid));
      }
    } finally {
      for (const c of clients) c.close();
      await streamRouter.kill();
      await hung.stop(true);
    }
    const mib = (b: number): number => b / (1 << 20);

    // Quotas: requests per second the account allows, over what one router (and the probe) sends.
    const probeDiscoverPerMinute = opts.shards; // one probe run a minute, one DiscoverInstances per shard
    const routersByRevision = (QUOTA.revisionPerSecond * 60) / Math.max(quietRev, churnRev);
    const routersByDiscover = (QUOTA.discoverInstancesPerSecond * 60 - probeDiscoverPerMinute) / Math.max(churnList, 1e-9);

    say(`# Registry shards: ${fmt(opts.deployments)} deployments over ${opts.shards} Cloud Map services`);
    say();
    say(`Local Cloud Map endpoint (real SDK client, AWS JSON 1.1), ${agents.length} demo agents in this process, the probe's router as its own process (router/main.ts under tsx), Node ${process.version}, ${os.cpus().length} cores, load average ${os.loadavg()[0]!.toFixed(1)} at the end, ${new Date().toISOString()}.`);
    say();
    say("| what | measured |");
    say("| --- | --- |");
    say(`| registry start, ${opts.shards} shards loaded (${opts.shards} DiscoverInstances) | ${fmt(startMs)} ms |`);
    say(`| lookup, ${fmt(opts.deployments)} ids over ${opts.shards} shard sources | ${fmt(lookupSharded, 1)} ns |`);
    say(`| lookup, 1,000 ids in one source | ${fmt(lookupOne, 1)} ns (sharded / one: ${fmt(lookupSharded / lookupOne, 2)}) |`);
    say(`| lookup of an unknown id (asks all ${opts.shards} shards) | ${fmt(missSharded, 1)} ns |`);
    say(`| poll, quiet (${fmt(quiet.seconds)} s at ${DEFAULT_CLOUDMAP_POLL_INTERVAL_MS} ms) | ${fmt(quietRev, 1)} DiscoverInstancesRevision/min, ${fmt(quietList, 1)} DiscoverInstances/min per router |`);
    say(`| poll, one shard changing every second (${churned} changes in ${fmt(churn.seconds)} s) | ${fmt(churnRev, 1)} DiscoverInstancesRevision/min, ${fmt(churnList, 1)} DiscoverInstances/min per router |`);
    say(`| oldest shard snapshot after the churn | ${fmt(staleness, 1)} s |`);
    say(`| probe run, ${fmt(opts.deployments)} deployments (concurrency 64, 3000 ms timeout) | ${fmt(probeMs)} ms, of which discovery ${fmt(discoveryMs)} ms |`);
    say(`| probe metrics | ${cw.count("PutMetricData") - putBefore} PutMetricData requests, RegisteredInstances ${registered.map((d) => `${d.Dimensions?.[0]?.Value}=${d.Value}`).join(" ")} |`);
    say(`| router RSS: idle / 1,000 / 2,000 open streams (hung agent, 100 streams per client connection) | ${fmt(mib(rss[0]!), 1)} / ${fmt(mib(rss[1]!), 1)} / ${fmt(mib(rss[2]!), 1)} MiB: ${fmt(mib(rss[1]! - rss[0]!), 1)} and ${fmt(mib(rss[2]! - rss[1]!), 1)} MiB per 1,000 |`);
    say();
    say("Against the account's quotas (per account and Region, shared by every client):");
    say();
    say(`- DiscoverInstancesRevision, ${fmt(QUOTA.revisionPerSecond)}/s = ${fmt(QUOTA.revisionPerSecond * 60)}/min: one router sends ${fmt(Math.max(quietRev, churnRev), 1)}/min, so about ${fmt(routersByRevision)} routers (tasks) fit.`);
    say(`- DiscoverInstances, ${fmt(QUOTA.discoverInstancesPerSecond)}/s steady (${fmt(QUOTA.discoverInstancesBurst)} burst) = ${fmt(QUOTA.discoverInstancesPerSecond * 60)}/min: the probe sends ${probeDiscoverPerMinute}/min; under churn a router sends ${fmt(churnList, 1)}/min, so about ${fmt(routersByDiscover)} routers fit. A quiet registry sends ${fmt(quietList, 1)}/min.`);
    say(`- Worst case per router (every shard moving every poll): ${opts.shards} x 60000/${DEFAULT_CLOUDMAP_POLL_INTERVAL_MS} = ${fmt((opts.shards * 60000) / DEFAULT_CLOUDMAP_POLL_INTERVAL_MS)} DiscoverInstances/min, ${fmt((QUOTA.discoverInstancesPerSecond * 60) / ((opts.shards * 60000) / DEFAULT_CLOUDMAP_POLL_INTERVAL_MS))} routers.`);
    mkdirSync(path.dirname(opts.out), { recursive: true });
    writeFileSync(opts.out, lines.join("\n") + "\n");
    process.stdout.write(`\nwritten to ${opts.out}\n`);
  } finally {
    await registry?.close();
    await router?.kill();
    await Promise.all([...agents.map((a) => a.stop(true)), cm.close(), cw.close(), single.close()]);
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`bench:shards failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
