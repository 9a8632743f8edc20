/**
 * `npm run bench:open-streams [-- --connections N --streams-per-connection M --idle-seconds S --unary-seconds S --cold]`
 * (issue 17, part of `npm run bench`): 10,000 server-streaming calls held open and idle through the router
 * bundle (1,000 client connections × 10 streams, one stream per connection to each of 10 agents), its RSS,
 * CPU and fds while they are held, and unary latency through the same router with them and without them
 * (goal: p50 and p99 with ≤ 1.2× without).
 *
 * Clients are node:http2 sessions, not grpc-js channels: 1,000 grpc-js channels (each with its own
 * subchannel, resolver and call objects) would cost the bench process far more memory and CPU than the
 * router it measures, on the same 2 cores; a node:http2 session is one socket and one nghttp2 session.
 * Unary load is h2load (closed loop, -c 8 -m 1) to an 11th agent, so the agents holding the streams
 * are not the ones answering the unary calls, and both runs see the same agent.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { runH2load, type H2loadResult } from "./load";
import { Children, clockTicksPerSecond, cpuTicks, ensureTools } from "./processes";
import { MAX_CLIENT_STREAMS } from "../router/h2/limits";
import { percentile } from "./stats";
import { renderOpenStreams, type OpenStreamsFigures, type UnaryRun } from "./streams-report";
import { adminMetric, bundleRouter, fdCount, fdLimit, HOLD_PATH, pingFrame, rssMiB, sleep, startEchoAgents, startRouter, unaryCall, UNARY_PATH } from "./streams-setup";

const UNARY_ID = "streams-unary";
/** Connections being opened at once (the router's listen backlog is Node's default, 511). */
const CONNECT_BATCH = 100;
const OPEN_TIMEOUT_MS = 30_000;
const WARMUP_REQUESTS = 3000;

export interface OpenStreamsOptions {
  readonly connections: number;
  readonly streamsPerConnection: number;
  readonly agents: number;
  /** Seconds the streams are held idle while RSS and CPU are sampled. */
  readonly idleSeconds: number;
  /** Seconds of each unary run (with and without the streams). */
  readonly unarySeconds: number;
  readonly unaryConnections: number;
  /** The router's connections to the hold agents are not opened first: the first streams to each find it cold (router/h2/limits.ts STREAMS_BEFORE_PEER_SETTINGS). */
  readonly cold?: boolean;
  readonly h2load: string;
  readonly children: Children;
  /** Temp dir for the registry and h2load's files. */
  readonly dir: string;
  /** The router bundle (bench/streams-setup.ts bundleRouter). */
  readonly bundle: string;
  readonly log: (line: string) => void;
}

export const DEFAULT_OPEN_STREAMS = { connections: 1000, streamsPerConnection: 10, agents: 10, idleSeconds: 10, unarySeconds: 10, unaryConnections: 8 } as const;

interface Held {
  readonly sessions: http2.ClientHttp2Session[];
  opened: number;
  failed: number;
  /** Streams that had their first message and closed later (the hold must keep them all). */
  closedAfterOpen: number;
  readonly failures: Map<string, number>;
}

/** Opens `connections` sessions in batches and `perConnection` Hold streams on each; resolves when every stream has its first message or failed. */
async function openStreams(port: number, ids: readonly string[], connections: number, perConnection: number): Promise<Held> {
  const held: Held = { sessions: [], opened: 0, failed: 0, closedAfterOpen: 0, failures: new Map() };
  const fail = (kind: string): void => { held.failed++; held.failures.set(kind, (held.failures.get(kind) ?? 0) + 1); };
  const body = pingFrame();
  const until = Date.now() + OPEN_TIMEOUT_MS;
  for (let first = 0; first < connections && Date.now() < until; first += CONNECT_BATCH) {
    const batch: Promise<void>[] = [];
    for (let c = first; c < Math.min(connections, first + CONNECT_BATCH); c++) {
      batch.push(new Promise<void>((resolve) => {
        const session = http2.connect(`http://127.0.0.1:${port}`);
        held.sessions.push(session);
        let pending = perConnection;
        const settled = (): void => { if (--pending === 0) resolve(); };
        session.on("error", () => undefined); // each stream reports its own failure
        for (let s = 0; s < perConnection; s++) {
          let first = true;
          let done = false;
          const req = session.request({ ":method": "POST", ":path": HOLD_PATH, "content-type": "application/grpc", te: "trailers", "x-deployment-id": ids[s % ids.length]! });
          req.on("data", () => {
            if (!first) return;
            first = false;
            held.opened++;
            done = true;
            settled();
          });
          req.on("error", (err: NodeJS.ErrnoException) => { if (!done) { done = true; fail(err.code ?? err.message); settled(); } });
          req.on("close", () => {
            if (!first) { held.closedAfterOpen++; return; }
            if (!done) { done = true; fail(`closed before the first message (rst code ${req.rstCode})`); settled(); }
          });
          req.end(body);
        }
      }));
    }
    // A batch that does not finish in time is counted below, not waited for.
    await Promise.race([Promise.all(batch), sleep(Math.max(0, until - Date.now()))]);
  }
  const missing = connections * perConnection - held.opened - held.failed;
  if (missing > 0) { held.failed += missing; held.failures.set(`no first message within ${OPEN_TIMEOUT_MS} ms`, missing); }
  return held;
}

