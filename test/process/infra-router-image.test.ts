import { strict as assert } from "node:assert";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { bundleRouter } from "../../build/router";
import { containerDefinitions, ROUTER_HEALTH_COMMAND, type ContainerInputs } from "../../infra/containers";
import { imageBuildSpecs } from "../../infra/images";
import { ROUTER_ADMIN_PORT, XDS_SOCKET, XDS_SOCKET_DIR } from "../../lib/ports";
import { ROUTER_ENV, ROUTER_NODE_FLAGS } from "../../lib/router-node-flags";
import { TYPE_URLS } from "../../envoy/config";
import { BUNDLED_PROTO_DIR, messageType } from "../../envoy/proto";
import { ADS_METHOD_PATH } from "../../router/xds";
import { startDemoAgent, type DemoAgent } from "../../fixtures/demo-agent";
import { checkHealth } from "../../lib/health";
import { imageProcess, reproduceBuild, type ReproducedBuild } from "../helpers/docker-build";

/**
 * The router image, reproduced from exactly its build context (router/Dockerfile, context the
 * repository root after .dockerignore; see test/helpers/docker-build.ts for the COPY rules and what
 * stands in for the base image): the build stage's `npm ci` and bundle step really run in a
 * directory holding only what the Dockerfile copies, the final stage's `COPY --from` is assembled
 * outside the repository (no node_modules up the directory chain), and the bundle is started as
 * CMD says, as USER node, with the task definition's environment aimed at 127.0.0.1.
 */

const REPO_ROOT = path.join(__dirname, "..", "..");
/** The official node images' unprivileged user (their /etc/passwd: node:x:1000:1000). */
const NODE_IMAGE_USERS = { node: { uid: 1000, gid: 1000 } };

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

/** Directories from `dir` up to `/` that hold a node_modules (must be none for the image). */
function nodeModulesUpTheChain(dir: string): string[] {
  const found: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, "node_modules"))) found.push(d);
    if (d === path.dirname(d)) return found;
  }
}

/** The router container's environment from the task definition (infra/containers.ts), for one Envoy mode. */
function taskDefinitionEnv(envoyMode: "router" | "xds"): Record<string, string> {
  const inputs: ContainerInputs = {
    region: "us-east-2", parImage: "par", routerImage: "router", envoyImage: "envoy",
    logGroups: { par: "p", router: "r", envoy: "e" }, envoyMode, routerDrainMs: 20000, logLevel: "warn",
    cloudMapNamespace: "ns", cloudMapService: "svc", agentPortFirst: 8000, agentPortLast: 8010, memory: 2048,
  };
  const router = containerDefinitions(inputs).find((c) => c.name === "router")!;
  return Object.fromEntries(router.environment.map((kv) => [kv.name, kv.value]));
}

interface Router { child: ChildProcess; stderr: () => string; listen: number; admin: number; xds?: string }

