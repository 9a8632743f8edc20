/**
 * The task's trust boundary (docs/security.md, "Trust boundary"): what each container can reach.
 * Every process in a Fargate task shares one network namespace, so anything on the loopback is in
 * reach of the agents' code (PAR runs agents as subprocesses). Control traffic therefore goes over
 * Unix sockets in volumes only the containers that need them mount. Checked here on the generated
 * task definition and Envoy configs, and, for the kernel rules the design rests on, on this machine.
 */
import { strict as assert } from "node:assert";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildBootstrap, buildXdsSnapshot, DEFAULT_ENVOY_INPUT, ENVOY_MODES } from "../../envoy/config";
import type { Bootstrap, Listener } from "../../envoy/types";
import { ENVOY_ADMIN_VOLUME, XDS_VOLUME } from "../../infra/containers";
import { A2A_PORT, ENVOY_ADMIN_SOCKET, ENVOY_ADMIN_SOCKET_DIR, ENVOY_READY_PORT, ROUTER_ADMIN_PORT, ROUTER_PORT, XDS_SOCKET, XDS_SOCKET_DIR } from "../../lib/ports";
import { loadStackConfigFile, runProgram, type Inputs, type ProgramRun } from "../helpers/pulumi-program";

interface Mount { sourceVolume: string; containerPath: string; readOnly: boolean }
interface Container { name: string; environment: { name: string; value: string }[]; portMappings: { containerPort?: number; containerPortRange?: string }[]; mountPoints?: Mount[]; privileged?: boolean; linuxParameters?: unknown }

const taskDefinition = (run: ProgramRun): Inputs => run.one("aws:ecs/taskDefinition:TaskDefinition").inputs;
const containersOf = (run: ProgramRun): Record<string, Container> =>
  Object.fromEntries((JSON.parse(taskDefinition(run).containerDefinitions as string) as Container[]).map((c) => [c.name, c]));
const envOf = (c: Container): Record<string, string> => Object.fromEntries(c.environment.map((e) => [e.name, e.value]));

describe("security boundary: the task definition", function () {
  this.timeout(60000);
  const base = loadStackConfigFile();
  const runs: Record<"router" | "xds", ProgramRun> = {} as Record<"router" | "xds", ProgramRun>;
  before(async () => {
    runs.router = await runProgram(base);
    runs.xds = await runProgram({ ...base, "pixell-a2a:envoyMode": "xds", "pixell-a2a:callerAuth": "off", "pixell-a2a:allowedCidrs": JSON.stringify(["203.0.113.0/24"]) });
  });

  for (const mode of ["router", "xds"] as const) {
    it(`envoyMode ${mode}: PAR (and so every agent) mounts no socket volume; Envoy alone mounts its admin's; only the router and Envoy the xDS one`, () => {
      const td = taskDefinition(runs[mode]);
      const c = containersOf(runs[mode]);
      assert.deepEqual(td.volumes, mode === "xds" ? [{ name: ENVOY_ADMIN_VOLUME }, { name: XDS_VOLUME }] : [{ name: ENVOY_ADMIN_VOLUME }]);
      assert.equal(c.par!.mountPoints, undefined);
      assert.deepEqual(c.envoy!.mountPoints, [
        { sourceVolume: ENVOY_ADMIN_VOLUME, containerPath: ENVOY_ADMIN_SOCKET_DIR, readOnly: false },
        ...(mode === "xds" ? [{ sourceVolume: XDS_VOLUME, containerPath: XDS_SOCKET_DIR, readOnly: true }] : []),
      ]);
      assert.deepEqual(c.router!.mountPoints, mode === "xds" ? [{ sourceVolume: XDS_VOLUME, containerPath: XDS_SOCKET_DIR, readOnly: false }] : undefined);
      const mounters = (volume: string): string[] => Object.values(c).filter((x) => x.mountPoints?.some((m) => m.sourceVolume === volume)).map((x) => x.name).sort();
      assert.deepEqual(mounters(ENVOY_ADMIN_VOLUME), ["envoy"]);
      assert.deepEqual(mounters(XDS_VOLUME), mode === "xds" ? ["envoy", "router"] : []);
    });

    it(`envoyMode ${mode}: no shared PID or IPC namespace and no privileged container, so no container reaches another's files through /proc`, () => {
      // With pidMode "task" every container sees the others' processes, and /proc/<pid>/root is their filesystem.
      const td = taskDefinition(runs[mode]);
      assert.equal(td.pidMode, undefined);
      assert.equal(td.ipcMode, undefined);
      for (const c of Object.values(containersOf(runs[mode]))) {
        assert.notEqual(c.privileged, true, c.name);
        assert.equal(c.linuxParameters, undefined, c.name);
      }
    });

    it(`envoyMode ${mode}: the sockets the configs name are inside the volumes the task mounts; the router admin is on loopback; only data ports are mapped`, () => {
      const c = containersOf(runs[mode]);
      const router = envOf(c.router!);
      assert.equal(router.ROUTER_ADMIN, `127.0.0.1:${ROUTER_ADMIN_PORT}`);
      const bootstrap = buildBootstrap({ ...DEFAULT_ENVOY_INPUT, mode });
      assert.equal(path.posix.dirname(bootstrap.admin.address.pipe.path), c.envoy!.mountPoints![0]!.containerPath);
      if (mode === "xds") {
        assert.equal(router.ROUTER_XDS, `unix:${XDS_SOCKET}`);
        const xdsEndpoint = bootstrap.static_resources.clusters[0]!.load_assignment!.endpoints[0]!.lb_endpoints[0]!.endpoint.address;
        assert.equal(path.posix.dirname(xdsEndpoint.pipe!.path), c.router!.mountPoints![0]!.containerPath);
      } else {
        assert.equal(router.ROUTER_XDS, undefined);
      }
      assert.deepEqual(c.router!.portMappings.map((p) => p.containerPort), [ROUTER_PORT]);
      assert.deepEqual(c.envoy!.portMappings.map((p) => p.containerPort), [A2A_PORT, ENVOY_READY_PORT]);
    });
  }
});

