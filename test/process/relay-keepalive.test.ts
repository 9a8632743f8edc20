/**
 * Dead agents noticed: HTTP/2 PING keepalive and the connect timeout on the router's agent
 * connections (router/keepalive.ts), on the engine ROUTER_ENGINE selects (npm test runs both).
 * Agents stop answering at the TCP level the real way: a process stopped with SIGSTOP (its kernel
 * still ACKs, nothing answers the PING), and an agent in a network namespace the test creates whose
 * link goes down (no FIN, no RST), as when a task vanishes. Short settings (1 s keepalive, 1 s
 * timeout, 1 s connect timeout) keep each case to a few seconds.
 *
 * Rules checked against their sources: gRFC A8 (github.com/grpc/proposal A8-client-side-keepalive.md:
 * keepalive only with calls open, timeout = no byte after a PING, PING on a new call after silence,
 * server strikes, "too_many_pings"); gRPC core's doc/keepalive.md (server defaults: 5 min between
 * PINGs without data, 2 strikes), exercised against Python grpcio; RFC 9113 section 6.7 (PING).
 */
import { strict as assert } from "node:assert";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http2 from "node:http2";
import * as os from "node:os";
import * as path from "node:path";
import { Writable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import pino from "pino";
import { startRouter, type RouterOptions, type RunningRouter } from "../../router";
import { ConfigError, parseRouterConfig, type RouterEngine } from "../../router/config";
import {
  FAST_PINGS_WITHOUT_DATA, isTooManyPings, KeepaliveIntervals, KeepaliveState, PING_ACK_BYTES, SPACED_PING_MS, throttledInterval,
} from "../../router/keepalive";
import { silentLogger } from "../../lib/log";
import { startChildAgent, type ChildAgent } from "../helpers/child-agent";
import { md, RawClient } from "../../fixtures/echo-server";
import { createAgentNetns, NetnsUnavailable, type AgentNetns } from "../helpers/netns";
import { eventually } from "../helpers/router-fixture";

const ENGINE: RouterEngine = process.env.ROUTER_ENGINE === "http2" ? "http2" : "frames";
const FAST: Partial<RouterOptions> = { agentKeepalive: { intervalMs: 1000, timeoutMs: 1000 }, agentConnectTimeoutMs: 1000 };
/** The callers' deadline: without keepalive, calls to a silent agent hang until it. */
const DEADLINE_MS = 60_000;
/** "Well before the deadline": the settings above fail calls in 2-3 s; this leaves room for a loaded machine. */
const WELL_BEFORE_MS = 15_000;
const { UNAVAILABLE, OK } = grpc.status;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface LogLine { level: string; msg: string; upstream?: string; reason?: string; keepaliveIntervalMs?: number }
interface Outcome { code: number; details: string; ms: number }

/** A router (this test's engine) with a file registry, a client, and its log lines. */
class Routed {
  private constructor(readonly router: RunningRouter, readonly client: RawClient, readonly lines: LogLine[], private readonly dir: string) {}

  static async start(entries: Array<{ id: string; host: string; port: number }>, extra: Partial<RouterOptions> = FAST): Promise<Routed> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pixell-keepalive-"));
    fs.writeFileSync(path.join(dir, "r.json"), JSON.stringify({ deployments: entries }));
    const lines: LogLine[] = [];
    // Labels as lib/log.ts writes them ("level":"warn").
    const logger = pino({ level: "warn", formatters: { level: (label) => ({ level: label }) } }, new Writable({ write(chunk: Buffer, _e, cb) { lines.push(JSON.parse(chunk.toString()) as LogLine); cb(); } }));
    const router = await startRouter({ listen: "127.0.0.1:0", admin: "127.0.0.1:0", registry: `file:${path.join(dir, "r.json")}`, logger, engine: ENGINE, ...extra });
    return new Routed(router, new RawClient(`127.0.0.1:${router.port}`), lines, dir);
  }

  /** One unary call with the long deadline; resolves with its status and how long it took. */
  async call(method: string, id: string, body = "x"): Promise<Outcome> {
    const t0 = performance.now();
    try {
      await this.client.unary(method, body, md({ "x-deployment-id": id }), { deadline: Date.now() + DEADLINE_MS });
      return { code: OK, details: "", ms: performance.now() - t0 };
    } catch (err) {
      const e = err as grpc.ServiceError;
      return { code: e.code, details: e.details, ms: performance.now() - t0 };
    }
  }

  /** pixell_router_upstream_connections from GET /metrics. */
  async connections(): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${this.router.adminPort}/metrics`)).text();
    const m = /^pixell_router_upstream_connections (\d+)$/m.exec(text);
    assert.ok(m, "pixell_router_upstream_connections is exported");
    return Number(m[1]);
  }

  /** The warn lines that declared a connection to `upstream` dead. */
  dead(upstream: string): LogLine[] {
    return this.lines.filter((l) => l.level === "warn" && l.msg === "agent connection declared dead" && l.upstream === upstream);
  }

  async close(): Promise<void> {
    this.client.close();
    await this.router.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function assertFailedFast(o: Outcome, what: string, reason: RegExp): void {
  assert.equal(o.code, UNAVAILABLE, `${what}: expected UNAVAILABLE, got ${grpc.status[o.code]} after ${Math.round(o.ms)} ms: ${o.details}`);
  assert.match(o.details, reason, what);
  assert.ok(o.ms < WELL_BEFORE_MS, `${what} failed only after ${Math.round(o.ms)} ms`);
}

describe(`relay keepalive: agents that stop answering (${ENGINE} engine)`, function () {
  this.timeout(DEADLINE_MS + 10_000);

  describe("an agent process stopped with SIGSTOP (127.0.0.1)", () => {
    let agent: ChildAgent | undefined;
    let r: Routed | undefined;
    before(async () => {
      agent = await startChildAgent("stopped");
      r = await Routed.start([{ id: "stopped", host: "127.0.0.1", port: agent.port }]);
    });
    after(async () => {
      agent?.process.kill("SIGCONT");
      await agent?.kill();
      await r?.close();
    });

    it("fails in-flight and new calls with UNAVAILABLE, drops the connection, logs a warn, and reconnects after SIGCONT", async () => {
      const upstream = `127.0.0.1:${agent!.port}`;
      assert.equal((await r!.call("Unary", "stopped")).code, OK);
      assert.equal(await r!.connections(), 1);

      agent!.process.kill("SIGSTOP");
      const inflight = r!.call("Hang", "stopped");
      await sleep(300);
      const next = r!.call("Unary", "stopped");
      const [a, b] = await Promise.all([inflight, next]);
      assertFailedFast(a, "in-flight call", /keepalive: no answer to a PING/);
      assertFailedFast(b, "new call on the silent connection", /keepalive: no answer to a PING/);
      await eventually(async () => (await r!.connections()) === 0, 3000, "the dead connection to leave the pool");
      assert.ok(r!.dead(upstream).some((l) => /keepalive/.test(l.reason ?? "")), `a warn line names ${upstream}: ${JSON.stringify(r!.lines)}`);

      // Still stopped: its kernel completes the TCP handshake, but no SETTINGS ACK ever comes back.
      const attempt = await r!.call("Unary", "stopped");
      assertFailedFast(attempt, "call on a fresh connection to the stopped agent", /no HTTP\/2 handshake .*connect timeout/);
      assert.ok(r!.dead(upstream).some((l) => /connect timeout/.test(l.reason ?? "")));
      await eventually(async () => (await r!.connections()) === 0, 3000, "the timed-out attempt to leave the pool");

      agent!.process.kill("SIGCONT");
      const back = await r!.call("Unary", "stopped");
      assert.equal(back.code, OK, back.details);
      assert.equal(await r!.connections(), 1);
      process.stderr.write(`      SIGSTOP -> UNAVAILABLE: in-flight ${Math.round(a.ms)} ms, new ${Math.round(b.ms)} ms; handshake timeout ${Math.round(attempt.ms)} ms\n`);
    });
  });

  describe("an agent in a network namespace whose link goes down (no FIN, no RST)", function () {
    let ns: AgentNetns | undefined;
    let agent: ChildAgent | undefined;
    let r: Routed | undefined;
    let upstream = "";
    before(async function () {
      try {
        ns = createAgentNetns();
      } catch (err) {
        if (!(err instanceof NetnsUnavailable)) throw err;
        process.stderr.write(`      skipped: ${err.message}\n`);
        return this.skip();
      }
      agent = await startChildAgent("far", 0, { host: ns.agentAddress, netns: ns.name });
      upstream = `${ns.agentAddress}:${agent.port}`;
      r = await Routed.start([
        { id: "far", host: ns.agentAddress, port: agent.port },
        { id: "void", host: ns.blackholeAddress, port: agent.port },
      ]);
    });
    after(async () => {
      try {
        await agent?.kill();
        await r?.close();
      } finally {
        ns?.remove();
      }
    });

    it("fails in-flight and new calls with UNAVAILABLE well before their deadline, drops the connection and logs a warn", async () => {
      assert.equal((await r!.call("Unary", "far")).code, OK);
      assert.equal(await r!.connections(), 1);
      ns!.setLink(false);
      const inflight = r!.call("Hang", "far");
      await sleep(300);
      const next = r!.call("Unary", "far");
      const [a, b] = await Promise.all([inflight, next]);
      assertFailedFast(a, "in-flight call", /keepalive: no answer to a PING/);
      assertFailedFast(b, "new call on the silent connection", /keepalive: no answer to a PING/);
      await eventually(async () => (await r!.connections()) === 0, 3000, "the dead connection to leave the pool");
      const line = r!.dead(upstream).find((l) => /keepalive/.test(l.reason ?? ""));
      assert.ok(line, `a warn line names ${upstream}: ${JSON.stringify(r!.lines)}`);
      process.stderr.write(`      link down -> UNAVAILABLE: in-flight ${Math.round(a.ms)} ms, new ${Math.round(b.ms)} ms (deadline ${DEADLINE_MS} ms)\n`);
    });

    it("while the link is down, a new connection attempt (SYN never answered) fails with the connect timeout", async () => {
      const o = await r!.call("Unary", "far");
      assertFailedFast(o, "call while the link is down", /TCP connect did not complete within 1000 ms \(connect timeout\)/);
      assert.ok(r!.dead(upstream).some((l) => /connect timeout/.test(l.reason ?? "")));
      await eventually(async () => (await r!.connections()) === 0, 3000, "the attempt to leave the pool");
    });

    it("when the link comes back, new calls open a fresh connection and succeed", async () => {
      ns!.setLink(true);
      const o = await r!.call("Unary", "far", "again");
      assert.equal(o.code, OK, o.details);
      assert.equal(await r!.connections(), 1);
    });

    it("an address whose SYNs are dropped fails with the connect timeout and frees the pool slot", async () => {
      const before = await r!.connections();
      const o = await r!.call("Unary", "void");
      assertFailedFast(o, "call to a blackholed address", /connect timeout/);
      assert.ok(r!.dead(`${ns!.blackholeAddress}:${agent!.port}`).length >= 1);
      await eventually(async () => (await r!.connections()) === before, 3000, "the attempt to leave the pool");
    });
  });
});

// ---- Staying inside what agents accept (gRFC A8 server enforcement) ----

type StreamScript = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void;

/** A Node http2 agent that records when each PING arrives (ms after the session's first stream). */
async function startPingRecorder(script: StreamScript, onPing?: (session: http2.ServerHttp2Session) => void): Promise<{ port: number; pings: number[][]; close(): Promise<void> }> {
  const server = http2.createServer();
  const pings: number[][] = [];
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("error", () => undefined);
    const mine: number[] = [];
    pings.push(mine);
    let started = -1;
    s.on("stream", () => { if (started < 0) started = performance.now(); });
    s.on("ping", () => {
      mine.push(started < 0 ? -1 : performance.now() - started);
      onPing?.(s);
    });
  });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => undefined);
    script(stream, headers);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as { port: number }).port,
    pings,
    close: () => new Promise<void>((r) => { sessions.forEach((s) => s.destroy()); server.close(() => r()); }),
  };
}

describe(`relay keepalive: PINGs agents accept (${ENGINE} engine)`, function () {
  this.timeout(30_000);
  let r: Routed | undefined;
  let agent: Awaited<ReturnType<typeof startPingRecorder>> | undefined;
  afterEach(async () => {
    await r?.close();
    await agent?.close();
    r = undefined;
    agent = undefined;
  });

  it("PINGs at most twice while the agent sends nothing, and again after the agent sends HEADERS", async () => {
    let headersAt = 0;
    // Silent 3 s, response headers, silent 3 s, then the answer.
    agent = await startPingRecorder((stream) => {
      stream.resume();
      const t0 = performance.now();
      setTimeout(() => {
        if (stream.destroyed) return;
        headersAt = performance.now() - t0;
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        setTimeout(() => { if (!stream.destroyed) stream.end(Buffer.from([0, 0, 0, 0, 2, 0x6f, 0x6b])); }, 3000);
      }, 3000);
    });
    r = await Routed.start([{ id: "quiet", host: "127.0.0.1", port: agent.port }], { agentKeepalive: { intervalMs: 500, timeoutMs: 1000 } });
    const o = await r.call("Unary", "quiet");
    assert.equal(o.code, OK, o.details);
    const pings = agent.pings.flat();
    const before = pings.filter((t) => t < headersAt);
    const after = pings.filter((t) => t >= headersAt);
    assert.equal(before.length, FAST_PINGS_WITHOUT_DATA, `PINGs in the first silent 3 s: ${before.map(Math.round).join(", ")}`);
    assert.equal(after.length, FAST_PINGS_WITHOUT_DATA, `PINGs after the headers: ${after.map(Math.round).join(", ")}`);
    // A8: keepalive time is measured from the last byte read, never sooner than the interval.
    assert.ok(before[0]! >= 450, `first PING ${Math.round(before[0]!)} ms after the call started`);
  });

  it("sends a new call on a fresh connection when the pooled one is silent and out of PINGs the agent would accept", async () => {
    // Hang: never answers; anything else: "ok" at once.
    agent = await startPingRecorder((stream, headers) => {
      stream.resume();
      if (String(headers[":path"]).endsWith("/Hang")) return;
      stream.on("end", () => {
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        stream.end(Buffer.from([0, 0, 0, 0, 2, 0x6f, 0x6b]));
      });
    });
    r = await Routed.start([{ id: "quiet", host: "127.0.0.1", port: agent.port }], { agentKeepalive: { intervalMs: 500, timeoutMs: 1000 } });
    const hang = r.call("Hang", "quiet");
    await eventually(() => (agent!.pings[0]?.length ?? 0) >= FAST_PINGS_WITHOUT_DATA, 5000, "two PINGs on the silent connection");
    await sleep(700);
    const o = await r.call("Unary", "quiet");
    assert.equal(o.code, OK, o.details);
    assert.equal(agent.pings.length, 2, "the call went to a second connection");
    assert.equal(agent.pings[0]!.length, FAST_PINGS_WITHOUT_DATA, "no third PING on the silent one");
    await r.close();
    r = undefined;
    await hang; // ends with the router
  });

  it("doubles the interval for new connections to an agent that answered GOAWAY too_many_pings, and says so at warn", async () => {
    // A strict agent: its first strike ends the connection, as A8's servers do at the third.
    agent = await startPingRecorder(() => undefined, (session) => {
      session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 0, Buffer.from("too_many_pings"));
      setTimeout(() => session.destroy(), 20);
    });
    r = await Routed.start([{ id: "strict", host: "127.0.0.1", port: agent.port }], { agentKeepalive: { intervalMs: 500, timeoutMs: 1000 } });
    const first = await r.call("Hang", "strict");
    assert.equal(first.code, UNAVAILABLE, first.details);
    const warned = r.lines.find((l) => l.level === "warn" && /too_many_pings/.test(l.msg));
    assert.ok(warned, `a warn line about too_many_pings: ${JSON.stringify(r.lines)}`);
    assert.equal(warned.keepaliveIntervalMs, 1000);
    assert.equal(warned.upstream, `127.0.0.1:${agent.port}`);
    const second = await r.call("Hang", "strict");
    assert.equal(second.code, UNAVAILABLE, second.details);
    assert.equal(agent.pings.length, 2, "two connections");
    assert.ok(agent.pings[1]![0]! >= 900, `the second connection's first PING came ${Math.round(agent.pings[1]![0]!)} ms after its call (interval now 1000 ms)`);
  });
});

