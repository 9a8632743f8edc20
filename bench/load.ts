/**
 * The load and the checks, against one path (a loopback port): h2load for unary load,
 * node:http2 for a byte-exact check of h2load's request, grpc-js for Health and streaming.
 */
import { execFile } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { checkHealth } from "../lib/health";
import { parseH2loadLog, parseH2loadSummary, type H2loadSummary } from "./stats";

export interface H2loadRun {
  readonly h2load: string;
  readonly port: number;
  /** Request path, e.g. /pixell.agent.AgentService/Invoke. */
  readonly path: string;
  /** File holding the gRPC-framed request body. */
  readonly bodyFile: string;
  readonly deploymentId: string;
  readonly connections: number;
  readonly streamsPerConnection: number;
  /** Either a duration in seconds (-D) or a request count (-n). */
  readonly seconds?: number;
  readonly requests?: number;
  /** Where h2load writes its per-request log (deleted after reading). */
  readonly logFile: string;
}

export interface H2loadResult {
  readonly summary: H2loadSummary;
  /** Durations (µs) of the requests answered HTTP 200, ascending. */
  readonly latenciesUs: number[];
  readonly command: string;
}

/** The h2load command line of a run (also printed in the results). */
export function h2loadArgs(run: Omit<H2loadRun, "h2load">): string[] {
  return [
    ...(run.seconds !== undefined ? ["-D", String(run.seconds)] : ["-n", String(run.requests ?? 1000)]),
    "-c", String(run.connections), "-m", String(run.streamsPerConnection), "-t", "1",
    "-d", run.bodyFile,
    "-H", "content-type: application/grpc", "-H", "te: trailers", "-H", `x-deployment-id: ${run.deploymentId}`,
    `--log-file=${run.logFile}`,
    `http://127.0.0.1:${run.port}${run.path}`,
  ];
}

export function runH2load(run: H2loadRun): Promise<H2loadResult> {
  const args = h2loadArgs(run);
  const timeoutMs = ((run.seconds ?? 60) + 30) * 1000;
  return new Promise((resolve, reject) => {
    execFile(run.h2load, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      try {
        if (err && !stdout) throw new Error(`h2load failed: ${err.message}\n${stderr}`);
        const summary = parseH2loadSummary(stdout);
        let latenciesUs: number[] = [];
        try { latenciesUs = parseH2loadLog(readFileSync(run.logFile, "utf8")); } catch { /* no log: no successful request */ }
        rmSync(run.logFile, { force: true });
        resolve({ summary, latenciesUs, command: `h2load ${args.map((a) => (/[\s']/.test(a) ? `'${a}'` : a)).join(" ")}` });
      } catch (e) {
        reject(e);
      }
    });
  });
}

/**
 * Sends h2load's exact request (same path, headers and body) with node:http2 and checks the
 * answer is really gRPC OK: HTTP 200 and `grpc-status: 0` (h2load only sees the HTTP status).
 * Resolves with a problem description, or undefined when it is OK.
 */
export function checkGrpcOk(port: number, path: string, body: Buffer, deploymentId: string, timeoutMs = 5000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const finish = (problem: string | undefined): void => { clearTimeout(timer); session.close(); session.destroy(); resolve(problem); };
    const timer = setTimeout(() => finish(`no answer within ${timeoutMs} ms`), timeoutMs);
    session.on("error", (err) => finish(`connection failed: ${err.message}`));
    const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", "x-deployment-id": deploymentId });
    let status = 0;
    let grpcStatus: string | undefined;
    let bytes = 0;
    req.on("response", (headers) => {
      status = Number(headers[":status"]);
      if (headers["grpc-status"] !== undefined) grpcStatus = String(headers["grpc-status"]); // trailers-only answer
    });
    req.on("trailers", (trailers) => { grpcStatus = String(trailers["grpc-status"]); });
    req.on("data", (chunk: Buffer) => { bytes += chunk.length; });
    req.on("error", (err) => finish(`request failed: ${err.message}`));
    req.on("end", () => {
      if (status !== 200) finish(`HTTP status ${status}`);
      else if (grpcStatus !== "0") finish(`grpc-status ${grpcStatus ?? "missing"}`);
      else if (bytes < 5) finish("no response message");
      else finish(undefined);
    });
    req.end(body);
  });
}

const CHANNEL_OPTIONS: grpc.ChannelOptions = { "grpc.max_receive_message_length": -1, "grpc.max_send_message_length": -1 };

/**
 * Health through the path for each id, with checkHealth: every call must return OK, and the
 * agent's message must name the id (proves the path routed to the right agent) unless `agentNamesId`
 * is false (the probe's deployments share agents).
 * Retries until `timeoutMs` (the proxy may still be starting) or `giveUp()`; resolves with the problem or undefined.
 */
export async function checkHealthThrough(port: number, ids: readonly string[], timeoutMs: number, giveUp: () => boolean = () => false, agentNamesId = true): Promise<string | undefined> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  const until = Date.now() + timeoutMs;
  try {
    let problem: string | undefined = "not checked";
    while (problem !== undefined && Date.now() < until && !giveUp()) {
      problem = undefined;
      for (const id of ids) {
        const r = await checkHealth(client, id, 2000);
        if (!r.ok) { problem = `Health(${id}): ${r.codeName} ${r.message}`; break; }
        if (agentNamesId && !r.message.includes(id)) { problem = `Health(${id}) was answered by another agent: ${r.message}`; break; }
      }
      if (problem !== undefined) await new Promise((r) => setTimeout(r, 200));
    }
    return problem;
  } finally {
    client.close();
  }
}

/** One server-streaming call of `count` messages of `size` bytes; resolves with bytes received and seconds. */
export function streamThroughput(port: number, deploymentId: string, method: string, count: number, size: number, timeoutMs = 120_000): Promise<{ bytes: number; seconds: number }> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  const identity = (b: Buffer): Buffer => b;
  const metadata = new grpc.Metadata();
  metadata.set("x-deployment-id", deploymentId);
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const call = client.makeServerStreamRequest(method, identity, identity, Buffer.from(`${count},${size}`), metadata, { deadline: Date.now() + timeoutMs });
    call.on("data", (b: Buffer) => { bytes += b.length; });
    call.on("error", (err: grpc.ServiceError) => { client.close(); reject(new Error(`stream through port ${port}: ${err.code} ${err.details}`)); });
    call.on("status", (s: grpc.StatusObject) => {
      if (s.code !== grpc.status.OK) return; // reported by "error"
      client.close();
      resolve({ bytes, seconds: Number(process.hrtime.bigint() - started) / 1e9 });
    });
  });
}
