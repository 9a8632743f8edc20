import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { agentServiceDefinition, type ActionRequest } from "../../proto";
import { parseRegistryFile } from "../../registry/file";
import { grpcFrame, haproxyConfig, haproxyMap, nginxConfig, parseNginxVersion, registryJson } from "../../bench/configs";
import { BenchUsageError, parseBenchArgs } from "../../bench/options";
import { probeDeployments } from "../../bench/probe-scale";
import { addedLatencyUs, renderReport, targetChecks, type PathFigures } from "../../bench/report";
import { descendants, median, parseH2loadLog, parseH2loadSummary, parseProcStat, parseRssSplitBytes, parseVmHwmBytes, percentile, ratio } from "../../bench/stats";

const H2LOAD_OUTPUT = `finished in 2.00s, 21416.00 req/s, 1.33MB/s
requests: 42832 total, 42896 started, 42832 done, 42830 succeeded, 2 failed, 0 errored, 1 timeout
status codes: 42880 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 2.66MB (2787436) total, 209.91KB (214944) headers (space savings 96.39%), 1.27MB (1329280) data
`;

describe("bench options", () => {
  it("runs three rounds of 10 s by default and one short round with --quick", () => {
    const full = parseBenchArgs([]);
    const quick = parseBenchArgs(["--quick"]);
    assert.equal(full.quick, false);
    assert.equal(full.rounds, 3);
    assert.equal(full.saturationSeconds, 10);
    assert.equal(quick.rounds, 1);
    assert.ok(quick.saturationSeconds < full.saturationSeconds);
    assert.ok(quick.streamMessages < full.streamMessages);
    assert.deepEqual(full.registrySizes, [1, 100, 10_000]);
    assert.equal(full.probe?.deployments, 1000);
    assert.equal(full.out, "bench/results/latest.md");
  });

  it("takes overrides and --no-probe", () => {
    const o = parseBenchArgs(["--quick", "--rounds", "2", "--duration", "5", "--no-probe", "--out", "/tmp/x.md"]);
    assert.equal(o.rounds, 2);
    assert.equal(o.saturationSeconds, 5);
    assert.equal(o.probe, undefined);
    assert.equal(o.out, "/tmp/x.md");
  });

  it("rejects unknown flags and bad numbers, naming the flag", () => {
    assert.throws(() => parseBenchArgs(["--fast"]), (e: Error) => e instanceof BenchUsageError && /--fast/.test(e.message) && /usage:/.test(e.message));
    assert.throws(() => parseBenchArgs(["--rounds", "0"]), (e: Error) => e instanceof BenchUsageError && /--rounds/.test(e.message));
    assert.throws(() => parseBenchArgs(["--duration", "1.5"]), (e: Error) => e instanceof BenchUsageError && /--duration/.test(e.message));
  });
});

