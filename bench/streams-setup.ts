/**
 * What the open-streams and churn parts share: the router bundle as a child with a file registry,
 * echo agents (bench/echo-agent.ts) in their own processes, one node:http2 unary call, and the
 * router's /proc and /metrics readings (RSS, fds, CPU ticks, active streams).
 * bench/main.ts has its own bundle and spawn; these are kept apart so the two parts also run alone.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as path from "node:path";
import { bundleRouter as bundleShipped } from "../build/router";
import { metricValue } from "../fixtures/child-router";
import { grpcFrame } from "./configs";
import { freePort, waitForPortLine, type Child, type Children } from "./processes";
import { ROUTER_ENV, ROUTER_NODE_FLAGS } from "../lib/router-node-flags";

export const REPO = path.resolve(__dirname, "..");
export const UNARY_PATH = "/pixell.test.Echo/Unary";
export const HOLD_PATH = "/pixell.test.Echo/Hold";
const START_TIMEOUT_MS = 30_000;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The request body of every unary call and Hold stream: one small gRPC message. */
export function pingFrame(): Buffer {
  return grpcFrame(Buffer.from("ping"));
}

/** The router as the image ships it (build/router.ts: minified bundle, source map beside it, not loaded). */
export async function bundleRouter(dir: string): Promise<string> {
  return (await bundleShipped(path.join(dir, "router"))).file;
}

/** The environment and flags of the router's command line, as a shell would take them. */
export function routerCommand(args: readonly string[]): string {
  return [...Object.entries(ROUTER_ENV).map(([k, v]) => `${k}=${v}`), "LOG_LEVEL=info", "node", ...args].join(" ");
}

export interface Agent { readonly id: string; readonly port: number; readonly child: Child }

/** One bench/echo-agent.ts process per id, started together. */
export function startEchoAgents(children: Children, ids: readonly string[]): Promise<Agent[]> {
  return Promise.all(ids.map(async (id) => {
    const child = children.start(id, process.execPath, ["--import", "tsx", "bench/echo-agent.ts", id, "0"], { cwd: REPO });
    return { id, port: await waitForPortLine(child, START_TIMEOUT_MS), child };
  }));
}

export interface RouterChild { readonly child: Child; readonly port: number; readonly admin: number; readonly command: string }

/** The bundled router on free ports with a file registry of `agents`; resolves once a unary call through it is OK. */
export async function startRouter(children: Children, bundle: string, dir: string, name: string, agents: readonly Agent[]): Promise<RouterChild> {
  const registry = path.join(dir, `${name}.registry.json`);
  writeFileSync(registry, JSON.stringify({ deployments: agents.map((a) => ({ id: a.id, port: a.port })) }));
  const [port, admin] = [await freePort(), await freePort()];
  // The production image's Node flags (router/Dockerfile CMD).
  const args = [...ROUTER_NODE_FLAGS, bundle, "--listen", `127.0.0.1:${port}`, "--admin", `127.0.0.1:${admin}`, "--registry", `file:${registry}`];
  const child = children.start(name, process.execPath, args, { env: { ...process.env, ...ROUTER_ENV, LOG_LEVEL: "info" } });
  const until = Date.now() + START_TIMEOUT_MS;
  let last: UnaryResult | undefined;
  while (Date.now() < until && child.exited === undefined) {
    last = await unaryCall(port, agents[0]!.id, 2000);
    if (last.ok) return { child, port, admin, command: routerCommand(args) };
    await sleep(200);
  }
  throw new Error(`the router (${name}) did not answer a unary call within ${START_TIMEOUT_MS} ms (last: ${last?.kind ?? "none"}); output:\n${child.output()}`);
}

export interface UnaryResult {
  readonly ok: boolean;
  /** "ok", or what went wrong: a socket error code, "http 503", "grpc-status 14", "timeout". */
  readonly kind: string;
  /** Microseconds from the connect to the end of the answer. */
  readonly us: number;
}

/**
 * One new connection, one Unary call, close: what a short-lived client does. OK means HTTP 200,
 * grpc-status 0 and a response message.
 */
export function unaryCall(port: number, deploymentId: string, timeoutMs: number): Promise<UnaryResult> {
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    let done = false;
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const finish = (kind: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const us = Number(process.hrtime.bigint() - started) / 1000;
      if (kind === "ok") session.close(); else session.destroy();
      resolve({ ok: kind === "ok", kind, us });
    };
    const timer = setTimeout(() => finish("timeout"), timeoutMs);
    session.on("error", (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
    const req = session.request({ ":method": "POST", ":path": UNARY_PATH, "content-type": "application/grpc", te: "trailers", "x-deployment-id": deploymentId });
    let status = 0;
    let grpcStatus: string | undefined;
    let bytes = 0;
    req.on("response", (h) => {
      status = Number(h[":status"]);
      if (h["grpc-status"] !== undefined) grpcStatus = String(h["grpc-status"]);
    });
    req.on("trailers", (t) => { grpcStatus = String(t["grpc-status"]); });
    req.on("data", (b: Buffer) => { bytes += b.length; });
    req.on("error", (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
    req.on("end", () => {
      if (status !== 200) finish(`http ${status}`);
      else if (grpcStatus !== "0") finish(`grpc-status ${grpcStatus ?? "missing"}`);
      else if (bytes < 5) finish("no message");
      else finish("ok");
    });
    req.end(pingFrame());
  });
}

/** Resident set now (VmRSS), MiB; NaN when the process is gone. */
export function rssMiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Open file descriptors of a process (entries of /proc/PID/fd); NaN when it is gone. */
export function fdCount(pid: number): number {
  try { return readdirSync(`/proc/${pid}/fd`).length; } catch { return NaN; }
}

/** "Max open files" soft limit of a process, from /proc/PID/limits. */
export function fdLimit(pid: number): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"));
    return m ? (m[1] === "unlimited" ? Infinity : Number(m[1])) : NaN;
  } catch {
    return NaN;
  }
}

/** One metric from the router's admin /metrics (summed over its series). */
export function adminMetric(adminPort: number, name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port: adminPort, path: "/metrics", timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => { body += c; });
      res.on("end", () => resolve(metricValue(body, name)));
    });
    req.on("timeout", () => req.destroy(new Error("admin /metrics: no answer in 5 s")));
    req.on("error", reject);
  });
}