describe("infra router image: built from exactly its context, run as its CMD", function () {
  // npm ci of the whole lockfile runs once (about 15-40 s with a warm npm cache).
  this.timeout(300_000);
  let work: string;
  let build: ReproducedBuild;
  let agent: DemoAgent;
  let registry: string;
  const routers: Router[] = [];

  async function startRouter(envoyMode: "router" | "xds"): Promise<Router> {
    const env = taskDefinitionEnv(envoyMode);
    const listen = await freePort();
    const admin = await freePort();
    const xds = envoyMode === "xds" ? build.inImage(XDS_SOCKET) : undefined;
    // The production values (0.0.0.0, Cloud Map, PAR) replaced by loopback and a file registry.
    for (const name of ["ROUTER_LISTEN", "ROUTER_ADMIN", "ROUTER_REGISTRY", ...(xds ? ["ROUTER_XDS"] : [])]) {
      assert.ok(name in env, `the task definition no longer sets ${name}: update this test`);
    }
    Object.assign(env, { ROUTER_LISTEN: `127.0.0.1:${listen}`, ROUTER_ADMIN: `127.0.0.1:${admin}`, ROUTER_REGISTRY: `file:${registry}` });
    // The task's own socket path, inside the image's directory: the router, as USER node, must be able to create it there.
    if (xds) env.ROUTER_XDS = `unix:${build.inImage(XDS_SOCKET)}`;
    const proc = imageProcess(build, { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, hostCommands: { node: process.execPath }, users: NODE_IMAGE_USERS });
    const child = spawn(proc.command, proc.args, {
      cwd: proc.cwd, env: proc.env, stdio: ["ignore", "ignore", "pipe"],
      ...(proc.uid !== undefined ? { uid: proc.uid, gid: proc.gid } : {}),
    });
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => { stderr += chunk.toString(); });
    const router: Router = { child, stderr: () => stderr, listen, admin, ...(xds ? { xds } : {}) };
    routers.push(router);
    // Ready the way ECS sees it: GET /readyz 200 on the admin port (bounded).
    for (let attempt = 0; attempt < 100; attempt++) {
      if (child.exitCode !== null) break;
      const ok = await fetch(`http://127.0.0.1:${admin}/readyz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.status === 200, () => false);
      if (ok) return router;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`the router (${envoyMode} mode) never answered /readyz 200; exit ${child.exitCode}; stderr:\n${stderr}`);
  }

  before(async function () {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "router-image-"));
    assert.ok(path.relative(REPO_ROOT, work).startsWith(".."), "the reproduction must live outside the repository");
    assert.deepEqual(nodeModulesUpTheChain(work), [], "a node_modules up the chain would hide a bundle that needs one");
    fs.chmodSync(work, 0o755); // USER node must reach the image's files, as in the image
    // What Pulumi builds (infra/images.ts): the Dockerfile, the context and the build args.
    const spec = imageBuildSpecs(REPO_ROOT, "router").router;
    build = await reproduceBuild({
      dockerfile: spec.dockerfile,
      context: spec.context,
      buildArgs: spec.args,
      workDir: work,
      // The base image's PATH and npm; HOME keeps this machine's npm cache (a layer cache stand-in).
      runEnv: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? os.homedir(), npm_config_prefer_offline: "true", npm_config_update_notifier: "false" },
      runTimeoutMs: 240_000,
    });
    agent = await startDemoAgent({ deploymentId: "image-test" });
    registry = path.join(work, "registry.json");
    fs.writeFileSync(registry, JSON.stringify({ deployments: [{ id: "image-test", host: "127.0.0.1", port: agent.port }] }));
    fs.chmodSync(registry, 0o644);
  });

  after(async () => {
    for (const r of routers) {
      if (r.child.exitCode === null && r.child.signalCode === null) {
        r.child.kill("SIGKILL");
        await waitForExit(r.child, 5000).catch(() => undefined);
      }
    }
    await agent?.stop(true);
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it("sends only what .dockerignore leaves: no node_modules, tests, docs or stack files", () => {
    assert.equal(build.context.ignoreFile, path.join(REPO_ROOT, ".dockerignore"));
    const sent = build.copiedFromContext;
    assert.ok(sent.includes("package-lock.json") && sent.includes("router/main.ts"));
    for (const f of sent) assert.ok(!/(^|\/)node_modules\/|^(test|docs|bench|dist)\/|^Pulumi\..*\.yaml$|\.log$/.test(f), `${f} should not be in the context`);
  });

  it("copies every source file the bundle reads (esbuild's metafile)", async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "router-bundle-meta-"));
    try {
      const { sources } = await bundleRouter(out);
      const own = sources.filter((s) => !s.split("/").includes("node_modules"));
      assert.ok(own.includes("router/main.ts") && own.includes("envoy/proto.ts"), own.join(", "));
      const copied = new Set(build.copiedFromContext);
      assert.deepEqual(own.filter((s) => !copied.has(s)), [], "router/Dockerfile does not copy these files the bundle reads");
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it("is a multi-stage image: the bundle, agent.proto and Envoy's protos, root-owned, no node_modules", () => {
    assert.equal(build.stages.length, 2);
    assert.equal(build.stages[0]!.name, "build");
    assert.equal(build.image.base, "node:20-bookworm-slim");
    assert.deepEqual(build.image.config.env, { NODE_ENV: "production", ...ROUTER_ENV });
    assert.equal(build.image.config.user, "node");
    assert.deepEqual(build.image.config.cmd, ["node", ...ROUTER_NODE_FLAGS, "/app/main.js"]);
    const app = build.inImage("/app");
    assert.deepEqual(fs.readdirSync(app).sort(), ["agent.proto", BUNDLED_PROTO_DIR, "main.js", "main.js.map"]);
    assert.deepEqual(fs.readdirSync(build.imageRoot).sort(), ["app", "var"]);
    // The xDS socket's directory, a VOLUME owned by node: ECS copies owner and mode into the task's volume
    // (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/bind-mounts.html).
    assert.deepEqual(build.image.config.volumes, [XDS_SOCKET_DIR]);
    const dir = fs.statSync(build.inImage(XDS_SOCKET_DIR));
    assert.deepEqual([dir.isDirectory(), dir.uid, dir.gid, dir.mode & 0o7777], [true, 1000, 1000, 0o755]);
    if (process.getuid?.() === 0) assert.equal(fs.statSync(path.join(app, "main.js")).uid, 0);
  });

  it("Option A: starts from the task definition's environment as USER node and passes its health check", async () => {
    const r = await startRouter("router");
    assert.equal(r.child.exitCode, null, r.stderr());
    assert.equal(runHealthCommand(r.admin), 0);
    const client = new grpc.Client(`127.0.0.1:${r.listen}`, grpc.credentials.createInsecure());
    try {
      const result = await checkHealth(client, "image-test", 5000);
      assert.deepEqual([result.ok, result.codeName], [true, "OK"]);
      assert.equal((await checkHealth(client, "no-such-deployment", 5000)).codeName, "NOT_FOUND");
    } finally {
      client.close();
    }
  });

  it("Option B: serves xDS from the protos the image ships beside the bundle", async () => {
    const r = await startRouter("xds");
    const REQ = messageType("envoy.service.discovery.v3.DiscoveryRequest");
    const RES = messageType("envoy.service.discovery.v3.DiscoveryResponse");
    assert.equal(taskDefinitionEnv("xds").ROUTER_XDS, `unix:${XDS_SOCKET}`);
    // Created by uid 1000, connectable by Envoy's uid 101: the directory (the volume) is the boundary.
    const sock = fs.statSync(r.xds!);
    assert.ok(sock.isSocket());
    assert.deepEqual([sock.uid, sock.mode & 0o777], [1000, 0o666]);
    const client = new grpc.Client(`unix:${r.xds!}`, grpc.credentials.createInsecure());
    try {
      const call = client.makeBidiStreamRequest(ADS_METHOD_PATH,
        (v: object) => Buffer.from(REQ.encode(REQ.fromObject(v)).finish()),
        (b: Buffer) => RES.toObject(RES.decode(b), { defaults: true, arrays: true }) as { resources: Array<{ type_url: string }> });
      call.on("error", () => undefined);
      const first = new Promise<{ resources: Array<{ type_url: string }> }>((resolve, reject) => {
        call.once("data", resolve);
        setTimeout(() => reject(new Error(`no CDS answer; router stderr: ${r.stderr()}`)), 10_000);
      });
      call.write({ node: { id: "image-test", cluster: "test" }, type_url: TYPE_URLS.cluster, resource_names: [] });
      const res = await first;
      call.cancel();
      // The router's own cluster and one per registered deployment.
      assert.equal(res.resources.length, 2);
      assert.ok(res.resources.every((x) => x.type_url === TYPE_URLS.cluster));
    } finally {
      client.close();
    }
  });

  it("exits 0 on SIGTERM (STOPSIGNAL), after which the health check fails", async () => {
    assert.equal(build.image.config.stopSignal, "SIGTERM");
    for (const r of routers) {
      r.child.kill("SIGTERM");
      assert.equal(await waitForExit(r.child, 15000), 0, r.stderr());
      assert.equal(runHealthCommand(r.admin), 1);
    }
    assert.equal(routers.length, 2);
  });
});