describe("bench configs", () => {
  const deployments = [{ id: "bench-a", port: 40001 }, { id: "bench-b", port: 40002 }];

  it("frames a protobuf message the way gRPC does, and the agent's decoder reads it back", () => {
    const request: ActionRequest = { action: "echo", parameters: { k: "v" }, requestId: "r1" };
    const method = agentServiceDefinition().Invoke!;
    const frame = grpcFrame(method.requestSerialize(request));
    assert.equal(frame[0], 0, "not compressed");
    assert.equal(frame.readUInt32BE(1), frame.length - 5);
    assert.deepEqual(method.requestDeserialize(frame.subarray(5)), request);
  });

  it("writes a registry the router's parser accepts: the real deployments first, fillers up to the size", () => {
    const parsed = parseRegistryFile(registryJson(deployments, 100, 40009));
    assert.equal(parsed.length, 100);
    assert.deepEqual(parsed.slice(0, 2).map((d) => [d.id, d.port]), [["bench-a", 40001], ["bench-b", 40002]]);
    assert.equal(new Set(parsed.map((d) => d.id)).size, 100);
    assert.ok(parsed.slice(2).every((d) => d.port === 40009));
    assert.equal(parseRegistryFile(registryJson(deployments, 1, 40009)).length, 2, "never drops a real deployment");
  });

  it("reads nginx's version line", () => {
    assert.deepEqual(parseNginxVersion("nginx version: nginx/1.22.1"), [1, 22, 1]);
    assert.equal(parseNginxVersion("command not found"), undefined);
  });

  it("routes nginx on x-deployment-id with a map, listens with http2 in the syntax of the version", () => {
    const old = nginxConfig({ listenPort: 50100, deployments, dir: "/tmp/d", version: [1, 22, 1], runningAsRoot: false });
    assert.match(old, /listen 127\.0\.0\.1:50100 http2;/);
    assert.doesNotMatch(old, /http2 on;/);
    assert.match(old, /map \$http_x_deployment_id \$backend \{/);
    assert.match(old, /"bench-a" deployment_0;/);
    assert.match(old, /upstream deployment_1 \{\s+server 127\.0\.0\.1:40002;\s+keepalive/);
    assert.match(old, /grpc_pass grpc:\/\/\$backend;/);
    assert.match(old, /pid \/tmp\/d\/nginx\.pid;/);
    assert.doesNotMatch(old, /^user /m);
    const modern = nginxConfig({ listenPort: 50100, deployments, dir: "/tmp/d", version: [1, 25, 1], runningAsRoot: true });
    assert.match(modern, /listen 127\.0\.0\.1:50100;\s+http2 on;/);
    assert.match(modern, /^user root;/m);
  });

  it("routes HAProxy with a map file from x-deployment-id to h2 backends", () => {
    assert.equal(haproxyMap(deployments), "bench-a deployment_0\nbench-b deployment_1\n");
    const cfg = haproxyConfig({ listenPort: 50101, deployments, mapPath: "/tmp/d/haproxy.map" });
    assert.match(cfg, /bind 127\.0\.0\.1:50101 proto h2/);
    assert.match(cfg, /use_backend %\[req\.hdr\(x-deployment-id\),map\(\/tmp\/d\/haproxy\.map,unknown_deployment\)\]/);
    assert.match(cfg, /backend deployment_1\n  server agent 127\.0\.0\.1:40002 proto h2/);
    assert.match(cfg, /nbthread 1/);
  });

  it("spreads the probe's hung deployments evenly over the run", () => {
    const ds = probeDeployments("p", 1000, 50, [1, 2], 9);
    assert.equal(ds.length, 1000);
    assert.equal(new Set(ds.map((d) => d.id)).size, 1000);
    const hungAt = ds.flatMap((d, i) => (d.port === 9 ? [i] : []));
    assert.equal(hungAt.length, 50);
    assert.ok(hungAt.every((at, k) => k === 0 || at - hungAt[k - 1]! === 20), "one in every 20");
    assert.ok(ds.filter((d) => d.port !== 9).every((d) => d.port === 1 || d.port === 2));
    assert.equal(probeDeployments("p", 10, 0, [1], 9).filter((d) => d.port === 9).length, 0);
  });
});

describe("bench stats", () => {
  it("reads h2load's summary", () => {
    const s = parseH2loadSummary(H2LOAD_OUTPUT);
    assert.deepEqual(s, { requestsPerSecond: 21416, total: 42832, succeeded: 42830, failed: 2, errored: 0, timeout: 1, status2xx: 42880 });
    assert.throws(() => parseH2loadSummary("connect: Connection refused\n"), /no summary.*Connection refused/s);
  });

  it("keeps only HTTP 200 answers of h2load's per-request log, sorted", () => {
    const log = ["1795525218936867\t200\t12029", "1795525218936868\t503\t5", "1795525218936868\t200\t11000", "", "garbage"].join("\n");
    assert.deepEqual(parseH2loadLog(log), [11000, 12029]);
  });

  it("computes nearest-rank percentiles, medians and ratios", () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentile(xs, 50), 50);
    assert.equal(percentile(xs, 99), 99);
    assert.equal(percentile(xs, 100), 100);
    assert.equal(percentile([7], 99), 7);
    assert.ok(Number.isNaN(percentile([], 50)));
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([NaN, 5]), 5);
    assert.ok(Number.isNaN(median([])));
    assert.equal(ratio(3, 4), 0.75);
    assert.ok(Number.isNaN(ratio(3, 0)));
    assert.ok(Number.isNaN(ratio(NaN, 2)));
  });

  it("reads /proc stat lines, including names with spaces and parentheses", () => {
    const line = "4242 (node (my) app) S 1 4242 4242 0 -1 4194560 100 0 0 0 150 25 0 0 20 0 11 0 123 1000 50 18446744073709551615";
    // proc(5): field 14 utime, field 15 stime.
    assert.deepEqual(parseProcStat(line), { pid: 4242, ppid: 1, cpuTicks: 175, userTicks: 150 });
    const self = parseProcStat(readFileSync("/proc/self/stat", "utf8"));
    assert.equal(self.pid, process.pid);
    assert.equal(self.ppid, process.ppid);
    assert.ok(self.cpuTicks >= self.userTicks && self.userTicks >= 0);
  });

  it("reads the peak resident set from /proc status", () => {
    assert.equal(parseVmHwmBytes("Name:\tnode\nVmHWM:\t   2048 kB\nVmRSS:\t 1024 kB\n"), 2048 * 1024);
    assert.ok(Number.isNaN(parseVmHwmBytes("Name:\tzombie\n")));
    assert.ok(parseVmHwmBytes(readFileSync("/proc/self/status", "utf8")) > 0);
    // proc(5): RssAnon + RssFile + RssShmem = VmRSS.
    assert.deepEqual(parseRssSplitBytes("VmRSS:\t 3072 kB\nRssAnon:\t    1024 kB\nRssFile:\t    2048 kB\nRssShmem:\t 0 kB\n"), { anon: 1024 * 1024, file: 2048 * 1024 });
    const self = parseRssSplitBytes(readFileSync("/proc/self/status", "utf8"));
    assert.ok(self.anon > 0 && self.file > 0, "this node process has private memory and mapped files");
  });

  it("finds a process's descendants", () => {
    const procs = [{ pid: 10, ppid: 1 }, { pid: 11, ppid: 10 }, { pid: 12, ppid: 11 }, { pid: 13, ppid: 1 }];
    assert.deepEqual(descendants(10, procs).sort(), [10, 11, 12]);
    assert.deepEqual(descendants(13, procs), [13]);
  });
});

