/**
 * The harness's I/O against real processes on 127.0.0.1: nginx and HAProxy with the configs
 * the bench writes, h2load through them, the gRPC-OK check, the streaming client, /proc.
 * Skipped (with a reason) where nginx, haproxy or h2load is not installed.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { startDemoAgent, type DemoAgent } from "../../fixtures/demo-agent";
import { agentServiceDefinition } from "../../proto";
import { grpcFrame, haproxyConfig, haproxyMap, nginxConfig, parseNginxVersion, type BenchDeployment } from "../../bench/configs";
import { checkGrpcOk, checkHealthThrough, runH2load, streamThroughput } from "../../bench/load";
import { Children, cpuTicks, cpuTimes, freePort, peakRssBytes, processTree, resetPeakRss, rssSplitBytes, versionLine, waitForPortLine } from "../../bench/processes";
import { startEchoServer, type EchoServer } from "../../fixtures/echo-server";

const INVOKE = "/pixell.agent.AgentService/Invoke";
const installed = (bin: string): boolean => spawnSync("sh", ["-c", `command -v ${bin} || test -x /usr/sbin/${bin}`]).status === 0;
const bin = (name: string): string => (spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).stdout.trim() || `/usr/sbin/${name}`);

describe("bench harness against real proxies", function () {
  this.timeout(30_000);
  let dir: string;
  let children: Children;
  let agentA: DemoAgent;
  let agentB: DemoAgent;
  let echo: EchoServer;
  let deployments: BenchDeployment[];
  let body: string;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "bench-test-"));
    agentA = await startDemoAgent({ deploymentId: "bench-a" });
    agentB = await startDemoAgent({ deploymentId: "bench-b" });
    echo = await startEchoServer({ name: "bench-echo" });
    deployments = [{ id: "bench-a", port: agentA.port }, { id: "bench-b", port: agentB.port }, { id: "bench-echo", port: echo.port }];
    body = path.join(dir, "invoke.bin");
    writeFileSync(body, grpcFrame(agentServiceDefinition().Invoke!.requestSerialize({ action: "a", parameters: {}, requestId: "r" })));
  });
  beforeEach(() => { children = new Children(); });
  afterEach(async () => { await children.stopAll(); });
  after(async () => {
    await Promise.all([agentA.stop(true), agentB.stop(true), echo.stop(true)]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Health from the right agent, h2load's request answered grpc-status 0, 200 h2load requests, a 4 MiB stream. */
  async function exercise(port: number, child: { output(): string; exited: unknown }): Promise<void> {
    const health = await checkHealthThrough(port, ["bench-a", "bench-b"], 10_000, () => child.exited !== undefined);
    assert.equal(health, undefined, `${health}\n${child.output()}`);
    assert.equal(await checkGrpcOk(port, INVOKE, grpcFrame(agentServiceDefinition().Invoke!.requestSerialize({ action: "a", parameters: {}, requestId: "r" })), "bench-a"), undefined);
    assert.match(await checkGrpcOk(port, INVOKE, grpcFrame(Buffer.alloc(0)), "no-such-deployment") ?? "", /HTTP status 404|grpc-status/);
    if (installed("h2load")) {
      const before = agentA.calls.get("Invoke") ?? 0;
      const r = await runH2load({ h2load: bin("h2load"), port, path: INVOKE, bodyFile: body, deploymentId: "bench-a", connections: 2, streamsPerConnection: 4, requests: 200, logFile: path.join(dir, "h2load.log") });
      assert.equal(r.summary.succeeded, 200);
      assert.equal(r.latenciesUs.length, 200);
      assert.equal((agentA.calls.get("Invoke") ?? 0) - before, 200, "every request reached bench-a");
    }
    const s = await streamThroughput(port, "bench-echo", "/pixell.test.Echo/ServerStream", 4, 1024 * 1024);
    assert.equal(s.bytes, 4 * 1024 * 1024);
  }

  it("routes through nginx with the generated config", async function () {
    if (!installed("nginx")) this.skip();
    const port = await freePort();
    const conf = path.join(dir, "nginx.conf");
    writeFileSync(conf, nginxConfig({ listenPort: port, deployments, dir, version: parseNginxVersion(versionLine(bin("nginx"), ["-v"])) ?? [1, 22, 0], runningAsRoot: process.getuid?.() === 0 }));
    const nginx = children.start("nginx", bin("nginx"), ["-p", dir, "-c", conf, "-e", path.join(dir, "nginx-error.log"), "-g", "daemon off;"]);
    await exercise(port, nginx);
    const tree = processTree(nginx.pid);
    assert.ok(tree.length >= 2, "master and one worker");
    assert.ok(cpuTicks(tree) >= 0);
    assert.ok(peakRssBytes(tree) > 0);
  });

  it("resets a process's peak RSS to its current RSS, so a phase's peak is its own (proc(5) clear_refs \"5\")", async () => {
    // A child that touches 64 MiB, frees it, and waits: its peak stays high until reset.
    const child = children.start("rss-child", process.execPath, ["--expose-gc", "-e", "let b = Buffer.alloc(64 * 1024 * 1024, 1); b = null; global.gc(); console.log(JSON.stringify({ port: 0 })); setInterval(() => {}, 1000);"]);
    await waitForPortLine(child, 10_000);
    const pids = [child.pid];
    const before = peakRssBytes(pids);
    assert.ok(before > 64 * 1024 * 1024, `peak ${before} bytes includes the 64 MiB buffer`);
    assert.equal(resetPeakRss(pids), true);
    const after = peakRssBytes(pids);
    const { anon, file } = rssSplitBytes(pids);
    assert.ok(after < before - 32 * 1024 * 1024, `peak after reset ${after} < ${before} - 32 MiB`);
    assert.ok(after >= anon + file - 1024 * 1024, "the reset peak is at least the current RSS (anon + file)");
    assert.equal(resetPeakRss([2 ** 22 + 12345]), false, "a pid that does not exist is refused, not ignored");
  });

  it("routes through HAProxy with the generated config", async function () {
    if (!installed("haproxy")) this.skip();
    const port = await freePort();
    const mapPath = path.join(dir, "haproxy.map");
    writeFileSync(mapPath, haproxyMap(deployments));
    const conf = path.join(dir, "haproxy.cfg");
    writeFileSync(conf, haproxyConfig({ listenPort: port, deployments, mapPath }));
    const haproxy = children.start("haproxy", bin("haproxy"), ["-db", "-f", conf]);
    await exercise(port, haproxy);
  });

  it("reads a child's port line, counts its CPU and stops it", async () => {
    const child = children.start("busy", process.execPath, ["-e", "console.log(JSON.stringify({port: 1234})); const t = Date.now(); while (Date.now() - t < 300); setInterval(() => {}, 1000);"]);
    assert.equal(await waitForPortLine(child, 10_000), 1234);
    await new Promise((r) => setTimeout(r, 400));
    assert.ok(cpuTicks([child.pid]) > 0, "a busy loop of 300 ms shows as CPU time");
    const t = cpuTimes([child.pid]);
    assert.ok(t.user > 0, `a busy JavaScript loop is user time (proc(5) utime): ${JSON.stringify(t)}`);
    await children.stopAll();
    assert.ok(child.exited !== undefined);
  });

  it("reports a child that exits before printing its port", async () => {
    const child = children.start("dies", process.execPath, ["-e", "process.stderr.write('bad config'); process.exit(3)"]);
    await assert.rejects(waitForPortLine(child, 10_000), /dies exited before printing its port.*bad config/s);
  });
});