/** The first python that can import grpc (as test/process/interop-python.test.ts finds it). */
function findPythonWithGrpc(): string | undefined {
  for (const candidate of [process.env.PYTHON, "python3", "/usr/bin/python3"]) {
    if (!candidate) continue;
    if (spawnSync(candidate, ["-c", "import grpc"], { stdio: "ignore", timeout: 10_000 }).status === 0) return candidate;
  }
  return undefined;
}

describe(`relay keepalive: a Python grpcio agent with gRPC's default ping policy (${ENGINE} engine)`, function () {
  this.timeout(30_000);
  let py: ChildProcess | undefined;
  let port = 0;
  before(async function () {
    const python = findPythonWithGrpc();
    if (!python) {
      process.stderr.write("      skipped: no python3 can import grpc (Debian: apt-get install -y python3-grpcio)\n");
      return this.skip();
    }
    py = spawn(python, [path.join(__dirname, "..", "interop", "grpcio_silent_agent.py")], { stdio: ["ignore", "pipe", "inherit"] });
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the grpcio agent did not start in 15 s")), 15_000);
      py!.stdout!.once("data", (b: Buffer) => { clearTimeout(timer); resolve((JSON.parse(b.toString()) as { port: number }).port); });
    });
  });
  after(() => { py?.kill("SIGKILL"); });

  it("cuts off a client that PINGs every second during a silent call (the rule the router must respect is real)", async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => undefined);
    const goaway = new Promise<{ code: number; debug: string }>((resolve) => session.once("goaway", (code, _last, data?: Buffer) => resolve({ code, debug: data?.toString() ?? "" })));
    const stream = session.request({ ":method": "POST", ":path": "/pixell.test.Echo/Silent", "content-type": "application/grpc", te: "trailers" });
    stream.on("error", () => undefined);
    stream.resume();
    stream.end(Buffer.from([0, 0, 0, 0, 1, 0x38])); // "8": silent for 8 s
    const pinger = setInterval(() => { if (!session.destroyed) session.ping(() => undefined); }, 1000);
    try {
      const g = await goaway;
      assert.ok(isTooManyPings(g.code, g.debug), `GOAWAY ${g.code} ${g.debug}`);
    } finally {
      clearInterval(pinger);
      session.destroy();
    }
  });

  it("a call silent for 5 s through the router with a 1 s keepalive succeeds: the router stays under the strike limit", async () => {
    const r = await Routed.start([{ id: "py", host: "127.0.0.1", port }]);
    try {
      const o = await r.call("Silent", "py", "5");
      assert.equal(o.code, OK, o.details);
      assert.deepEqual(r.lines.filter((l) => /too_many_pings|declared dead/.test(l.msg)), []);
    } finally {
      await r.close();
    }
  });
});