describe("security boundary: what AWS read access shows (task definitions, logs)", function () {
  this.timeout(60000);

  it("the task definition carries secret ARNs, never secret values, in every container's environment", async () => {
    const run = await runProgram(loadStackConfigFile());
    for (const c of Object.values(containersOf(run))) {
      for (const { name, value } of c.environment) {
        // A bearer token is token68 of 16+ characters; the only long opaque values allowed are ARNs and JSON config.
        assert.ok(!/^(?=.*[0-9])[A-Za-z0-9._~+/-]{32,}=*$/.test(value), `${c.name} ${name} looks like a credential`);
      }
    }
    assert.match(envOf(containersOf(run).router!).ROUTER_AUTH_TOKENS!, /^secretsmanager:arn:aws:secretsmanager:/);
  });

  it("Envoy's access log records no header that carries a credential", () => {
    const format = buildBootstrap().static_resources.listeners[0]!.filter_chains![0]!.filters[0]!.typed_config as unknown as { access_log: { typed_config: { log_format: { json_format: Record<string, string> } } }[] };
    const fields = Object.values(format.access_log[0]!.typed_config.log_format.json_format).join(" ");
    assert.doesNotMatch(fields, /AUTHORIZATION|COOKIE|X-API-KEY|%REQ\(\*\)|%DYNAMIC_METADATA/i);
  });
});

describe("security boundary: Envoy's configs", () => {
  /** Every TCP address in a config: listeners Envoy binds and upstreams it connects to. */
  const tcpAddresses = (config: unknown): string[] => {
    const out: string[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === "object") {
        const o = v as Record<string, unknown>;
        const sa = o.socket_address as { address: string; port_value: number } | undefined;
        if (sa) out.push(`${sa.address}:${sa.port_value}`);
        Object.values(o).forEach(walk);
      }
    };
    walk(config);
    return out.sort();
  };
  const listenersOf = (b: Bootstrap, mode: string): Listener[] => [
    ...b.static_resources.listeners,
    ...(mode === "xds" ? buildXdsSnapshot([]).listener.map((l) => l.resource as Listener).filter((l) => l.address !== undefined) : []),
  ];

  for (const mode of ENVOY_MODES) {
    it(`mode ${mode}: listens on TCP only for A2A (50051) and readiness (15021); the admin and xDS are not on any port`, () => {
      const b = buildBootstrap({ ...DEFAULT_ENVOY_INPUT, mode });
      assert.deepEqual(listenersOf(b, mode).map((l) => `${l.address!.socket_address!.address}:${l.address!.socket_address!.port_value}`).sort(), [`0.0.0.0:${ENVOY_READY_PORT}`, `0.0.0.0:${A2A_PORT}`].sort());
      assert.deepEqual(b.admin.address, { pipe: { path: ENVOY_ADMIN_SOCKET, mode: 0o600 } });
      // Upstreams: the router's data and health ports on loopback (mode router); nothing else over TCP.
      const tcp = tcpAddresses(b).filter((a) => !a.startsWith("0.0.0.0:"));
      assert.deepEqual(tcp, mode === "router" ? [`127.0.0.1:${ROUTER_PORT}`] : []);
    });
  }

  it("the readiness listener answers only its health check: every other path is a 404 from Envoy itself, never a cluster", () => {
    for (const mode of ENVOY_MODES) {
      const ready = buildBootstrap({ ...DEFAULT_ENVOY_INPUT, mode }).static_resources.listeners.find((l) => l.address?.socket_address?.port_value === ENVOY_READY_PORT)!;
      const hcm = ready.filter_chains![0]!.filters[0]!.typed_config as unknown as { route_config: { virtual_hosts: { routes: { route?: unknown; direct_response?: { status: number } }[] }[] } };
      const routes = hcm.route_config.virtual_hosts.flatMap((v) => v.routes);
      assert.deepEqual(routes.map((r) => [r.route, r.direct_response]), [[undefined, { status: 404 }]]);
    }
  });
});

