/**
 * Bad input on the router's gRPC port (router in a child process): bytes that are not HTTP/2,
 * HTTP/1.1, an HTTP/2 preface followed by garbage, huge headers, malformed grpc-timeout, ids made
 * to look like paths, hosts or ports. Each must get a protocol-level refusal; the router must not
 * crash, and a well-behaved client calling throughout must keep getting OK answers.
 */
import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as http2 from "node:http2";
import * as os from "node:os";
import * as path from "node:path";
import { startEchoServer, type EchoServer } from "../../fixtures/echo-server";
import { eventually } from "../helpers/router-fixture";
import { fdCount, startChildRouter, type ChildRouter } from "../../fixtures/child-router";
import { CLIENT_PREFACE, findGoaway, frame, FRAME, H2_ERROR, parseFrames, rawExchange } from "../helpers/raw-h2";
import { startSteadyClient, type SteadyClient } from "../helpers/steady-client";

interface RawAnswer { headers: http2.IncomingHttpHeaders; rstCode: number }

describe("bad input: protocol (router in a child process)", function () {
  this.timeout(30_000);
  let dir: string;
  let agent: EchoServer;
  let steadyAgent: EchoServer;
  let router: ChildRouter;
  let steady: SteadyClient;
  let session: http2.ClientHttp2Session;
  let baselineFds: number;

  /** One request on a raw HTTP/2 session (node's client, which sends what gRPC libraries refuse to). */
  const request = (headers: http2.OutgoingHttpHeaders, s: http2.ClientHttp2Session = session): Promise<RawAnswer> => new Promise((resolve, reject) => {
    const req = s.request({ ":method": "POST", ":path": "/pixell.test.Echo/Unary", "content-type": "application/grpc", te: "trailers", ...headers });
    let got: http2.IncomingHttpHeaders = {};
    req.on("response", (h) => { got = h; });
    req.on("trailers", (t) => { got = { ...got, ...t }; });
    req.on("error", () => undefined); // an RST_STREAM shows as rstCode on close
    req.on("close", () => resolve({ headers: got, rstCode: req.rstCode ?? 0 }));
    req.on("data", () => undefined);
    req.end(Buffer.from([0, 0, 0, 0, 1, 0x78])); // one gRPC message: "x"
    setTimeout(() => reject(new Error("no answer in 5 s")), 5000).unref();
  });
  const status = (a: RawAnswer): number => Number(a.headers["grpc-status"]);
  const message = (a: RawAnswer): string => decodeURIComponent(String(a.headers["grpc-message"] ?? ""));

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pixell-badinput-"));
    agent = await startEchoServer({ name: "alpha" });
    // The steady client calls its own agent, so "the agent got none of these calls" can be checked on alpha.
    steadyAgent = await startEchoServer({ name: "steady" });
    fs.writeFileSync(path.join(dir, "r.json"), JSON.stringify({ deployments: [{ id: "alpha", port: agent.port }, { id: "steady", port: steadyAgent.port }] }));
    router = await startChildRouter({ registry: `file:${path.join(dir, "r.json")}` });
    session = http2.connect(`http://127.0.0.1:${router.port}`, { maxSendHeaderBlockLength: 4 << 20 } as http2.ClientSessionOptions);
    session.on("error", () => undefined);
    assert.equal(status(await request({ "x-deployment-id": "alpha" })), 0);
    steady = startSteadyClient(router.port, "steady");
    await eventually(() => steady.ok > 0, 5000, "the steady client's first answer");
    baselineFds = fdCount(router.pid);
  });
  after(async () => {
    await steady?.stop();
    session?.destroy();
    await router?.kill();
    await agent?.stop(true);
    await steadyAgent?.stop(true);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("random bytes: GOAWAY and the connection closed, for 20 connections of 4 KiB each", async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => rawExchange(router.port, randomBytes(4096))));
    for (const a of answers) {
      assert.ok(a.closedByPeer, "the router closed the connection");
      const goaway = findGoaway(a.bytes);
      assert.ok(goaway, "the router sent GOAWAY");
      assert.notEqual(goaway.errorCode, H2_ERROR.NO_ERROR);
    }
  });

  it("an HTTP/1.1 request: refused (HTTP/1.1 400 from the frame relay, GOAWAY from Node's http2) and the connection closed", async () => {
    const a = await rawExchange(router.port, Buffer.from("GET /pixell.test.Echo/Unary HTTP/1.1\r\nHost: router\r\nX-Deployment-Id: alpha\r\n\r\n"));
    assert.ok(a.closedByPeer);
    const text = a.bytes.toString("latin1");
    if (text.startsWith("HTTP/1.1 ")) {
      assert.match(text, /^HTTP\/1\.1 400 /);
      assert.match(text, /use a gRPC client/);
    } else {
      const goaway = findGoaway(a.bytes);
      assert.ok(goaway, "a GOAWAY");
      assert.notEqual(goaway.errorCode, H2_ERROR.NO_ERROR);
    }
  });

  it("64 KiB of headers (one value, and 64 of 1 KiB): answered with a gRPC status, not a crash", async () => {
    const one = await request({ "x-deployment-id": "alpha", "x-big": "v".repeat(64 * 1024) });
    const many: Record<string, string> = { "x-deployment-id": "alpha" };
    for (let i = 0; i < 64; i++) many[`x-h${i}`] = "w".repeat(1024);
    const sixtyFour = await request(many);
    for (const a of [one, sixtyFour]) {
      // grpc-js agents allow 8 KiB of metadata by default; what matters here is a clean gRPC answer.
      assert.equal(a.rstCode, 0);
      assert.ok(Number.isInteger(status(a)), `a grpc-status: ${JSON.stringify(a.headers)}`);
    }
    process.stderr.write(`      64 KiB in one header: grpc-status ${status(one)} "${message(one).slice(0, 100)}"; ` +
      `64 x 1 KiB: grpc-status ${status(sixtyFour)} "${message(sixtyFour).slice(0, 100)}"\n`);
  });
  it("64 KiB of headers: RESOURCE_EXHAUSTED naming the metadata limit, not UNAVAILABLE blaming the agent", async () => {
    const a = await request({ "x-deployment-id": "alpha", "x-big": "v".repeat(64 * 1024) });
    assert.equal(status(a), 8);
    assert.doesNotMatch(message(a), /agent for deployment/);
  });

  it("a malformed grpc-timeout: INVALID_ARGUMENT naming the header, the agent never called", async () => {
    agent.lastMetadata.clear();
    for (const bad of ["soon", "1", "S", "123456789S", "-1S", "1.5S", "1s", "10 S", "0x10m", "١S"]) {
      const a = await request({ "x-deployment-id": "alpha", "grpc-timeout": bad });
      assert.equal(status(a), 3, `grpc-timeout ${JSON.stringify(bad)}: ${JSON.stringify(a.headers)}`);
      assert.match(message(a), /malformed grpc-timeout/);
    }
    assert.equal(agent.lastMetadata.size, 0);
  });

  it("ids shaped like paths, hosts, ports or URLs: INVALID_ARGUMENT, or NOT_FOUND when the shape is a legal id; never routed", async () => {
    agent.lastMetadata.clear();
    const invalid = ["../alpha", "/alpha", "alpha/../../etc/passwd", "127.0.0.1:50054", "localhost:50052", "alpha:50054", "[::1]:50054",
      "http://127.0.0.1:50054/", "alpha@127.0.0.1", "alpha%2F..", "alpha?x=1", "alpha#x", "al pha", ".alpha", "-alpha", "_alpha",
      "alpha\\..\\x", "a".repeat(129), "é", "alpha\t"];
    for (const id of invalid) {
      const a = await request({ "x-deployment-id": id });
      // A trailing tab makes the field value malformed (RFC 9113 8.2.1): the frame relay resets the stream
      // with PROTOCOL_ERROR as the RFC says; Node's http2 drops the field, and the id is then missing.
      if (id.endsWith("\t") && a.rstCode === 1) continue;
      assert.equal(status(a), 3, `${JSON.stringify(id)}: ${JSON.stringify(a.headers)}`);
      assert.match(message(a), /(malformed|missing) x-deployment-id/);
      assert.ok(message(a).length < 250, "the refusal does not echo the whole input");
    }
    // Legal ids that merely look like hosts are looked up, not connected to.
    for (const id of ["127.0.0.1", "localhost", "169.254.169.254", "alpha.internal", "50054", "alpha..", "ALPHA"]) {
      const a = await request({ "x-deployment-id": id });
      assert.equal(status(a), 5, `${JSON.stringify(id)}: ${JSON.stringify(a.headers)}`);
    }
    assert.equal(agent.lastMetadata.size, 0, "the agent got none of these calls");
  });

  it("the router is still up, its fds back to baseline, and the steady client never failed", async () => {
    assert.equal(router.exitCode(), undefined);
    await eventually(() => fdCount(router.pid) <= baselineFds, 5000, `router fds back to ${baselineFds}`);
    assert.equal((await router.admin("/healthz")).status, 200);
    process.stderr.write(`      steady client: ${steady.ok} OK, slowest ${Math.round(steady.maxMs)} ms, failures ${steady.failures.length}\n`);
    // Answered again after all the abuse above, and never failed meanwhile.
    const okSoFar = steady.ok;
    await eventually(() => steady.ok > okSoFar, 5000, "another answer to the steady client");
    assert.deepEqual(steady.failures, []);
  });
});

