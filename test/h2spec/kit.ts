/**
 * Shared pieces of the h2spec-style suite and the attack stress harness (test/stress/h2-attacks.ts):
 * - a frame tap between the router and the agent that counts, per deployment, the HEADERS, DATA and
 *   RST_STREAM frames that reached the agent (the agent itself is a real grpc-js echo server);
 * - a lean attacker on a raw socket (counts what comes back instead of keeping 200,000 PING ACKs);
 * - the router as a child process for either engine, with CPU and RSS read from /proc.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { startEchoServer, type EchoServer } from "../../fixtures/echo-server";
import { startChildRouter, rssBytes, type ChildRouter } from "../../fixtures/child-router";
import { buildFrame, buildSettings, CLIENT_PREFACE, Flag, FrameReader, FrameType, SETTINGS_ACK } from "../../router/h2/frames";
import { encodeHeaderList, HpackDecoder } from "../../router/h2/hpack";

export type Engine = "frames" | "http2";
export const ENGINES: readonly Engine[] = ["frames", "http2"];

export const ERROR_NAMES = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED",
  "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"];
export const errorName = (code: number): string => ERROR_NAMES[code] ?? `0x${code.toString(16)}`;

// ---------------------------------------------------------------------------------------------
// Frame tap: router -> agent frames, counted per deployment (x-deployment-id of the stream).

export interface FrameCounts { headers: number; continuation: number; data: number; rst: number; streams: number }
const zero = (): FrameCounts => ({ headers: 0, continuation: 0, data: 0, rst: 0, streams: 0 });

export interface FrameTap {
  readonly port: number;
  /** Counts for one deployment id ("?" for frames on streams whose headers were not seen). */
  counts(deploymentId: string): FrameCounts;
  /** Router -> agent connections opened through the tap so far. */
  readonly connections: number;
  reset(): void;
  close(): Promise<void>;
}