describe("security boundary: the kernel rules it rests on (this machine, as root)", function () {
  this.timeout(30000);
  let dir: string;
  const children: ChildProcess[] = [];
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "boundary-"));
    fs.chmodSync(dir, 0o755);
  });
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A Unix socket server in a child process run as `uid`; resolves once it listens (mode applied). */
  const serve = async (socketPath: string, uid: number, mode?: number): Promise<void> => {
    const script = `const s = require("node:net").createServer((c) => c.end("hello")); s.listen(${JSON.stringify(socketPath)}, () => { ${mode === undefined ? "" : `if (!${JSON.stringify(socketPath)}.startsWith("\\0")) require("node:fs").chmodSync(${JSON.stringify(socketPath)}, ${mode});`} process.stdout.write("up"); });`;
    const child = spawn(process.execPath, ["-e", script], { uid, gid: uid, stdio: ["ignore", "pipe", "inherit"] });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once("data", () => resolve());
      child.once("exit", (code) => reject(new Error(`server as uid ${uid} exited ${code}`)));
    });
  };
  /** Connects as `uid` (a child process); returns "hello" or the error code. */
  const connectAs = (socketPath: string, uid: number, extraArgs: string[] = []): string => {
    const script = `const c = require("node:net").connect(${JSON.stringify(socketPath)}); c.on("data", (d) => { process.stdout.write(String(d)); c.destroy(); }); c.on("error", (e) => process.stdout.write(e.code));`;
    const r = spawnSync(extraArgs.length > 0 ? extraArgs[0]! : process.execPath, extraArgs.length > 0 ? [...extraArgs.slice(1), process.execPath, "-e", script] : ["-e", script], { uid, gid: uid, encoding: "utf8", timeout: 10000 });
    return r.stdout.trim() || `exit ${r.status}: ${r.stderr}`;
  };

  before(function () {
    if (process.getuid?.() !== 0) this.skip(); // needs to run processes as other users
  });

  it("a socket of mode 0600 (Envoy's admin) lets in its owner's uid (the entrypoint) and refuses every other uid (an agent's)", async () => {
    // The directory lets every uid through (0755), so only the socket's own mode decides.
    fs.chownSync(dir, 101, 101);
    const socketPath = path.join(dir, "admin.sock");
    await serve(socketPath, 101, 0o600);
    assert.equal(fs.statSync(socketPath).mode & 0o777, 0o600);
    assert.equal(connectAs(socketPath, 101), "hello");
    // unix(7): "connecting to a [pathname] socket requires write permission on the socket file".
    assert.equal(connectAs(socketPath, 1000), "EACCES");
    assert.equal(connectAs(socketPath, 65534), "EACCES");
  });

  it("an abstract socket (Envoy's '@' paths) has no permissions: any uid in the network namespace connects, which is why the configs refuse it", async () => {
    const name = `\0pixell-boundary-${process.pid}-${Date.now()}`;
    await serve(name, 101);
    assert.equal(connectAs(name, 65534), "hello");
  });

  it("connect() works through a read-only mount (Envoy's mount of the xDS volume), which still refuses writes", async function () {
    if (spawnSync("unshare", ["-m", "true"]).status !== 0) this.skip();
    const src = path.join(dir, "src");
    const ro = path.join(dir, "ro");
    fs.mkdirSync(src, { mode: 0o755 });
    fs.chownSync(src, 1000, 1000); // the router's uid creates the socket, as in the image
    fs.mkdirSync(ro);
    await serve(path.join(src, "xds.sock"), 1000, 0o666);
    // A private mount namespace, as a container has: the bind mount disappears with the process.
    const script = `mount --bind ${src} ${ro} && mount -o remount,bind,ro ${ro} && (touch ${ro}/written 2>/dev/null && echo WRITABLE || true) && exec setpriv --reuid=101 --regid=101 --clear-groups "$0" "$@"`;
    const r = spawnSync("unshare", ["-m", "sh", "-c", script, process.execPath, "-e",
      `const c = require("node:net").connect(${JSON.stringify(path.join(ro, "xds.sock"))}); c.on("data", (d) => { process.stdout.write(String(d)); c.destroy(); }); c.on("error", (e) => process.stdout.write(e.code));`], { encoding: "utf8", timeout: 10000 });
    assert.equal(r.stdout.trim(), "hello", r.stderr);
    assert.ok(!fs.existsSync(path.join(src, "written")), "the mount was read-only");
  });
});