describe("bad input: an HTTP/2 preface followed by garbage (router in a child process)", function () {
  this.timeout(20_000);
  let dir: string;
  let router: ChildRouter;
  let baselineFds: number;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pixell-badinput-h2-"));
    fs.writeFileSync(path.join(dir, "r.json"), JSON.stringify({ deployments: [] }));
    // A short idle timeout, so connections Node stopped reading are seen released within the test.
    router = await startChildRouter({ registry: `file:${path.join(dir, "r.json")}`, extraArgs: ["--idle-timeout-ms", "1000"] });
    baselineFds = fdCount(router.pid);
  });
  after(async () => {
    await router?.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("an HTTP/2 preface followed by garbage: GOAWAY FRAME_SIZE_ERROR, no stream served", async () => {
    const settings = frame(FRAME.SETTINGS, 0, 0, Buffer.alloc(0));
    const a = await rawExchange(router.port, Buffer.concat([CLIENT_PREFACE, settings, randomBytes(16).fill(0xff, 0, 3), randomBytes(512)]), 1000);
    const goaway = findGoaway(a.bytes);
    assert.ok(goaway, "the router sent GOAWAY");
    assert.equal(goaway.errorCode, H2_ERROR.FRAME_SIZE_ERROR);
    assert.ok(!parseFrames(a.bytes).some((f) => f.type === FRAME.HEADERS), "no response headers");
  });

  it("an HTTP/2 preface and a HEADERS frame with garbage for HPACK: GOAWAY COMPRESSION_ERROR", async () => {
    const settings = frame(FRAME.SETTINGS, 0, 0, Buffer.alloc(0));
    const headers = frame(FRAME.HEADERS, 0x4 | 0x1, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x3f]));
    const a = await rawExchange(router.port, Buffer.concat([CLIENT_PREFACE, settings, headers]), 1000);
    const goaway = findGoaway(a.bytes);
    assert.ok(goaway, "the router sent GOAWAY");
    assert.equal(goaway.errorCode, 9, `COMPRESSION_ERROR expected, got ${goaway.errorCode}`);
  });
  it("releases those connections once the client has gone (fds back to baseline)", async () => {
    await eventually(() => fdCount(router.pid) <= baselineFds, 3000, `router fds back to ${baselineFds}`);
  });

  it("is still running and healthy", async () => {
    assert.equal(router.exitCode(), undefined);
    assert.equal((await router.admin("/healthz")).status, 200);
  });
});