export async function startFrameTap(agentPort: number): Promise<FrameTap> {
  let byDeployment = new Map<string, FrameCounts>();
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const bump = (dep: string, k: keyof FrameCounts): void => {
    let c = byDeployment.get(dep);
    if (c === undefined) byDeployment.set(dep, (c = zero()));
    c[k]++;
  };
  const server = net.createServer((down) => {
    connections++;
    const up = net.connect(agentPort, "127.0.0.1");
    sockets.add(down).add(up);
    const decoder = new HpackDecoder(4096, 1 << 30);
    const streamDep = new Map<number, string>();
    let block: Buffer[] = [];
    let blockStream = 0;
    let prefaceLeft = CLIENT_PREFACE.length;
    const endBlock = (): void => {
      let dep = "?";
      try {
        const h = decoder.decode(Buffer.concat(block)).headers;
        for (let i = 0; i < h.length; i += 2) if (h[i] === "x-deployment-id") dep = h[i + 1]!;
      } catch { /* a block the tap cannot read still counts, as "?" */ }
      if (!streamDep.has(blockStream)) { streamDep.set(blockStream, dep); bump(dep, "streams"); }
      block = [];
    };
    const reader = new FrameReader(1 << 24, (type, flags, streamId, payload) => {
      const dep = (): string => streamDep.get(streamId) ?? "?";
      if (type === FrameType.HEADERS) {
        let p = payload;
        if (flags & Flag.PADDED) p = p.subarray(1, p.length - p[0]!);
        if (flags & Flag.PRIORITY) p = p.subarray(5);
        block = [Buffer.from(p)];
        blockStream = streamId;
        if (flags & Flag.END_HEADERS) endBlock();
        bump(streamDep.get(streamId) ?? "?", "headers");
      } else if (type === FrameType.CONTINUATION) {
        block.push(Buffer.from(payload));
        if (flags & Flag.END_HEADERS) endBlock();
        bump(dep(), "continuation");
      } else if (type === FrameType.DATA) bump(dep(), "data");
      else if (type === FrameType.RST_STREAM) bump(dep(), "rst");
    }, () => undefined);
    down.on("data", (b: Buffer) => {
      if (!up.write(b)) { down.pause(); up.once("drain", () => down.resume()); }
      if (prefaceLeft > 0) {
        const skip = Math.min(prefaceLeft, b.length);
        prefaceLeft -= skip;
        b = b.subarray(skip);
      }
      if (b.length > 0) reader.push(b);
    });
    up.on("data", (b: Buffer) => { if (!down.write(b)) { up.pause(); down.once("drain", () => up.resume()); } });
    const end = (): void => { down.destroy(); up.destroy(); sockets.delete(down); sockets.delete(up); };
    down.on("close", end).on("error", end);
    up.on("close", end).on("error", end);
  });
  const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port)));
  return {
    port,
    counts: (dep) => ({ ...(byDeployment.get(dep) ?? zero()) }),
    get connections() { return connections; },
    reset() { byDeployment = new Map(); },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Attacker: a raw HTTP/2 client that counts what comes back.

export interface AttackerOptions {
  /** Our SETTINGS in the handshake. */
  readonly settings?: Array<[number, number]>;
  /** Acknowledge the server's SETTINGS (default true). */
  readonly ackSettings?: boolean;
}

export class Attacker {
  /** Frames received, by type. */
  readonly received = new Map<number, number>();
  /** GOAWAY, RST_STREAM and HEADERS frames received (floods of PING ACKs are only counted). */
  readonly kept: Array<{ type: number; flags: number; streamId: number; payload: Buffer }> = [];
  closed = false;
  sawServerSettings = false;
  private waiters: Array<() => void> = [];
  private readonly reader: FrameReader;

  private constructor(readonly socket: net.Socket, private readonly opts: AttackerOptions) {
    this.reader = new FrameReader(1 << 24, (type, flags, streamId, payload) => {
      this.received.set(type, (this.received.get(type) ?? 0) + 1);
      if (type === FrameType.SETTINGS && (flags & Flag.ACK) === 0) {
        this.sawServerSettings = true;
        if (this.opts.ackSettings !== false && !socket.destroyed) socket.write(SETTINGS_ACK);
      }
      if (type === FrameType.GOAWAY || type === FrameType.RST_STREAM || type === FrameType.HEADERS || type === FrameType.WINDOW_UPDATE) {
        this.kept.push({ type, flags, streamId, payload: Buffer.from(payload) });
      }
      this.wake();
    }, () => undefined);
    socket.on("data", (b: Buffer) => this.reader.push(b));
    socket.on("close", () => { this.closed = true; this.wake(); });
    socket.on("error", () => undefined);
  }

  static async connect(port: number, opts: AttackerOptions = {}): Promise<Attacker> {
    const socket = net.connect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => { socket.once("connect", resolve); socket.once("error", reject); });
    const a = new Attacker(socket, opts);
    socket.write(Buffer.concat([CLIENT_PREFACE, buildSettings(opts.settings ?? [])]));
    await a.until(() => a.sawServerSettings, 3000);
    return a;
  }

  /** Writes, waiting for drain; false once the connection is gone or `deadline` (epoch ms) passed. */
  async write(buf: Buffer, deadline = Infinity): Promise<boolean> {
    if (this.closed || this.socket.destroyed) return false;
    if (this.socket.write(buf)) return true;
    return await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => { cleanup(); resolve(false); }, Math.max(0, Math.min(deadline - Date.now(), 2 ** 31 - 1)));
      const ok = (): void => { cleanup(); resolve(true); };
      const gone = (): void => { cleanup(); resolve(false); };
      const cleanup = (): void => { clearTimeout(t); this.socket.off("drain", ok); this.socket.off("close", gone); };
      this.socket.once("drain", ok);
      this.socket.once("close", gone);
    });
  }

  /** Writes `count` copies of what `make(i)` returns, batched; returns how many were written before close or the deadline. */
  async flood(count: number, make: (i: number) => Buffer, deadline: number, batch = 1000): Promise<number> {
    let sent = 0;
    while (sent < count && Date.now() < deadline) {
      const n = Math.min(batch, count - sent);
      const parts: Buffer[] = [];
      for (let k = 0; k < n; k++) parts.push(make(sent + k));
      if (!(await this.write(Buffer.concat(parts), deadline))) break;
      sent += n;
    }
    return sent;
  }

  goaway(): { code: number; lastStreamId: number; debug: string } | undefined {
    const f = this.kept.find((x) => x.type === FrameType.GOAWAY);
    return f && { lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4), debug: f.payload.subarray(8).toString("utf8") };
  }

  rst(streamId: number): number | undefined {
    const f = this.kept.find((x) => x.type === FrameType.RST_STREAM && x.streamId === streamId);
    return f?.payload.readUInt32BE(0);
  }

  count(type: number): number {
    return this.received.get(type) ?? 0;
  }

  /** Resolves when `pred` holds or `ms` passed; returns whether it held. */
  async until(pred: () => boolean, ms: number): Promise<boolean> {
    const stop = Date.now() + ms;
    for (;;) {
      if (pred()) return true;
      const left = stop - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((r) => { const t = setTimeout(r, Math.min(left, 200)); this.waiters.push(() => { clearTimeout(t); r(); }); });
    }
  }

  /** Waits for a GOAWAY or the close, at most `ms`. */
  ended(ms: number): Promise<boolean> {
    return this.until(() => this.closed || this.goaway() !== undefined, ms);
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    this.waiters.splice(0).forEach((w) => w());
  }
}