describe("bench report", () => {
  const row = (name: string, kind: PathFigures["kind"], f: Partial<PathFigures>): PathFigures => ({
    name, kind, requestsPerSecond: 1000, c1P50Us: 100, c1P99Us: 200, c64P50Us: 1000, c64P99Us: 2000,
    cpuUsPerRequest: 10, userUsPerRequest: 7, peakRssMiB: 20, c64PeakRssMiB: 18, c64AnonMiB: 9, streamMBps: 100, errors: 0, ...f,
  });
  const direct = row("direct", "direct", { c1P50Us: 80, requestsPerSecond: 20_000 });
  const haproxy = row("HAProxy", "haproxy", { c1P50Us: 130, cpuUsPerRequest: 5, requestsPerSecond: 15_000 });
  const nginx = row("nginx", "nginx", { c1P50Us: 140, cpuUsPerRequest: 30, requestsPerSecond: 9_000 });

  it("checks the router's targets against nginx and HAProxy of the same run", () => {
    const good = row("router", "router", { c1P50Us: 170, cpuUsPerRequest: 25, requestsPerSecond: 10_000 });
    assert.equal(addedLatencyUs(good, direct), 90);
    // Issue 7's three, then issue 17's: CPU ≤ HAProxy's (25 vs 5: not met), streaming ≥ HAProxy's, peak RSS at c=64 ≤ 64 MiB.
    assert.deepEqual(targetChecks([direct, good, nginx, haproxy]).map((c) => c.met), [true, true, true, false, true, true]);
    const bad = row("router", "router", { c1P50Us: 200, cpuUsPerRequest: 31, requestsPerSecond: 8_999, streamMBps: 99, c64PeakRssMiB: 64.5 });
    const checks = targetChecks([direct, bad, nginx, haproxy]);
    assert.deepEqual(checks.map((c) => c.met), [false, false, false, false, false, false]);
    assert.deepEqual([checks[5]!.router, checks[5]!.reference], [64.5, 64], "the c=64 peak, not the whole run's, against 64 MiB");
    const lean = row("router", "router", { cpuUsPerRequest: 5, c64PeakRssMiB: 64 });
    assert.deepEqual(targetChecks([direct, lean, nginx, haproxy]).slice(3).map((c) => c.met), [true, true, true], "equal meets ≤ and ≥");
    assert.equal(checks[2]!.router, 120);
    assert.equal(checks[2]!.reference, 100, "2 x HAProxy's 50 µs");
    assert.deepEqual(targetChecks([direct, nginx]), [], "no router, no targets");
  });

  it("prefers the main router row over the registry-size rows for the targets", () => {
    const main = row("router", "router", { cpuUsPerRequest: 25 });
    const scaled = row("router, 100 deployments", "router", { cpuUsPerRequest: 99, registrySize: 100 });
    assert.equal(targetChecks([direct, scaled, main, nginx, haproxy])[0]!.router, 25);
  });

  it("renders absolute figures, ratios to direct and to HAProxy, the probe and the commands", () => {
    const router = row("router", "router", { requestsPerSecond: 10_000, cpuUsPerRequest: 25, userUsPerRequest: 21, streamMBps: NaN });
    const text = renderReport({
      title: "t", when: new Date(0), machine: ["2 cores"], settings: ["s"], paths: [direct, router, nginx, haproxy],
      probe: [{ label: "all healthy", deployments: 1000, hung: 0, timeoutMs: 3000, concurrency: 64, wallMs: 900, healthy: 1000, unhealthy: 0, putMetricDataRequests: 3, metricData: 2005 }],
      commands: ["h2load -D 10 http://127.0.0.1:1/x"], files: [{ name: "nginx.conf", text: "events {}\n" }],
    });
    const line = (section: string, name: string): string => {
      const from = text.indexOf(section);
      return text.slice(from).split("\n").find((l) => l.startsWith(`| ${name} |`))!;
    };
    assert.match(line("## Figures", "router"), /^\| router \| 10,000 \| 100 \/ 200 \| 20 \| 1,000 \/ 2,000 \| 25\.0 \(21\.0 \+ 4\.0\) \| 18\.0 \/ 20\.0 \| 9\.0 \| – \| 0 \|$/);
    assert.match(line("### Ratio to direct", "router"), /^\| router \| 0\.50× \|/);
    assert.match(line("### Ratio to HAProxy", "router"), /^\| router \| 0\.67× \| 0\.77× \| 1\.00× \| 0\.40× \|/);
    // CPU/req 25 ÷ 5 and user CPU/req 21 ÷ 7 (the row() default for HAProxy's user part).
    assert.match(line("### Ratio to HAProxy", "router"), /\| 5\.00× \| 3\.00× \|/);
    assert.match(line("## Probe", "all healthy"), /\| 1,000 \| 0 \| 3,000 \| 64 \| 900 \| 1,000 \| 0 \| 3 \| 2,005 \|$/);
    assert.match(text, /\| CPU per request \(µs\) ≤ nginx's \| 25\.0 \| 30\.0 \| yes \|/);
    assert.match(text, /```\nh2load -D 10 http:\/\/127\.0\.0\.1:1\/x\n```/);
    assert.match(text, /<summary>nginx\.conf<\/summary>\n\n```\nevents \{\}\n```/);
  });

  it("says why the probe part is missing when it was skipped", () => {
    const text = renderReport({ title: "t", when: new Date(0), machine: [], settings: [], paths: [direct], probe: "Skipped (--no-probe).", commands: [], files: [] });
    assert.match(text, /## Probe over many deployments\n\nSkipped \(--no-probe\)\./);
    assert.doesNotMatch(text, /Ratio to HAProxy/);
  });
});
