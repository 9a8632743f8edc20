/** A mixed burst through the router (default engine): every kind of call, cancels and deadlines at once. */
import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { md } from "../../fixtures/echo-server";
import { eventually, startRouterFixture, type RouterFixture } from "../helpers/router-fixture";

describe("relay: mixed burst", () => {
  let f: RouterFixture;
  before(async () => { f = await startRouterFixture(["alpha", "beta"]); });
  after(async () => f.close());

  it("runs 300 concurrent calls of every kind with cancels and deadlines, leaving no call open and one connection per agent", async () => {
    const results = { unary: 0, deadline: 0, serverStream: 0, bidi: 0, clientStream: 0 };
    const ops: Array<Promise<void>> = [];
    const settle = (s: grpc.ClientReadableStream<Buffer> | grpc.ClientDuplexStream<Buffer, Buffer>, onStatus: (st: grpc.StatusObject) => void): Promise<void> =>
      new Promise((resolve) => { s.on("error", () => undefined); s.on("status", (st: grpc.StatusObject) => { onStatus(st); resolve(); }); });
    for (let i = 0; i < 300; i++) {
      const meta = md({ "x-deployment-id": i % 2 ? "alpha" : "beta" });
      const name = i % 2 ? "alpha" : "beta";
      switch (i % 5) {
        case 0:
          ops.push(f.client.unary("Unary", "x".repeat(i * 100), meta).then((r) => {
            assert.equal(r.body.length, name.length + 1 + i * 100);
            results.unary++;
          }));
          break;
        case 1:
          ops.push(f.client.unary("Hang", "x", meta, { deadline: Date.now() + 200 }).then(() => assert.fail("Hang answered"), (err: grpc.ServiceError) => {
            assert.equal(err.code, grpc.status.DEADLINE_EXCEEDED);
            results.deadline++;
          }));
          break;
        case 2: {
          const s = f.client.serverStream(`100,${1000 + i}`, meta);
          let n = 0;
          s.on("data", () => { if (++n === 10 && i % 3 === 0) s.cancel(); });
          ops.push(settle(s, (st) => {
            assert.equal(st.code, i % 3 === 0 ? grpc.status.CANCELLED : grpc.status.OK);
            if (st.code === grpc.status.OK) assert.equal(n, 100);
            results.serverStream++;
          }));
          break;
        }
        case 3: {
          const b = f.client.bidi(meta);
          let n = 0;
          b.on("data", () => { if (++n === 5) { if (i % 2) b.cancel(); else b.end(); } });
          for (let k = 0; k < 5; k++) b.write(Buffer.alloc(20000 + k));
          ops.push(settle(b, (st) => {
            assert.equal(st.code, i % 2 ? grpc.status.CANCELLED : grpc.status.OK);
            results.bidi++;
          }));
          break;
        }
        default:
          ops.push(new Promise<void>((resolve, reject) => {
            const w = f.client.clientStream(meta, (err, res) => {
              if (err) return reject(err);
              assert.equal(res!.toString(), `20,${20 * 50000}`);
              results.clientStream++;
              resolve();
            });
            for (let k = 0; k < 20; k++) w.write(Buffer.alloc(50000));
            w.end();
          }));
      }
    }
    await Promise.all(ops);
    assert.deepEqual(results, { unary: 60, deadline: 60, serverStream: 60, bidi: 60, clientStream: 60 });
    await eventually(() => f.router.activeCalls() === 0, 3000, "no call left open in the router");
    const metrics = (await f.admin("/metrics")).body;
    assert.match(metrics, /^pixell_router_upstream_connections 2$/m);
    assert.equal((await f.client.unary("Unary", "after", md({ "x-deployment-id": "alpha" }))).body.toString(), "alpha:after");
  });
});