// ---- The decisions, pure ----

describe("relay keepalive: decisions (pure)", () => {
  const opts = { intervalMs: 1000, timeoutMs: 500 };

  it("never PINGs a connection without calls, however long it is silent (A8: no keepalive without calls)", () => {
    const k = new KeepaliveState(opts, 0, 100);
    assert.deepEqual(k.check(10 * 60_000, 100, false), { action: "wait", at: undefined });
  });

  it("PINGs after an interval without a byte while calls are open; bytes read push it back (dated to the poll before)", () => {
    const k = new KeepaliveState(opts, 0, 100);
    assert.deepEqual(k.check(600, 100, true), { action: "wait", at: 850 }, "polled every quarter interval");
    assert.equal(k.check(800, 150, true).action, "wait"); // read between the polls at 600 and 800
    assert.deepEqual(k.check(1599, 150, true), { action: "wait", at: 1600 });
    assert.deepEqual(k.check(1600, 150, true), { action: "ping" });
  });

  it("a PING answered by any byte keeps the connection; none within the timeout declares it dead, with the reason", () => {
    const k = new KeepaliveState(opts, 0, 100);
    k.pinged(1000);
    assert.equal(k.check(1400, 100, true).action, "wait");
    assert.equal(k.check(1450, 100 + PING_ACK_BYTES, true).action, "wait");
    k.pinged(2500);
    assert.equal(k.check(2999, 100 + PING_ACK_BYTES, true).action, "wait");
    const d = k.check(3000, 100 + PING_ACK_BYTES, true);
    assert.equal(d.action, "dead");
    assert.match((d as { reason: string }).reason, /no answer to a PING within 500 ms \(nothing read for ~1600 ms\)/);
  });

  it("sends two fast PINGs while only ACKs come back, then spaces them 5 minutes apart, until the agent sends frames of its own", () => {
    const k = new KeepaliveState(opts, 0, 0);
    let bytes = 0;
    let now = 0;
    for (let i = 0; i < FAST_PINGS_WITHOUT_DATA; i++) {
      now += 1000;
      assert.equal(k.check(now, bytes, true).action, "ping", `fast PING ${i + 1}`);
      k.pinged(now);
      bytes += PING_ACK_BYTES;
      assert.equal(k.check(now + 10, bytes, true).action, "wait");
      now += 10;
    }
    assert.ok(k.throttled);
    const lastPing = now - 10;
    assert.equal(k.check(now + 5000, bytes, true).action, "wait");
    assert.equal(k.check(lastPing + SPACED_PING_MS - 1, bytes, true).action, "wait");
    assert.equal(k.check(lastPing + SPACED_PING_MS, bytes, true).action, "ping");
    // The agent sends HEADERS (more than an ACK): servers forgive, fast PINGs are allowed again.
    const k2 = new KeepaliveState(opts, 0, 0);
    k2.pinged(1000);
    k2.check(1010, PING_ACK_BYTES, true);
    k2.pinged(2010);
    k2.check(2020, 2 * PING_ACK_BYTES, true);
    assert.ok(k2.throttled);
    k2.check(2500, 2 * PING_ACK_BYTES + 40, true);
    assert.ok(!k2.throttled);
    assert.equal(k2.check(3500, 2 * PING_ACK_BYTES + 40, true).action, "ping");
  });

  it("a call on a connection silent for an interval PINGs at once, or goes to a fresh connection when PINGs are used up (A8)", () => {
    const k = new KeepaliveState(opts, 0, 0);
    assert.equal(k.newCall(500, 0), "proceed");
    assert.equal(k.newCall(1500, 0), "ping");
    k.pinged(1500);
    assert.equal(k.newCall(1600, 0), "proceed", "a PING is already out");
    k.check(1700, PING_ACK_BYTES, true);
    assert.equal(k.check(2800, PING_ACK_BYTES, true).action, "ping");
    k.pinged(2800);
    k.check(2900, 2 * PING_ACK_BYTES, true);
    assert.equal(k.newCall(3000, 2 * PING_ACK_BYTES), "proceed", "read within the last 200 ms");
    assert.equal(k.newCall(4000, 2 * PING_ACK_BYTES), "fresh");
    assert.equal(k.newCall(2800 + SPACED_PING_MS, 2 * PING_ACK_BYTES), "ping");
  });

  it("doubles the interval per agent on GOAWAY ENHANCE_YOUR_CALM too_many_pings, and only then", () => {
    assert.ok(isTooManyPings(0xb, "too_many_pings"));
    assert.ok(!isTooManyPings(0xb, "other"));
    assert.ok(!isTooManyPings(0, "too_many_pings"));
    assert.equal(throttledInterval(20_000), 40_000);
    assert.equal(throttledInterval(3_000_000), 3_600_000);
    const iv = new KeepaliveIntervals({ intervalMs: 20_000, timeoutMs: 10_000 }, silentLogger);
    iv.onGoaway("10.0.0.1:1", 0, "");
    iv.onGoaway("10.0.0.1:1", 0xb, "too_many_pings");
    iv.onGoaway("10.0.0.1:1", 0xb, "too_many_pings");
    assert.deepEqual(iv.forAgent("10.0.0.1:1"), { intervalMs: 80_000, timeoutMs: 10_000 });
    assert.deepEqual(iv.forAgent("10.0.0.2:1"), { intervalMs: 20_000, timeoutMs: 10_000 });
    assert.equal(new KeepaliveIntervals({ intervalMs: 0, timeoutMs: 10_000 }, silentLogger).forAgent("10.0.0.1:1"), undefined, "0: off");
  });

  it("config: 20 s / 10 s keepalive and a 3 s connect timeout by default; flags and environment; bad values named", () => {
    const d = parseRouterConfig([], { ROUTER_REGISTRY: "file:/r.json" });
    assert.deepEqual(d.agentKeepalive, { intervalMs: 20_000, timeoutMs: 10_000 });
    assert.equal(d.agentConnectTimeoutMs, 3000);
    const c = parseRouterConfig(["--registry", "file:/r.json", "--agent-keepalive-ms", "0", "--agent-connect-timeout-ms", "500"], { ROUTER_AGENT_KEEPALIVE_TIMEOUT_MS: "5000" });
    assert.deepEqual(c.agentKeepalive, { intervalMs: 0, timeoutMs: 5000 });
    assert.equal(c.agentConnectTimeoutMs, 500);
    const bad: Array<[string[], RegExp]> = [
      [["--agent-keepalive-ms", "500"], /--agent-keepalive-ms \(ROUTER_AGENT_KEEPALIVE_MS\) must be 0 \(off\) or a whole number from 1000 to 3600000, got "500"/],
      [["--agent-keepalive-timeout-ms", "ten"], /--agent-keepalive-timeout-ms \(ROUTER_AGENT_KEEPALIVE_TIMEOUT_MS\) must be a whole number from 1000 to 600000/],
      [["--agent-connect-timeout-ms", "50"], /--agent-connect-timeout-ms \(ROUTER_AGENT_CONNECT_TIMEOUT_MS\) must be a whole number from 100 to 600000, got "50"/],
    ];
    for (const [argv, message] of bad) {
      assert.throws(() => parseRouterConfig(["--registry", "file:/r.json", ...argv], {}), (e: unknown) => e instanceof ConfigError && message.test(e.message), argv.join(" "));
    }
  });
});
