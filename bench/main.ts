/**
 * `npm run bench [-- --quick]`: the router against direct calls, nginx and HAProxy, and the
 * probe over 1000 deployments, in one run on 127.0.0.1. Writes bench/results/latest.md.
 *
 *   options.ts      flags and their defaults (pure)
 *   configs.ts      nginx/HAProxy configs, registry files, the gRPC request frame (pure)
 *   stats.ts        h2load and /proc parsing, percentiles, medians (pure)
 *   report.ts       the markdown tables and the router's targets (pure)
 *   processes.ts    child processes, free ports, /proc readings, apt-get for missing tools
 *   load.ts         h2load runs, the gRPC-OK checks, the streaming client
 *   probe-scale.ts  the probe run against a local CloudWatch endpoint
 *   registry-lookup.ts  PAR and Cloud Map lookup CPU at 10,000 deployments (its fakes: registry-fakes.ts)
 *   echo-agent.ts   the streaming agent's process
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import * as path from "node:path";
import { startDemoAgent, type DemoAgent } from "../fixtures/demo-agent";
import { agentServiceDefinition, type ActionRequest } from "../proto";
import { startFakeCloudWatch, type FakeCloudWatch } from "../fixtures/fake-cloudwatch";
import { grpcFrame, haproxyConfig, haproxyMap, nginxConfig, parseNginxVersion, registryJson, type BenchDeployment } from "./configs";
import { checkGrpcOk, checkHealthThrough, runH2load, streamThroughput } from "./load";
import { BenchUsageError, parseBenchArgs, type BenchOptions } from "./options";
import { Children, clockTicksPerSecond, cpuTimes, ensureTools, freePort, peakRssBytes, processTree, resetPeakRss, rssSplitBytes, versionLine, waitForPortLine, type Child, type Tools } from "./processes";
import { probeDeployments, runProbeScale } from "./probe-scale";
import { DEFAULT_CHURN, runChurnPart } from "./churn";
import { DEFAULT_OPEN_STREAMS, runOpenStreamsPart } from "./open-streams";
import type { ChurnFigures, OpenStreamsFigures } from "./streams-report";
import { bundleRouter as bundleRouterFile, routerCommand } from "./streams-setup";
import { renderReport, type PathFigures, type PathKind, type ProbeFigures } from "./report";
import { runRegistryLookupPart } from "./registry-lookup";
import { renderRegistryLookups } from "./registry-lookup-report";
import { median, percentile } from "./stats";
import { ROUTER_ENV, ROUTER_NODE_FLAGS } from "../lib/router-node-flags";

const REPO = path.resolve(__dirname, "..");
const INVOKE_PATH = "/pixell.agent.AgentService/Invoke";
const STREAM_METHOD = "/pixell.test.Echo/ServerStream";
const START_TIMEOUT_MS = 30_000;
/** The deployment under load, a second one (routing must pick the right agent) and the streaming one. */
const LOADED = "bench-a";
const OTHER = "bench-b";
const ECHO = "bench-echo";

const log = (line: string): void => { process.stderr.write(`bench: ${line}\n`); };

/** One way to reach the agents. */
interface BenchPath {
  readonly name: string;
  readonly kind: PathKind;
  /** Port for a deployment id (direct: that agent's own port). */
  readonly portFor: (id: string) => number;
  /** Root pid of the process whose CPU and memory count (direct: the loaded agent). */
  readonly pid: number;
  readonly registrySize?: number;
  readonly streams: boolean;
}

interface RoundSample {
  rps: number; c1: number[]; c64: number[]; cpuUsPerRequest: number; userUsPerRequest: number; streamMBps: number; errors: number;
  /** VmHWM over the c=64 run alone (reset after the warm-up), and RssAnon at its end, bytes. */
  c64PeakRss: number; c64Anon: number;
}