function unaryRun(r: H2loadResult): UnaryRun {
  return {
    requests: r.summary.succeeded,
    errors: r.summary.failed + r.summary.errored + r.summary.timeout,
    p50Us: percentile(r.latenciesUs, 50),
    p99Us: percentile(r.latenciesUs, 99),
  };
}

export async function runOpenStreamsPart(opts: OpenStreamsOptions): Promise<{ figures: OpenStreamsFigures; commands: string[] }> {
  const { log } = opts;
  const holdIds = Array.from({ length: opts.agents }, (_, i) => `streams-${i}`);
  log(`open streams: starting ${opts.agents + 1} echo agents and the router`);
  const started = performance.now();
  const agents = await startEchoAgents(opts.children, [...holdIds, UNARY_ID]);
  const router = await startRouter(opts.children, opts.bundle, opts.dir, "streams-router", agents);
  log(`open streams: agents and router up in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const pid = router.child.pid;
  const bodyFile = path.join(opts.dir, "ping.bin");
  writeFileSync(bodyFile, pingFrame());
  const load = { h2load: opts.h2load, port: router.port, path: UNARY_PATH, bodyFile, deploymentId: UNARY_ID, connections: opts.unaryConnections, streamsPerConnection: 1, logFile: path.join(opts.dir, "streams-h2load.log") };
  // Every agent connection opened first, so the fds before and after count the same upstream sockets
  // (cold: not, so "before" lacks them; startRouter's own check call still warms the first agent).
  for (const id of opts.cold === true ? [] : holdIds) {
    const r = await unaryCall(router.port, id, 5000);
    if (!r.ok) throw new Error(`open streams: a unary call to ${id} through the router failed (${r.kind}); output:\n${router.child.output()}`);
  }
  await runH2load({ ...load, requests: WARMUP_REQUESTS }); // warm-up, not measured
  log(`open streams: unary load before opening the streams (${opts.unarySeconds} s, to gauge the machine's noise)`);
  const beforeStreams = unaryRun(await runH2load({ ...load, seconds: opts.unarySeconds }));

  await sleep(1000);
  const before = { rss: rssMiB(pid), fds: fdCount(pid) };
  const total = opts.connections * opts.streamsPerConnection;
  log(`open streams: opening ${total.toLocaleString("en-US")} streams over ${opts.connections} connections`);
  const t0 = performance.now();
  const held = await openStreams(router.port, holdIds, opts.connections, opts.streamsPerConnection);
  const openSeconds = (performance.now() - t0) / 1000;
  try {
    const routerActiveStreams = await adminMetric(router.admin, "pixell_router_active_streams");
    log(`open streams: ${held.opened} open (${held.failed} failed) in ${openSeconds.toFixed(1)} s; router counts ${routerActiveStreams}; holding ${opts.idleSeconds} s idle`);
    await sleep(1000);
    const ticks0 = cpuTicks([pid]);
    const c0 = performance.now();
    let heldRss = 0;
    for (let s = 0; s < opts.idleSeconds; s++) { await sleep(1000); heldRss = Math.max(heldRss, rssMiB(pid)); }
    const idleCpuPercent = ((cpuTicks([pid]) - ticks0) / clockTicksPerSecond()) / ((performance.now() - c0) / 1000) * 100;
    const heldFds = fdCount(pid);

    log(`open streams: unary load with the streams held (${opts.unarySeconds} s)`);
    const withStreams = unaryRun(await runH2load({ ...load, seconds: opts.unarySeconds }));
    const stillOpen = held.opened - held.closedAfterOpen;

    for (const s of held.sessions) s.destroy();
    const until = Date.now() + 10_000;
    while (Date.now() < until && (await adminMetric(router.admin, "pixell_router_active_streams")) > 0) await sleep(200);
    await sleep(1000);
    const after = { rss: rssMiB(pid), fds: fdCount(pid) };
    log(`open streams: closed; unary load without them (${opts.unarySeconds} s)`);
    const withoutStreams = unaryRun(await runH2load({ ...load, seconds: opts.unarySeconds }));

    const limit = fdLimit(pid);
    const notes = [
      `router: the image's bundle (build/router.ts), flags and environment (lib/router-node-flags.ts), frames engine, one Node process; its per-connection stream limit is ${MAX_CLIENT_STREAMS.toLocaleString("en-US")} (router/h2/limits.ts), so ${opts.streamsPerConnection} per connection is far under it`,
      `router's open-files limit: ${limit.toLocaleString("en-US")} (${opts.connections} client connections + ${agents.length} agent connections need ~${(opts.connections + agents.length + 20).toLocaleString("en-US")})`,
      `each client connection carries one stream to each agent: the router multiplexes ${opts.connections.toLocaleString("en-US")} streams onto one connection per agent`,
      opts.cold === true
        ? `cold: the router's connections to the hold agents (but the first, which its start-up check called) are opened by the streams themselves, ${CONNECT_BATCH} client connections at a time; fds "before" do not include them`
        : `the router's connection to every agent is opened by one unary call before "before" and the streams open ${CONNECT_BATCH} connections at a time: this is the warm case (a cold router taking all 10,000 at once is not measured here)`,
      `RSS: VmRSS before opening, the highest 1 s sample while held, and 1 s after the router counted 0 active streams; CPU: utime + stime of the router over the ${opts.idleSeconds} s idle hold`,
      ...(held.failures.size > 0 ? [`failures while opening: ${[...held.failures].map(([k, n]) => `${k}: ${n}`).join(", ")}`] : []),
    ];
    return {
      figures: {
        connections: opts.connections, streamsPerConnection: opts.streamsPerConnection, agents: opts.agents,
        opened: held.opened, failed: held.failed, openSeconds, routerActiveStreams, stillOpen, idleSeconds: opts.idleSeconds,
        rssMiB: { before: before.rss, held: heldRss, after: after.rss }, idleCpuPercent,
        fds: { before: before.fds, held: heldFds, after: after.fds },
        beforeStreams, withStreams, withoutStreams,
        unaryLoad: `h2load -c ${opts.unaryConnections} -m 1 -t 1 -D ${opts.unarySeconds} to ${UNARY_PATH} on a separate agent; p50/p99 from its per-request log; after a ${WARMUP_REQUESTS.toLocaleString("en-US")}-request warm-up`,
        notes,
      },
      commands: [router.command, `# open streams: ${total} × ${HOLD_PATH} over ${opts.connections} node:http2 sessions; h2load -c ${opts.unaryConnections} -m 1 -t 1 -D ${opts.unarySeconds} ${UNARY_PATH}`],
    };
  } finally {
    for (const s of held.sessions) s.destroy();
  }
}

// Standalone: `npm run bench:open-streams`.
if (require.main === module) {
  const log = (line: string): void => { process.stderr.write(`bench: ${line}\n`); };
  const int = (v: string | undefined, def: number, min: number, max: number, name: string): number => {
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) { process.stderr.write(`--${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}\n`); process.exit(2); }
    return n;
  };
  const { values } = parseArgs({ args: process.argv.slice(2), options: { connections: { type: "string" }, "streams-per-connection": { type: "string" }, "idle-seconds": { type: "string" }, "unary-seconds": { type: "string" }, cold: { type: "boolean" } }, strict: true });
  const d = DEFAULT_OPEN_STREAMS;
  const children = new Children();
  process.on("exit", () => children.killAllNow());
  const dir = mkdtempSync(path.join(tmpdir(), "pixell-bench-streams-"));
  (async () => {
    const tools = ensureTools(log);
    const bundle = await bundleRouter(dir);
    const { figures } = await runOpenStreamsPart({
      connections: int(values.connections, d.connections, 1, 5000, "connections"),
      streamsPerConnection: int(values["streams-per-connection"], d.streamsPerConnection, 1, 100, "streams-per-connection"),
      agents: d.agents, idleSeconds: int(values["idle-seconds"], d.idleSeconds, 1, 300, "idle-seconds"),
      unarySeconds: int(values["unary-seconds"], d.unarySeconds, 1, 300, "unary-seconds"), unaryConnections: d.unaryConnections, cold: values.cold === true,
      h2load: tools.h2load, children, dir, bundle, log,
    });
    process.stdout.write(["## Open streams", "", ...renderOpenStreams(figures)].join("\n") + "\n");
  })().catch((err: unknown) => {
    process.stderr.write(`bench:open-streams failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }).finally(() => children.stopAll().then(() => rmSync(dir, { recursive: true, force: true })));
}
