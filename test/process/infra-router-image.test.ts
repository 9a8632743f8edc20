import { strict as assert } from "node:assert";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { bundleRouter } from "../../build/router";
import { VENDOR_DIR, VENDOR_GROUPS, vendorFiles } from "../../build/vendor";
import { containerDefinitions, ROUTER_HEALTH_COMMAND, type ContainerInputs } from "../../infra/containers";
import { imageBuildSpecs } from "../../infra/images";
import { ROUTER_ADMIN_PORT, XDS_SOCKET, XDS_SOCKET_DIR } from "../../lib/ports";
import { ROUTER_ENV, ROUTER_NODE_FLAGS } from "../../lib/router-node-flags";
import { TYPE_URLS } from "../../envoy/config";
import { BUNDLED_PROTO_DIR, messageType } from "../../envoy/proto";
import { ADS_METHOD_PATH } from "../../router/xds";
import { startDemoAgent, type DemoAgent } from "../../fixtures/demo-agent";
import { checkHealth } from "../../lib/health";
import { sha256 } from "../../router/auth";
import { createProbeClient } from "../../probe-lambda/probe";
import { FAKE_AWS_CLIENT_CONFIG, startFakeAwsJsonServer, type FakeAwsServer } from "../../fixtures/fake-aws";
import { startFakeCloudMap, type FakeCloudMap } from "../../fixtures/fake-cloudmap";
import type { RouterAuthSettings } from "../../infra/caller-auth";
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
function taskDefinitionEnv(envoyMode: "router" | "xds", routerAuth?: RouterAuthSettings): Record<string, string> {
  const inputs: ContainerInputs = {
    region: "us-east-2", parImage: "par", routerImage: "router", envoyImage: "envoy",
    logGroups: { par: "p", router: "r", envoy: "e" }, envoyMode, routerDrainMs: 20000, logLevel: "warn",
    cloudMapNamespace: "ns", cloudMapService: "svc", agentPortFirst: 8000, agentPortLast: 8010, memory: 2048,
    ...(routerAuth ? { routerAuth } : {}),
  };
  const router = containerDefinitions(inputs).find((c) => c.name === "router")!;
  return Object.fromEntries(router.environment.map((kv) => [kv.name, kv.value]));
}

interface Router { child: ChildProcess; stderr: () => string; listen: number; admin: number; xds?: string }

/**
 * The vendor files (build/vendor.ts) a router process has loaded so far, from the trace Node writes to
 * stderr under NODE_DEBUG=module (lib/internal/modules/cjs/loader.js: `load "<file>" for module "<id>"`).
 */
function vendorFilesLoaded(stderr: string): string[] {
  const loaded = new Set<string>();
  for (const m of stderr.matchAll(/^MODULE \d+: load "([^"]+)" for module/gm)) {
    const file = m[1]!.split(path.sep).join("/");
    const at = file.lastIndexOf(`/app/${VENDOR_DIR}/`);
    if (at >= 0) loaded.add(file.slice(at + "/app/".length));
  }
  return [...loaded].sort();
}

