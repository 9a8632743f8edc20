/**
 * `npm run bench:churn [-- --churn-seconds S --rate N]` (issue 17, part of `npm run bench`): new client
 * connections at a fixed rate (default 1,000/s for 30 s), each making one unary call through the router
 * bundle and closing (node:http2 connect → request → close). Reports the calls' latency (connect + call),
 * errors by kind, and the router's fds before, at the end and 2 s after (they must come back to baseline).
 *
 * Paced by a 5 ms timer that starts as many connections as the schedule owes, so a slow tick is made up
 * on the next; a cap on calls in flight keeps a router that stops answering from turning the bench into
 * a fork bomb. The rate reported is what was started in the window, not the target.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import * as path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { Children, clockTicksPerSecond, cpuTicks } from "./processes";
import { percentile } from "./stats";
import { renderChurn, type ChurnFigures } from "./streams-report";
import { bundleRouter, fdCount, sleep, startEchoAgents, startRouter, unaryCall, type UnaryResult } from "./streams-setup";

const AGENT_ID = "churn-agent";
const TICK_MS = 5;
const SETTLE_SECONDS = 2;
const FD_TOLERANCE = 5;

export interface ChurnOptions {
  readonly perSecond: number;
  readonly seconds: number;
  /** A call with no answer after this long counts as "timeout". */
  readonly callTimeoutMs: number;
  /** Calls in flight at most; past it the schedule waits (and the achieved rate shows it). */
  readonly maxInFlight: number;
  readonly children: Children;
  readonly dir: string;
  readonly bundle: string;
  readonly log: (line: string) => void;
}

export const DEFAULT_CHURN = { perSecond: 1000, seconds: 30, callTimeoutMs: 5000, maxInFlight: 2000 } as const;

