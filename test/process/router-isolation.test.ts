/**
 * Streams that share a connection are isolated from each other (issue 13 item 2), on both engines
 * (`npm run test:http2` runs this file again with ROUTER_ENGINE=http2).
 *
 * RFC 9113 5.2 ("Flow Control"): a receiver that does not read one stream must not stop the others;
 * section 5.2.2: "a receiver could grant a stream a window ... without granting the connection".
 * The router shares one connection per agent among every caller of that agent, and a proxy in
 * front (Envoy) shares one connection to the router among its callers. So the router credits a
 * sender's connection window as it buffers each stream's bytes (each stream bounded by its own
 * stream window), as Envoy's codec does ("consumed" once in its buffers, bounded per stream by
 * buffer limits: source/docs/flow_control.md) and as Node's http2 does
 * (nghttp2_session_consume_connection on receipt, src/node_http2.cc OnDataChunkReceived).
 *
 * Both tests measure a steady caller first alone (the baseline) and then while 24 streams stall;
 * the bounds are generous ratios of that baseline, not timings.
 */
import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { Setting } from "../../router/h2/frames";
import { md, RawClient, ECHO_SERVICE } from "../../fixtures/echo-server";
import { RawH2 } from "../helpers/raw-h2-client";
import { startRouterFixture, type RouterFixture } from "../helpers/router-fixture";

const STALLED = 24;
/** Larger than the router's 16 MiB connection window once 24 streams each hold their 1 MiB stream window. */
const STALLED_RESPONSE = "64,65536";
const STEADY_BYTES = 256 * 1024;
const STEADY_CALLS = 10;
const DEADLINE_MS = 5000;

/** Sequential calls; returns each one's latency in ms (throws on the first failure). */
async function steadyLatencies(client: RawClient, deploymentId: string, body: Buffer): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < STEADY_CALLS; i++) {
    const t0 = performance.now();
    const r = await client.unary("Unary", body, md({ "x-deployment-id": deploymentId }), { deadline: Date.now() + DEADLINE_MS });
    assert.equal(r.body.length, body.length + deploymentId.length + 1);
    out.push(performance.now() - t0);
  }
  return out;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The steady caller's latency under the stall stays within a generous multiple of its baseline. */
function assertBounded(label: string, baseline: number[], during: number[]): void {
  const b = median(baseline);
  const d = median(during);
  process.stderr.write(`      ${label}: steady caller median ${b.toFixed(1)} ms alone, ${d.toFixed(1)} ms with ${STALLED} stalled streams (max ${Math.max(...during).toFixed(0)} ms)\n`);
  assert.ok(d <= 20 * b + 250, `median latency ${d.toFixed(1)} ms under the stall against ${b.toFixed(1)} ms alone`);
}

describe("router: one stalled stream holds only itself", function () {
  this.timeout(60_000);
  let f: RouterFixture;
  /** An agent whose client-streaming method never reads what it is sent, and never answers. */
  let sink: grpc.Server;
  let sinkPort: number;

  before(async () => {
    sink = new grpc.Server();
    sink.register(`${ECHO_SERVICE}/ClientStream`, () => undefined, (b: Buffer) => b, (b: Buffer) => b, "clientStream");
    sinkPort = await new Promise<number>((resolve, reject) => sink.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    f = await startRouterFixture(["big", "other"], [{ id: "sink", port: sinkPort }]);
  });
  after(async () => {
    await f.close();
    sink.forceShutdown();
  });

  it(`response direction: ${STALLED} callers of one deployment that never read (zero window) do not stall a steady caller of it`, async () => {
    const steady = new RawClient(`127.0.0.1:${f.router.port}`);
    const stalled: RawH2[] = [];
    try {
      const body = Buffer.alloc(STEADY_BYTES, 0x61);
      const baseline = await steadyLatencies(steady, "big", body);
      // Each on its own connection, granting the router no stream window at all.
      for (let i = 0; i < STALLED; i++) {
        const c = await RawH2.connect(f.router.port, true, [[Setting.INITIAL_WINDOW_SIZE, 0]]);
        stalled.push(c);
        c.send(c.requestHeaders(1, "big", "ServerStream"), RawH2.grpcMessage(1, STALLED_RESPONSE));
      }
      // Every stalled call reached the agent and got its response headers, and no DATA.
      await Promise.all(stalled.map((c) => c.waitFor((x) => x.streamId === 1 && x.headers !== undefined, DEADLINE_MS, "response headers")));
      // The agent fills what the router lets it send (loopback: well under a second).
      await new Promise((r) => setTimeout(r, 1000));
      const during = await steadyLatencies(steady, "big", body);
      for (const c of stalled) {
        assert.equal(c.dataOf(1).length, 0, "a stalled caller got DATA it had no window for");
        assert.ok(!c.closed && !c.frames.some((x) => x.streamId === 1 && (x.flags & 1) !== 0), "a stalled call ended");
      }
      assertBounded("response direction", baseline, during);
    } finally {
      for (const c of stalled) c.close();
      steady.close();
    }
  });

  it(`request direction: ${STALLED} uploads an agent never reads, on one client connection, do not stall that connection's other calls`, async () => {
    // One grpc-js channel: one HTTP/2 connection to the router, as a proxy in front would use for all its callers.
    const client = new RawClient(`127.0.0.1:${f.router.port}`);
    const uploads: grpc.ClientWritableStream<Buffer>[] = [];
    try {
      const body = Buffer.alloc(STEADY_BYTES, 0x61);
      const baseline = await steadyLatencies(client, "other", body);
      const chunk = Buffer.alloc(16 * 1024, 0x75);
      for (let i = 0; i < STALLED; i++) {
        const up = client.clientStream(md({ "x-deployment-id": "sink" }), () => undefined);
        up.on("error", () => undefined);
        // 2 MiB each: past the agent's window and the router's 1 MiB stream window, so every upload waits in the router.
        for (let k = 0; k < 128; k++) up.write(chunk);
        uploads.push(up);
      }
      await new Promise((r) => setTimeout(r, 1000));
      const during = await steadyLatencies(client, "other", body);
      assertBounded("request direction", baseline, during);
    } finally {
      for (const up of uploads) up.cancel();
      client.close();
    }
  });
});
