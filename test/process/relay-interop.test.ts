/** Independent clients through the router (both engines): Python grpcio's C core, and h2load (nghttp2). */
import { strict as assert } from "node:assert";
import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startRouter, type RunningRouter } from "../../router";
import type { RouterEngine } from "../../router/config";
import { silentLogger } from "../../lib/log";
import { startEchoServer, type EchoServer } from "../../fixtures/echo-server";

// Debian's python3 has grpcio; the python3 on PATH may not.
const PYTHON = "/usr/bin/python3";
const hasGrpcio = ((): boolean => { try { execFileSync(PYTHON, ["-c", "import grpc"], { stdio: "ignore" }); return true; } catch { return false; } })();
const hasH2load = ((): boolean => { try { execFileSync("h2load", ["--version"], { stdio: "ignore" }); return true; } catch { return false; } })();

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => (err ? reject(new Error(`${cmd} failed: ${err.message}\n${stderr}`)) : resolve(stdout)));
  });
}

for (const engine of ["frames", "http2"] as RouterEngine[]) {
  describe(`relay: independent clients (${engine} engine)`, () => {
    let agent: EchoServer;
    let router: RunningRouter;
    let dir: string;
    before(async () => {
      agent = await startEchoServer({ name: "alpha" });
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "pixell-interop-"));
      fs.writeFileSync(path.join(dir, "r.json"), JSON.stringify({ deployments: [{ id: "alpha", port: agent.port }] }));
      router = await startRouter({ listen: "127.0.0.1:0", registry: `file:${path.join(dir, "r.json")}`, logger: silentLogger, engine });
    });
    after(async () => {
      await router.close();
      await agent.stop(true);
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it("serves Python grpcio: unary (20 calls), server, client and bidi streams, and a router error", async function () {
      if (!hasGrpcio) this.skip();
      const out = JSON.parse(await run(PYTHON, [path.join(__dirname, "..", "interop", "grpcio_client.py"), `127.0.0.1:${router.port}`, "alpha"], 30_000)) as Record<string, unknown>;
      assert.equal(out.unary, "alpha:py19");
      assert.deepEqual(out.unary_trailers, { "x-trailer": "done-by-alpha" });
      assert.deepEqual(out.server_stream, [50, 50 * 70000]);
      assert.deepEqual(out.bidi, ["alpha:a", "alpha:b", "alpha:c"]);
      assert.equal(out.client_stream, `30,${30 * 100000}`);
      assert.deepEqual(out.unknown, ["NOT_FOUND", "deployment nobody is not registered: check the id, or whether it is deployed"]);
      const seen = agent.lastMetadata.get("ClientStream")!;
      assert.deepEqual(seen.get("x-from"), ["grpcio"]);
      assert.deepEqual(seen.get("x-trace-bin"), [Buffer.from([0, 1, 255])]);
    });

    it("serves h2load (nghttp2): 4000 requests over 4 connections, 32 streams each, all 2xx", async function () {
      if (!hasH2load) this.skip();
      const body = path.join(dir, "req.bin");
      const msg = Buffer.from("ping");
      fs.writeFileSync(body, Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]));
      const out = await run("h2load", ["-n", "4000", "-c", "4", "-m", "32", "-H", "content-type: application/grpc", "-H", "te: trailers",
        "-H", "x-deployment-id: alpha", "-d", body, `http://127.0.0.1:${router.port}/pixell.test.Echo/Unary`], 30_000);
      assert.match(out, /requests: 4000 total, 4000 started, 4000 done, 4000 succeeded, 0 failed, 0 errored, 0 timeout/);
      assert.match(out, /status codes: 4000 2xx, 0 3xx, 0 4xx, 0 5xx/);
    });
  });
}