export async function runChurnPart(opts: ChurnOptions): Promise<{ figures: ChurnFigures; commands: string[] }> {
  const { log } = opts;
  log("churn: starting an echo agent and the router");
  const [agent] = await startEchoAgents(opts.children, [AGENT_ID]);
  const router = await startRouter(opts.children, opts.bundle, opts.dir, "churn-router", [agent!]);
  const pid = router.child.pid;
  // Warm-up: the same kind of calls, unmeasured, so JIT and the agent connection are in place.
  for (let i = 0; i < 20; i++) await Promise.all(Array.from({ length: 25 }, () => unaryCall(router.port, AGENT_ID, opts.callTimeoutMs)));
  await sleep(SETTLE_SECONDS * 1000);
  const fdsBefore = fdCount(pid);

  const target = opts.perSecond * opts.seconds;
  log(`churn: ${opts.perSecond}/s new connections for ${opts.seconds} s (${target.toLocaleString("en-US")} calls)`);
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  const pending = new Set<Promise<void>>();
  let started = 0;
  let capped = 0;
  const record = (r: UnaryResult): void => {
    if (r.ok) latencies.push(r.us);
    else errors[r.kind] = (errors[r.kind] ?? 0) + 1;
  };
  const burst = Math.max(1, Math.ceil((2 * opts.perSecond * TICK_MS) / 1000));
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const ticks0 = cpuTicks([pid]);
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  const windowMs = opts.seconds * 1000;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - t0;
      const owed = Math.min(target, Math.floor((Math.min(elapsed, windowMs) / 1000) * opts.perSecond));
      // A late tick makes up at most one more tick's worth: a stalled client must not dump a burst of SYNs.
      for (let n = 0; started < owed && n < burst; n++) {
        if (pending.size >= opts.maxInFlight) { capped++; break; }
        started++;
        const p: Promise<void> = unaryCall(router.port, AGENT_ID, opts.callTimeoutMs).then(record).finally(() => pending.delete(p));
        pending.add(p);
      }
      if (elapsed >= windowMs || started >= target) { clearInterval(timer); resolve(); }
    }, TICK_MS);
  });
  const windowSeconds = Math.max(opts.seconds, (performance.now() - t0) / 1000);
  await Promise.all([...pending]);
  const busySeconds = (performance.now() - t0) / 1000;
  loopDelay.disable();
  const routerCpu = ((cpuTicks([pid]) - ticks0) / clockTicksPerSecond()) / busySeconds * 100;
  const own = process.cpuUsage(own0);
  const clientCpu = ((own.user + own.system) / 1e6) / busySeconds * 100;
  const fdsEnd = fdCount(pid);
  await sleep(SETTLE_SECONDS * 1000);
  const fdsAfter = fdCount(pid);
  latencies.sort((a, b) => a - b);
  const succeeded = latencies.length;
  log(`churn: ${started} started, ${succeeded} OK; fds ${fdsBefore} → ${fdsEnd} → ${fdsAfter}`);

  const notes = [
    `client: this Node process (node:http2.connect per call, 127.0.0.1), sharing the machine's cores with the router and the agent; a call is OK with HTTP 200, grpc-status 0 and a message; timeout ${opts.callTimeoutMs} ms`,
    `pacing: a ${TICK_MS} ms timer starts the connections the schedule owes; at most ${burst} per tick and ${opts.maxInFlight} calls in flight${capped > 0 ? ` (the cap held the schedule back on ${capped} ticks)` : " (never reached)"}`,
    `CPU from the first connection to the last answer (${busySeconds.toFixed(1)} s): router ${routerCpu.toFixed(0)}% of a core, this client process ${clientCpu.toFixed(0)}%, its event-loop delay p99 ${(loopDelay.percentile(99) / 1e6).toFixed(0)} ms, max ${(loopDelay.max / 1e6).toFixed(0)} ms (load average ${loadavg()[0]!.toFixed(1)} at the end)`,
    `router: the image's bundle (build/router.ts), flags and environment (lib/router-node-flags.ts), one Node process; fds from /proc/<pid>/fd (listening sockets, the agent connection and the log pipes included)`,
  ];
  return {
    figures: {
      targetPerSecond: opts.perSecond, seconds: opts.seconds, attempted: started, succeeded,
      achievedPerSecond: started / windowSeconds,
      p50Us: percentile(latencies, 50), p99Us: percentile(latencies, 99), maxUs: latencies[latencies.length - 1] ?? NaN,
      errors, fds: { before: fdsBefore, end: fdsEnd, after: fdsAfter }, settleSeconds: SETTLE_SECONDS, fdTolerance: FD_TOLERANCE, notes,
    },
    commands: [router.command, `# churn: ${opts.perSecond}/s × ${opts.seconds} s of node:http2 connect → /pixell.test.Echo/Unary → close`],
  };
}

// Standalone: `npm run bench:churn`.
if (require.main === module) {
  const log = (line: string): void => { process.stderr.write(`bench: ${line}\n`); };
  const int = (v: string | undefined, def: number, min: number, max: number, name: string): number => {
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) { process.stderr.write(`--${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}\n`); process.exit(2); }
    return n;
  };
  const { values } = parseArgs({ args: process.argv.slice(2), options: { "churn-seconds": { type: "string" }, rate: { type: "string" } }, strict: true });
  const children = new Children();
  process.on("exit", () => children.killAllNow());
  const dir = mkdtempSync(path.join(tmpdir(), "pixell-bench-churn-"));
  (async () => {
    const bundle = await bundleRouter(dir);
    const { figures } = await runChurnPart({
      ...DEFAULT_CHURN,
      seconds: int(values["churn-seconds"], DEFAULT_CHURN.seconds, 1, 600, "churn-seconds"),
      perSecond: int(values.rate, DEFAULT_CHURN.perSecond, 1, 20_000, "rate"),
      children, dir, bundle, log,
    });
    process.stdout.write(["## Connection churn", "", ...renderChurn(figures)].join("\n") + "\n");
  })().catch((err: unknown) => {
    process.stderr.write(`bench:churn failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }).finally(() => children.stopAll().then(() => rmSync(dir, { recursive: true, force: true })));
}