/** "model name" from /proc/cpuinfo (what os.cpus() reports elsewhere). */
function cpuModel(): string {
  try {
    return /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? cpus()[0]?.model ?? "unknown CPU";
  } catch {
    return cpus()[0]?.model ?? "unknown CPU";
  }
}

function invokeBody(): Buffer {
  const request: ActionRequest = { action: "echo", parameters: { text: "hello from the benchmark" }, requestId: "bench-0001" };
  return grpcFrame(agentServiceDefinition().Invoke!.requestSerialize(request));
}

async function bundleRouter(dir: string, commands: string[]): Promise<string> {
  const outfile = await bundleRouterFile(dir);
  commands.push(`npx tsx build/router.ts ${path.dirname(outfile)}   # the image's bundle step`);
  return outfile;
}

async function spawnAgent(children: Children, commands: string[], name: string, script: string): Promise<{ child: Child; port: number }> {
  const args = ["--import", "tsx", script, name, "0"];
  const child = children.start(name, process.execPath, args, { cwd: REPO });
  commands.push(`node ${args.join(" ")}`);
  return { child, port: await waitForPortLine(child, START_TIMEOUT_MS) };
}

async function spawnRouter(children: Children, commands: string[], bundle: string, dir: string, name: string, registry: string, cpuProfDir?: string): Promise<{ child: Child; port: number }> {
  const registryFile = path.join(dir, `${name}.registry.json`);
  writeFileSync(registryFile, registry);
  const [port, admin] = [await freePort(), await freePort()];
  // The production image's Node flags (router/Dockerfile CMD): the bench measures the router as it runs there.
  const args = [...ROUTER_NODE_FLAGS, ...(cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${path.resolve(cpuProfDir)}`] : []), bundle, "--listen", `127.0.0.1:${port}`, "--admin", `127.0.0.1:${admin}`, "--registry", `file:${registryFile}`];
  commands.push(routerCommand(args));
  return { child: children.start(name, process.execPath, args, { env: { ...process.env, ...ROUTER_ENV, LOG_LEVEL: "info" } }), port };
}

/** Fails with the child's output when it has exited; used after a readiness check failed. */
function brokenPath(p: BenchPath, problem: string, child: Child | undefined): Error {
  const exited = child?.exited ? ` (its process exited: code ${child.exited.code}, signal ${child.exited.signal}; output:\n${child.output()})` : "";
  return new Error(`path "${p.name}" is broken: ${problem}${exited}`);
}

async function measurePath(p: BenchPath, opts: BenchOptions, tools: Tools, body: string, dir: string, ticksPerSecond: number, commands: string[] | undefined): Promise<RoundSample> {
  const port = p.portFor(LOADED);
  const common = { h2load: tools.h2load, port, path: INVOKE_PATH, bodyFile: body, deploymentId: LOADED, logFile: path.join(dir, "h2load.log") };
  await runH2load({ ...common, connections: opts.connections, streamsPerConnection: opts.streamsPerConnection, requests: opts.warmupRequests });

  const pids = processTree(p.pid);
  if (!resetPeakRss(pids)) throw new Error(`path "${p.name}": cannot reset its peak RSS (/proc/PID/clear_refs)`);
  const before = cpuTimes(pids);
  const sat = await runH2load({ ...common, connections: opts.connections, streamsPerConnection: opts.streamsPerConnection, seconds: opts.saturationSeconds });
  const after = cpuTimes(pids);
  const c64PeakRss = peakRssBytes(pids);
  const c64Anon = rssSplitBytes(pids).anon;
  if (sat.summary.succeeded === 0 || sat.latenciesUs.length === 0) throw new Error(`path "${p.name}" is broken: no successful request in the c=64 run (${JSON.stringify(sat.summary)})`);

  const c1 = await runH2load({ ...common, connections: 1, streamsPerConnection: 1, seconds: opts.latencySeconds });
  if (c1.summary.succeeded === 0 || c1.latenciesUs.length === 0) throw new Error(`path "${p.name}" is broken: no successful request in the c=1 run (${JSON.stringify(c1.summary)})`);

  let streamMBps = NaN;
  if (p.streams) {
    const s = await streamThroughput(p.portFor(ECHO), ECHO, STREAM_METHOD, opts.streamMessages, opts.streamMessageBytes);
    const expected = opts.streamMessages * opts.streamMessageBytes;
    if (s.bytes !== expected) throw new Error(`path "${p.name}" is broken: the stream delivered ${s.bytes} bytes of ${expected}`);
    streamMBps = s.bytes / 1e6 / s.seconds;
  }
  commands?.push(`# ${p.name}`, sat.command, c1.command);
  const errors = (r: typeof sat): number => r.summary.failed + r.summary.errored + r.summary.timeout;
  return {
    rps: sat.summary.requestsPerSecond,
    c1: c1.latenciesUs,
    c64: sat.latenciesUs,
    cpuUsPerRequest: ((after.total - before.total) / ticksPerSecond) * 1e6 / sat.summary.succeeded,
    userUsPerRequest: ((after.user - before.user) / ticksPerSecond) * 1e6 / sat.summary.succeeded,
    streamMBps,
    errors: errors(sat) + errors(c1),
    c64PeakRss,
    c64Anon,
  };
}

function figures(p: BenchPath, samples: readonly RoundSample[]): Omit<PathFigures, "peakRssMiB"> {
  const med = (f: (s: RoundSample) => number): number => median(samples.map(f));
  const mib = (bytes: number): number => bytes / (1024 * 1024);
  return {
    // A peak is the highest round's, not the median.
    c64PeakRssMiB: mib(Math.max(...samples.map((s) => s.c64PeakRss))),
    c64AnonMiB: mib(Math.max(...samples.map((s) => s.c64Anon))),
    name: p.name,
    kind: p.kind,
    ...(p.registrySize !== undefined ? { registrySize: p.registrySize } : {}),
    requestsPerSecond: med((s) => s.rps),
    c1P50Us: med((s) => percentile(s.c1, 50)),
    c1P99Us: med((s) => percentile(s.c1, 99)),
    c64P50Us: med((s) => percentile(s.c64, 50)),
    c64P99Us: med((s) => percentile(s.c64, 99)),
    cpuUsPerRequest: med((s) => s.cpuUsPerRequest),
    userUsPerRequest: med((s) => s.userUsPerRequest),
    streamMBps: med((s) => s.streamMBps),
    errors: samples.reduce((sum, s) => sum + s.errors, 0),
  };
}

async function runProbePart(opts: BenchOptions, children: Children, commands: string[], bundle: string, dir: string, healthyPorts: number[]): Promise<ProbeFigures[]> {
  const probe = opts.probe!;
  let hungAgent: DemoAgent | undefined;
  let cloudwatch: FakeCloudWatch | undefined;
  try {
    // A hung agent costs nothing but parked callbacks, so it lives in this process.
    hungAgent = await startDemoAgent({ deploymentId: "hung", hang: true });
    cloudwatch = await startFakeCloudWatch();
    const hungCount = Math.round(probe.deployments * probe.hungFraction);
    const allHealthy = probeDeployments("healthy", probe.deployments, 0, healthyPorts, hungAgent.port);
    const someHung = probeDeployments("somehung", probe.deployments, hungCount, healthyPorts, hungAgent.port);
    const router = await spawnRouter(children, commands, bundle, dir, "probe-router", JSON.stringify({ deployments: [...allHealthy, ...someHung].map((d) => ({ id: d.id, port: d.port })) }));
    const ready = await checkHealthThrough(router.port, [allHealthy[0]!.id], START_TIMEOUT_MS, () => router.child.exited !== undefined, false);
    if (ready !== undefined) throw new Error(`the probe's router did not answer: ${ready}; output:\n${router.child.output()}`);
    const common = { endpoint: `127.0.0.1:${router.port}`, timeoutMs: probe.timeoutMs, concurrency: probe.concurrency, cloudwatch };
    const results: ProbeFigures[] = [];
    for (const [label, deployments, hung] of [["all healthy", allHealthy, 0], [`${Math.round(probe.hungFraction * 100)}% hung`, someHung, hungCount]] as const) {
      log(`probe: ${label}, ${deployments.length} deployments`);
      const r = await runProbeScale({ ...common, label, deployments, hung, discoveryFile: path.join(dir, `probe-${hung}.json`) });
      if (r.healthy === 0) throw new Error(`the probe is broken: no deployment was healthy in the "${label}" run`);
      results.push(r);
    }
    commands.push(`# probe: runProbe (probe-lambda/run.ts) through the router above, PutMetricData to a local CloudWatch endpoint (fixtures/fake-cloudwatch.ts), timeout ${probe.timeoutMs} ms, concurrency ${probe.concurrency}`);
    return results;
  } finally {
    await hungAgent?.stop(true);
    await cloudwatch?.close();
  }
}

async function main(): Promise<void> {
  const opts = parseBenchArgs(process.argv.slice(2));
  const tools = ensureTools(log);
  const dir = mkdtempSync(path.join(tmpdir(), "pixell-bench-"));
  const children = new Children();
  const onExit = (): void => children.killAllNow();
  process.on("exit", onExit);
  const onSignal = (): void => { void children.stopAll(500).then(() => process.exit(130)); };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const commands: string[] = [];
  const files: { name: string; text: string }[] = [];
  try {
    const body = path.join(dir, "invoke.bin");
    writeFileSync(body, invokeBody());
    const bundle = await bundleRouter(dir, commands);

    log("starting agents");
    const [a, b, echo] = await Promise.all([
      spawnAgent(children, commands, LOADED, "fixtures/demo-agent.ts"),
      spawnAgent(children, commands, OTHER, "fixtures/demo-agent.ts"),
      spawnAgent(children, commands, ECHO, "bench/echo-agent.ts"),
    ]);
    const agentPorts: Record<string, number> = { [LOADED]: a.port, [OTHER]: b.port, [ECHO]: echo.port };
    const real: BenchDeployment[] = [LOADED, OTHER, ECHO].map((id) => ({ id, port: agentPorts[id]! }));

    log("starting the router, nginx and HAProxy");
    const router = await spawnRouter(children, commands, bundle, dir, "router", registryJson(real, real.length, b.port), opts.cpuProfDir);
    const scaled = await Promise.all(opts.registrySizes.map(async (size) =>
      ({ size, ...(await spawnRouter(children, commands, bundle, dir, `router-${size}`, registryJson(real.slice(0, 1), size, b.port))) })));

    const nginxPort = await freePort();
    const nginxVersion = versionLine(tools.nginx, ["-v"]);
    const nginxConf = path.join(dir, "nginx.conf");
    const nginxText = nginxConfig({ listenPort: nginxPort, deployments: real, dir, version: parseNginxVersion(nginxVersion) ?? [1, 22, 0], runningAsRoot: process.getuid?.() === 0 });
    writeFileSync(nginxConf, nginxText);
    files.push({ name: "nginx.conf", text: nginxText });
    const nginxArgs = ["-p", dir, "-c", nginxConf, "-e", path.join(dir, "nginx-error.log"), "-g", "daemon off;"];
    const nginx = children.start("nginx", tools.nginx, nginxArgs);
    commands.push(`nginx ${nginxArgs.map((x) => (x.includes(" ") ? `'${x}'` : x)).join(" ")}   # ${nginxConf}`);

    const haproxyPort = await freePort();
    const mapPath = path.join(dir, "haproxy.map");
    writeFileSync(mapPath, haproxyMap(real));
    const haproxyConf = path.join(dir, "haproxy.cfg");
    const haproxyText = haproxyConfig({ listenPort: haproxyPort, deployments: real, mapPath });
    writeFileSync(haproxyConf, haproxyText);
    files.push({ name: "haproxy.cfg", text: haproxyText }, { name: "haproxy.map", text: haproxyMap(real) });
    const haproxy = children.start("haproxy", tools.haproxy, ["-db", "-f", haproxyConf]);
    commands.push(`haproxy -db -f ${haproxyConf}`);

    const direct: BenchPath = { name: "direct", kind: "direct", portFor: (id) => agentPorts[id]!, pid: a.child.pid, streams: true };
    const via = (name: string, kind: PathKind, port: number, pid: number, streams: boolean, registrySize?: number): BenchPath =>
      ({ name, kind, portFor: () => port, pid, streams, ...(registrySize !== undefined ? { registrySize } : {}) });
    const paths: BenchPath[] = [
      direct,
      via("router", "router", router.port, router.child.pid, true),
      via("nginx", "nginx", nginxPort, nginx.pid, true),
      via("HAProxy", "haproxy", haproxyPort, haproxy.pid, true),
      ...scaled.map((s) => via(`router, ${s.size.toLocaleString("en-US")} deployment${s.size === 1 ? "" : "s"}`, "router", s.port, s.child.pid, false, s.size)),
    ];
    const childOf = new Map<BenchPath, Child>([[paths[0]!, a.child], [paths[1]!, router.child], [paths[2]!, nginx], [paths[3]!, haproxy], ...scaled.map((s, i) => [paths[4 + i]!, s.child] as [BenchPath, Child])]);

    log("checking every path answers gRPC OK from the right agent");
    for (const p of paths) {
      const ids = p.streams ? [LOADED, OTHER] : [LOADED];
      const problem = p.kind === "direct"
        ? (await checkHealthThrough(agentPorts[LOADED]!, [LOADED], START_TIMEOUT_MS)) ?? (await checkHealthThrough(agentPorts[OTHER]!, [OTHER], START_TIMEOUT_MS))
        : await checkHealthThrough(p.portFor(LOADED), ids, START_TIMEOUT_MS, () => childOf.get(p)?.exited !== undefined);
      if (problem !== undefined) throw brokenPath(p, `Health through it failed: ${problem}`, childOf.get(p));
      const invoke = await checkGrpcOk(p.portFor(LOADED), INVOKE_PATH, invokeBody(), LOADED);
      if (invoke !== undefined) throw brokenPath(p, `h2load's Invoke request is not answered gRPC OK: ${invoke}`, childOf.get(p));
      if (p.streams) {
        const s = await streamThroughput(p.portFor(ECHO), ECHO, STREAM_METHOD, 2, 1024).catch((err: Error) => ({ bytes: -1, seconds: 0, err }));
        if (s.bytes !== 2048) throw brokenPath(p, `the server stream through it delivered ${s.bytes} of 2048 bytes`, childOf.get(p));
      }
    }

    const ticksPerSecond = clockTicksPerSecond();
    const samples = new Map<BenchPath, RoundSample[]>(paths.map((p) => [p, []]));
    for (let round = 0; round < opts.rounds; round++) {
      // Rotate the order each round so no path always runs first (or right after the same neighbour).
      const order = paths.map((_, i) => paths[(i + round) % paths.length]!);
      for (const p of order) {
        log(`round ${round + 1}/${opts.rounds}: ${p.name}`);
        samples.get(p)!.push(await measurePath(p, opts, tools, body, dir, ticksPerSecond, round === 0 ? commands : undefined));
      }
    }
    const results: PathFigures[] = paths.map((p) => ({ ...figures(p, samples.get(p)!), peakRssMiB: peakRssBytes(processTree(p.pid)) / (1024 * 1024) }));

    let probe: ProbeFigures[] | string = "Skipped (--no-probe).";
    if (opts.probe) probe = await runProbePart(opts, children, commands, bundle, dir, [a.port, b.port]);

    let registryLookups = "Skipped (--no-registry).";
    if (opts.registry) {
      registryLookups = renderRegistryLookups(await runRegistryLookupPart({ log }));
      commands.push("# registry lookups: runRegistryLookupPart (bench/registry-lookup.ts, also npm run bench:registry), fakes from bench/registry-fakes.ts in a child process");
    }
    let openStreams: OpenStreamsFigures | string = "Skipped (--no-streams).";
    let churn: ChurnFigures | string = "Skipped (--no-streams).";
    if (opts.streams) {
      const s = opts.streams;
      const open = await runOpenStreamsPart({ ...DEFAULT_OPEN_STREAMS, idleSeconds: s.idleSeconds, unarySeconds: s.unarySeconds, h2load: tools.h2load, children, dir, bundle, log });
      const ch = await runChurnPart({ ...DEFAULT_CHURN, seconds: s.churnSeconds, children, dir, bundle, log });
      ({ figures: openStreams } = open);
      ({ figures: churn } = ch);
      commands.push(...open.commands, ...ch.commands);
    }

    const report = renderReport({
      title: `pixell-a2a benchmark${opts.quick ? " (quick)" : ""}`,
      when: new Date(),
      machine: [
        `${cpus().length} cores, ${cpuModel()}`,
        `Node ${process.version}`,
        nginxVersion,
        versionLine(tools.haproxy, ["-v"]),
        versionLine(tools.h2load, ["--version"]),
      ],
      settings: [
        `unary: Invoke (${invokeBody().length}-byte gRPC frame) to deployment ${LOADED}; rounds: ${opts.rounds} (paths alternated, order rotated each round); figures are medians over rounds`,
        `c=64: h2load -c ${opts.connections} -m ${opts.streamsPerConnection} -t 1 for ${opts.saturationSeconds} s (requests/s, p50/p99 latency, CPU per request); c=1: h2load -c 1 -m 1 for ${opts.latencySeconds} s; each after an unmeasured warm-up of ${opts.warmupRequests} requests`,
        "latency: h2load's per-request log (--log-file, µs), HTTP 200 answers only; every path was first checked to answer this exact request with grpc-status 0 (node:http2) and Health from the right agent (checkHealth, grpc-js)",
        `CPU per request: utime + stime from /proc/<pid>/stat of the proxy's process tree over the c=64 run, divided by its successful requests, and the two parts (user: the proxy's own code, V8 and libc; sys: the kernel's socket work); for direct, the loaded agent's. Peak RSS: VmHWM summed over the same processes, over each c=64 run alone (reset after the warm-up through /proc/<pid>/clear_refs; the highest round) and over the whole run at the end (streaming included); anon: RssAnon at the end of the c=64 run (the rest of RSS is mapped files: for the router, ~40 MiB of the node binary's pages)`,
        `streaming: one grpc-js server-streaming call of ${opts.streamMessages} × ${opts.streamMessageBytes / (1024 * 1024)} MiB messages from bench/echo-agent.ts; MB = 10^6 bytes`,
        "router: the image's bundle (build/router.ts) with its Node flags and malloc environment (lib/router-node-flags.ts), one Node process, LOG_LEVEL=info; nginx: 1 worker, grpc_pass with upstream keepalive; HAProxy: nbthread 1, map lookup on x-deployment-id, h2 to the agents",
        `router registry sizes: ${opts.registrySizes.join(", ")} (fillers point at ${OTHER}); the main "router" row has the ${real.length} real deployments`,
        "agents: fixtures/demo-agent.ts and bench/echo-agent.ts, each in its own process",
      ],
      paths: results,
      probe,
      registryLookups,
      openStreams,
      churn,
      commands,
      files,
    });
    process.stdout.write(report);
    const out = path.resolve(REPO, opts.out);
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, report);
    log(`wrote ${path.relative(REPO, out)}`);
    if (opts.cpuProfDir) log(`the router's CPU profile goes to ${path.resolve(opts.cpuProfDir)} when it exits (open it in Chrome DevTools or speedscope)`);
  } finally {
    await children.stopAll();
    process.off("exit", onExit);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  if (err instanceof BenchUsageError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
