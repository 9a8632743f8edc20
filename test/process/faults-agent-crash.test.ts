/**
 * Faults: an agent process killed (SIGKILL) in the middle of server-, client- and bidi-streams.
 * The client must get UNAVAILABLE within 2 s, the router must keep serving another agent,
 * and the router's open file descriptors must return to their level before the call.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { md, RawClient, startEchoServer, type EchoServer } from "../../fixtures/echo-server";
import { eventually } from "../helpers/router-fixture";
import { startChildAgent, type ChildAgent } from "../helpers/child-agent";
import { fdCount, startChildRouter, type ChildRouter } from "../../fixtures/child-router";

/** Limit for "promptly": from the agent's death to the client's error. */
const PROMPT_MS = 2000;
const call = (id: string): grpc.Metadata => md({ "x-deployment-id": id });

describe("faults: agent killed mid-stream (router in a child process)", function () {
  this.timeout(30_000);
  let dir: string;
  let other: EchoServer;
  const victims = new Map<string, ChildAgent>();
  let router: ChildRouter;
  let client: RawClient;
  let baselineFds: number;
  /** Time from kill to the client's error, by streaming kind, for docs/faults.md. */
  const measured: Record<string, number> = {};

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pixell-faults-crash-"));
    other = await startEchoServer({ name: "other" });
    const kinds = ["server-stream", "client-stream", "bidi"];
    const agents = await Promise.all(kinds.map((k) => startChildAgent(k)));
    kinds.forEach((k, i) => victims.set(k, agents[i]!));
    const reg = path.join(dir, "registry.json");
    fs.writeFileSync(reg, JSON.stringify({ deployments: [{ id: "other", port: other.port }, ...kinds.map((k) => ({ id: k, port: victims.get(k)!.port }))] }));
    router = await startChildRouter({ registry: `file:${reg}` });
    client = new RawClient(`127.0.0.1:${router.port}`);
    // Warm up: the client's connection and the router's session to "other" exist before the baseline.
    assert.equal((await client.unary("Unary", "warm", call("other"))).body.toString(), "other:warm");
    baselineFds = fdCount(router.pid);
  });
  after(async () => {
    client?.close();
    await router?.kill();
    await Promise.all([...victims.values()].map((v) => v.kill()));
    await other?.stop(true);
    fs.rmSync(dir, { recursive: true, force: true });
    if (Object.keys(measured).length > 0) process.stderr.write(`      kill-to-error ms: ${JSON.stringify(measured)}\n`);
  });

  /** After a crash: another agent still answers, and the router's fds come back to the baseline. */
  async function routerRecovered(): Promise<void> {
    assert.equal((await client.unary("Unary", "still-there", call("other"), { deadline: Date.now() + 2000 })).body.toString(), "other:still-there");
    await eventually(() => fdCount(router.pid) <= baselineFds, 3000, `router fds back to ${baselineFds}`);
    assert.equal(router.exitCode(), undefined, "router is still running");
  }

  it("server stream: client gets UNAVAILABLE promptly, router serves others, fds return to baseline", async () => {
    const stream = client.serverStream("100000000,64", call("server-stream"));
    const ended = new Promise<grpc.ServiceError>((resolve, reject) => {
      stream.on("error", resolve);
      stream.on("end", () => reject(new Error("stream ended without an error")));
    });
    await new Promise<void>((resolve) => stream.once("data", () => resolve()));
    assert.ok(fdCount(router.pid) > baselineFds, "the router holds a connection to the agent");
    const t0 = performance.now();
    await victims.get("server-stream")!.kill();
    const err = await ended;
    measured.serverStream = Math.round(performance.now() - t0);
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    assert.match(err.details, /agent for deployment server-stream at 127\.0\.0\.1:\d+ failed/);
    assert.ok(measured.serverStream < PROMPT_MS, `error after ${measured.serverStream} ms`);
    await routerRecovered();
  });

  it("client stream: client gets UNAVAILABLE promptly, router serves others, fds return to baseline", async () => {
    let resolveErr: (e: grpc.ServiceError | null) => void = () => undefined;
    const result = new Promise<grpc.ServiceError | null>((r) => { resolveErr = r; });
    const stream = client.clientStream(call("client-stream"), (err) => resolveErr(err));
    for (let i = 0; i < 10; i++) stream.write(Buffer.alloc(1024, i));
    // The agent has the call once the router holds a connection to it.
    await eventually(() => fdCount(router.pid) > baselineFds, 3000, "router to connect to the agent");
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    await victims.get("client-stream")!.kill();
    const err = await result;
    measured.clientStream = Math.round(performance.now() - t0);
    assert.ok(err, "the call failed");
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    assert.ok(measured.clientStream < PROMPT_MS, `error after ${measured.clientStream} ms`);
    stream.end();
    await routerRecovered();
  });

  it("bidi stream: client gets UNAVAILABLE promptly, router serves others, fds return to baseline", async () => {
    const stream = client.bidi(call("bidi"));
    const ended = new Promise<grpc.ServiceError>((resolve, reject) => {
      stream.on("error", resolve);
      stream.on("end", () => reject(new Error("stream ended without an error")));
    });
    const echoed = new Promise<Buffer>((resolve) => stream.once("data", resolve));
    stream.write(Buffer.from("ping"));
    assert.equal((await echoed).toString(), "bidi:ping");
    const t0 = performance.now();
    await victims.get("bidi")!.kill();
    const err = await ended;
    measured.bidi = Math.round(performance.now() - t0);
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    assert.ok(measured.bidi < PROMPT_MS, `error after ${measured.bidi} ms`);
    stream.end();
    await routerRecovered();
  });
});