/** The request header block for a gRPC call to the echo service (literals, no Huffman, no indexing). */
export function requestBlock(deploymentId: string, method = "Unary", extra: string[] = []): Buffer {
  return encodeHeaderList([":method", "POST", ":scheme", "http", ":path", `/pixell.test.Echo/${method}`, ":authority", "router",
    "content-type", "application/grpc", "te", "trailers", "x-deployment-id", deploymentId, ...extra]);
}

export function headersFrame(streamId: number, block: Buffer, flags: number = Flag.END_HEADERS): Buffer {
  return buildFrame(FrameType.HEADERS, flags, streamId, block);
}

/** One gRPC message (5-byte prefix) in a DATA frame. */
export function grpcData(streamId: number, body: string | Buffer, endStream = true): Buffer {
  const b = Buffer.from(body);
  const msg = Buffer.alloc(5 + b.length);
  msg.writeUInt32BE(b.length, 1);
  b.copy(msg, 5);
  return buildFrame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId, msg);
}

// ---------------------------------------------------------------------------------------------
// HPACK bomb pieces (RFC 7541 section 4: the dynamic table; section 6.2.1: incremental indexing).

/** A literal with incremental indexing and a new name: the entry blocks then reference by index 62. */
export function indexedLiteral(name: string, value: string): Buffer {
  const out: number[] = [0x40];
  const str = (s: string): void => {
    // 7-bit prefix integer, no Huffman (RFC 7541 section 5.1).
    let n = s.length;
    if (n < 127) out.push(n);
    else { out.push(127); n -= 127; while (n >= 128) { out.push((n & 0x7f) | 0x80); n >>= 7; } out.push(n); }
    for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i));
  };
  str(name);
  str(value);
  return Buffer.from(out);
}

/** HEADERS + CONTINUATION frames carrying `block` (split at `maxFrame`), END_HEADERS on the last. */
export function headerBlockFrames(streamId: number, block: Buffer, endStream: boolean, maxFrame = 16_384): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0, first = true; first || at < block.length; at += maxFrame, first = false) {
    const piece = block.subarray(at, at + maxFrame);
    const last = at + maxFrame >= block.length;
    const type = first ? FrameType.HEADERS : FrameType.CONTINUATION;
    const flags = (last ? Flag.END_HEADERS : 0) | (first && endStream ? Flag.END_STREAM : 0);
    parts.push(buildFrame(type, flags, streamId, piece));
  }
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// The router as a child process, the agent behind the tap.

export interface AttackBed {
  readonly engine: Engine;
  readonly router: ChildRouter;
  readonly agent: EchoServer;
  readonly tap: FrameTap;
  close(): Promise<void>;
}

/**
 * An echo agent named `steady` behind a frame tap, and a child router for `engine` with two
 * deployments on that one agent address: `atk` (the attacker's) and `steady` (the steady client's).
 * Both share the router's pooled connection to the agent, as callers of one deployment do.
 */
export async function startAttackBed(engine: Engine): Promise<AttackBed> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pixell-h2attack-"));
  const agent = await startEchoServer({ name: "steady" });
  const tap = await startFrameTap(agent.port);
  fs.writeFileSync(path.join(dir, "r.json"), JSON.stringify({ deployments: [{ id: "atk", port: tap.port }, { id: "steady", port: tap.port }] }));
  const router = await startChildRouter({ registry: `file:${path.join(dir, "r.json")}`, env: { ROUTER_ENGINE: engine } });
  return {
    engine, router, agent, tap,
    async close() {
      await router.kill();
      await tap.close();
      await agent.stop(true);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const CLK_TCK = 100; // Linux USER_HZ; /proc/PID/stat reports utime and stime in these ticks.

/** User + system CPU of a process, in ms (from /proc/PID/stat). */
export function cpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may contain spaces) start at field 3.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

/** Samples a process's RSS every `everyMs` until stopped; `peak()` is the highest seen. */
export function rssSampler(pid: number, everyMs = 25): { peak(): number; stop(): number } {
  let peak = 0;
  const sample = (): void => { try { peak = Math.max(peak, rssBytes(pid)); } catch { /* the process is gone */ } };
  sample();
  const t = setInterval(sample, everyMs);
  return { peak: () => peak, stop: () => { clearInterval(t); sample(); return peak; } };
}

export const MiB = 1024 * 1024;