describe("infra router image: built from exactly its context, run as its CMD", function () {
  // npm ci of the whole lockfile runs once (about 15-40 s with a warm npm cache).
  this.timeout(300_000);
  let work: string;
  let build: ReproducedBuild;
  let agent: DemoAgent;
  let registry: string;
  const routers: Router[] = [];

  /** `overrides` replace the loopback stand-ins (a Cloud Map registry, say) and add what only this test needs. */
  async function startRouter(envoyMode: "router" | "xds", overrides: Record<string, string> = {}, routerAuth?: RouterAuthSettings): Promise<Router> {
    const env = taskDefinitionEnv(envoyMode, routerAuth);
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
    Object.assign(env, overrides);
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
      const { sources, mainSources, vendor } = await bundleRouter(out);
      const own = sources.filter((s) => !s.split("/").includes("node_modules"));
      // The vendor files carry packages only; main.js carries none of their files, and no two carry the same one.
      const packageOf = (s: string): string | undefined => /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(s)?.[1];
      const carriers = new Map<string, string[]>();
      for (const [name, files] of [["main.js", mainSources], ...Object.entries(vendor).map(([g, v]) => [`${VENDOR_DIR}/${g}.js`, v.sources] as const)] as const) {
        for (const pkg of new Set(files.map(packageOf).filter((p): p is string => p !== undefined))) carriers.set(pkg, [...(carriers.get(pkg) ?? []), name]);
      }
      for (const [group, v] of Object.entries(vendor)) {
        assert.deepEqual(v.sources.filter((s) => packageOf(s) === undefined), [], `${group}.js should hold packages only`);
        for (const pkg of VENDOR_GROUPS[group]!) assert.deepEqual(carriers.get(pkg), [`${VENDOR_DIR}/${group}.js`], pkg);
      }
      assert.deepEqual([...carriers].filter(([, names]) => names.length > 1), [], "a package in two files is loaded twice");
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
    assert.deepEqual(fs.readdirSync(app).sort(), ["agent.proto", BUNDLED_PROTO_DIR, "main.js", "main.js.map", VENDOR_DIR]);
    assert.deepEqual(fs.readdirSync(path.join(app, VENDOR_DIR)).sort().map((f) => `${VENDOR_DIR}/${f}`), vendorFiles());
    assert.deepEqual(fs.readdirSync(build.imageRoot).sort(), ["app", "var"]);
    // The xDS socket's directory, a VOLUME owned by node: ECS copies owner and mode into the task's volume
    // (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/bind-mounts.html).
    assert.deepEqual(build.image.config.volumes, [XDS_SOCKET_DIR]);
    const dir = fs.statSync(build.inImage(XDS_SOCKET_DIR));
    assert.deepEqual([dir.isDirectory(), dir.uid, dir.gid, dir.mode & 0o7777], [true, 1000, 1000, 0o755]);
    if (process.getuid?.() === 0) assert.equal(fs.statSync(path.join(app, "main.js")).uid, 0);
  });

  it("Option A: starts from the task definition's environment as USER node and passes its health check", async () => {
    const r = await startRouter("router", { NODE_DEBUG: "module" });
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
    // Relaying loads no vendored package; the operator's live health check loads grpc-js, from beside main.js.
    assert.deepEqual(vendorFilesLoaded(r.stderr()), []);
    const live = await fetch(`http://127.0.0.1:${r.admin}/deployments/image-test/health`, { signal: AbortSignal.timeout(10_000) });
    assert.deepEqual([live.status, ((await live.json()) as { healthy: boolean }).healthy], [200, true]);
    assert.deepEqual(vendorFilesLoaded(r.stderr()), ["vendor/grpc.js", "vendor/grpc__grpc-js.js", "vendor/grpc__proto-loader.js"]);
  });

  it("Option A with the task's Cloud Map registry and bearer tokens in Secrets Manager: the AWS SDK loads from vendor/aws.js", async () => {
    const token = "image-test-token-0123456789abcdef";
    const secretArn = "arn:aws:secretsmanager:us-east-2:123456789012:secret:pixell/a2a-tokens-AbCdEf";
    const secret = JSON.stringify({ tokens: [{ name: "image-test", sha256: sha256(token).toString("hex"), allow: ["image-*"] }] });
    // Both speak AWS JSON 1.1, as the real services do (fixtures/fake-aws.ts), for the real SDK clients in the image.
    const secrets: FakeAwsServer = await startFakeAwsJsonServer("application/x-amz-json-1.1", (operation, body) =>
      operation === "GetSecretValue" && body.SecretId === secretArn
        ? { body: { ARN: secretArn, Name: "pixell/a2a-tokens", SecretString: secret, VersionId: "v1", VersionStages: ["AWSCURRENT"] } }
        : { error: { status: 400, type: "ResourceNotFoundException", message: `no secret ${String(body.SecretId)}` } });
    const cloudMap: FakeCloudMap = await startFakeCloudMap({ namespace: "ns", service: "svc", instances: [{ id: "image-test", ipv4: "127.0.0.1", port: agent.port }] });
    try {
      const cloudMapSource = taskDefinitionEnv("router").ROUTER_REGISTRY!.split(",").find((s) => s.startsWith("cloudmap:"));
      assert.equal(cloudMapSource, "cloudmap:ns/svc", "the task definition's Cloud Map source");
      const r = await startRouter("router", {
        ROUTER_REGISTRY: cloudMapSource!,
        AWS_ENDPOINT_URL_SERVICEDISCOVERY: cloudMap.url,
        AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
        AWS_REGION: FAKE_AWS_CLIENT_CONFIG.region,
        AWS_ACCESS_KEY_ID: FAKE_AWS_CLIENT_CONFIG.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: FAKE_AWS_CLIENT_CONFIG.credentials.secretAccessKey,
        NODE_DEBUG: "module",
      }, { mode: "bearer", tokensSecretArn: secretArn });
      const withToken = createProbeClient(`127.0.0.1:${r.listen}`, { bearerToken: token });
      const without = createProbeClient(`127.0.0.1:${r.listen}`);
      try {
        const ok = await checkHealth(withToken, "image-test", 5000);
        assert.deepEqual([ok.ok, ok.codeName], [true, "OK"], ok.message);
        assert.equal((await checkHealth(without, "image-test", 5000)).codeName, "UNAUTHENTICATED");
      } finally {
        withToken.close();
        without.close();
      }
      assert.ok(cloudMap.requests.some((q) => q.operation === "DiscoverInstances"), "the router read Cloud Map");
      assert.ok(secrets.requests.some((q) => q.operation === "GetSecretValue"), "the router read the tokens secret");
      assert.deepEqual(vendorFilesLoaded(r.stderr()), ["vendor/aws-sdk__client-secrets-manager.js", "vendor/aws-sdk__client-servicediscovery.js", "vendor/aws.js"]);
    } finally {
      await Promise.all([secrets.close(), cloudMap.close()]);
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
    assert.equal(routers.length, 3);
  });
});
