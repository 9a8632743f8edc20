import { strict as assert } from "node:assert";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { bundleRouter } from "../infra/bundle-router";
import { ROUTER_HEALTH_COMMAND } from "../infra/containers";
import { ROUTER_ADMIN_PORT } from "../infra/ports";
import { TYPE_URLS } from "../infra/envoy/config";
import { BUNDLED_PROTO_DIR, messageType } from "../infra/envoy/proto";
import { ADS_METHOD_PATH } from "../router/xds";
import { startDemoAgent, type DemoAgent } from "../local/demo-agent";
import { checkHealth } from "../client/health";

/**
 * What the router image runs: the esbuild bundle of router/main.ts (built exactly as
 * router/Dockerfile builds it), started with plain `node` and the container's environment
 * variables, checked with the task definition's own health check command.
 */

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    }).on("error", reject);
  });
}

/** The ECS health check command, aimed at this test's admin port instead of the container's 9902. */
function runHealthCommand(adminPort: number): number {
  const [, node, flag, script] = ROUTER_HEALTH_COMMAND;
  const result = spawnSync(node === "node" ? process.execPath : node, [flag, script.replace(`:${ROUTER_ADMIN_PORT}/`, `:${adminPort}/`)], { timeout: 10000 });
  return result.status ?? -1;
}

async function waitForExit(child: ChildProcess, ms: number): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`router did not exit within ${ms} ms`)), ms);
    child.once("exit", (code) => { clearTimeout(timer); resolve(code); });
  });
}

describe("infra router image: the bundled router", function () {
  this.timeout(60000);
  let dir: string;
  let bundle: { file: string; bytes: number; inputs: string[] };
  let agent: DemoAgent;
  let router: ChildProcess | undefined;
  let stderr = "";
  let ports: { listen: number; admin: number; xds: number };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "router-image-"));
    bundle = await bundleRouter(path.join(dir, "app"));
    agent = await startDemoAgent({ deploymentId: "image-test" });
    fs.writeFileSync(path.join(dir, "registry.json"), JSON.stringify({ deployments: [{ id: "image-test", host: "127.0.0.1", port: agent.port }] }));
    ports = { listen: await freePort(), admin: await freePort(), xds: await freePort() };
    router = spawn(process.execPath, ["--enable-source-maps", bundle.file], {
      cwd: path.join(dir, "app"),
      env: {
        PATH: process.env.PATH,
        NODE_ENV: "production",
        ROUTER_LISTEN: `127.0.0.1:${ports.listen}`,
        ROUTER_ADMIN: `127.0.0.1:${ports.admin}`,
        ROUTER_REGISTRY: `file:${path.join(dir, "registry.json")}`,
        ROUTER_DRAIN_MS: "2000",
        ROUTER_XDS: `127.0.0.1:${ports.xds}`,
        LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    router.stderr!.on("data", (chunk: Buffer) => { stderr += chunk.toString(); });
    // Wait for readiness the way ECS does: run the health check until it passes (bounded).
    for (let attempt = 0; attempt < 50 && runHealthCommand(ports.admin) !== 0; attempt++) {
      if (router.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  after(async () => {
    if (router && router.exitCode === null) {
      router.kill("SIGKILL");
      await waitForExit(router, 5000).catch(() => undefined);
    }
    await agent.stop(true);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("is one file next to agent.proto and Envoy's protos, with no node_modules", () => {
    assert.deepEqual(fs.readdirSync(path.dirname(bundle.file)).sort(), ["agent.proto", BUNDLED_PROTO_DIR, "main.js", "main.js.map"]);
    assert.ok(bundle.bytes > 0);
  });

  it("is built only from files router/Dockerfile copies into its build stage", () => {
    // Dockerfile COPY <src>... <dest>: a file source copies that file, a directory source its whole tree.
    const dockerfile = fs.readFileSync(path.join(__dirname, "..", "router", "Dockerfile"), "utf8");
    const sources = dockerfile.split("\n").filter((l) => l.startsWith("COPY ") && !l.includes("--from=")).flatMap((l) => l.split(/\s+/).slice(1, -1));
    const copied = (file: string): boolean => sources.some((src) => file === src || file.startsWith(`${src.replace(/\/$/, "")}/`));
    assert.ok(bundle.inputs.includes("router/main.ts") && bundle.inputs.includes("infra/shutdown.ts"), bundle.inputs.join(", "));
    assert.deepEqual(bundle.inputs.filter((f) => !copied(f)), [], "the bundle reads these files, but the Dockerfile does not copy them");
  });

  it("starts from the container environment and passes the task definition's health check", () => {
    assert.equal(router!.exitCode, null, `router exited: ${stderr}`);
    assert.equal(runHealthCommand(ports.admin), 0);
  });

  it("routes a Health call by x-deployment-id to the agent", async () => {
    const client = new grpc.Client(`127.0.0.1:${ports.listen}`, grpc.credentials.createInsecure());
    try {
      const result = await checkHealth(client, "image-test", 5000);
      assert.deepEqual([result.ok, result.codeName], [true, "OK"]);
      const unknown = await checkHealth(client, "no-such-deployment", 5000);
      assert.equal(unknown.codeName, "NOT_FOUND");
    } finally {
      client.close();
    }
  });

  it("serves Option B's xDS from the protos beside the bundle", async () => {
    const REQ = messageType("envoy.service.discovery.v3.DiscoveryRequest");
    const RES = messageType("envoy.service.discovery.v3.DiscoveryResponse");
    const client = new grpc.Client(`127.0.0.1:${ports.xds}`, grpc.credentials.createInsecure());
    try {
      const call = client.makeBidiStreamRequest(ADS_METHOD_PATH,
        (v: object) => Buffer.from(REQ.encode(REQ.fromObject(v)).finish()),
        (b: Buffer) => RES.toObject(RES.decode(b), { defaults: true, arrays: true }) as { resources: Array<{ type_url: string }> });
      call.on("error", () => undefined);
      const first = new Promise<{ resources: Array<{ type_url: string }> }>((resolve, reject) => {
        call.once("data", resolve);
        setTimeout(() => reject(new Error(`no CDS answer; router stderr: ${stderr}`)), 10_000);
      });
      call.write({ node: { id: "image-test", cluster: "test" }, type_url: TYPE_URLS.cluster, resource_names: [] });
      const res = await first;
      call.cancel();
      // The router's own cluster and one per registered deployment.
      assert.equal(res.resources.length, 2);
      assert.ok(res.resources.every((r) => r.type_url === TYPE_URLS.cluster));
    } finally {
      client.close();
    }
  });

  it("exits 0 on SIGTERM, after which the health check fails", async () => {
    router!.kill("SIGTERM");
    assert.equal(await waitForExit(router!, 15000), 0, stderr);
    assert.equal(runHealthCommand(ports.admin), 1);
  });
});
