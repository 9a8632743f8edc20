/**
 * A bare HTTP/2 client on a raw socket, for protocol edges a real client never produces:
 * hand-built frames go out, every frame that comes back is parsed and header blocks decoded.
 */
import * as net from "node:net";
import {
  buildFrame, buildSettings, CLIENT_PREFACE, Flag, FrameReader, FrameType, SETTINGS_ACK,
} from "../../router/h2/frames";
import { encodeHeaderList, HpackDecoder, type HeaderList } from "../../router/h2/hpack";

export interface RawFrame { type: number; flags: number; streamId: number; payload: Buffer; headers?: HeaderList }

export class RawH2 {
  readonly frames: RawFrame[] = [];
  readonly decoder = new HpackDecoder(4096);
  closed = false;
  private waiters: Array<() => void> = [];
  private readonly reader = new FrameReader(1 << 24, (type, flags, streamId, payload) => {
    const f: RawFrame = { type, flags, streamId, payload: Buffer.from(payload) };
    if (type === FrameType.HEADERS) f.headers = [...this.decoder.decode(payload).headers];
    if (type === FrameType.SETTINGS && (flags & Flag.ACK) === 0) this.socket.write(SETTINGS_ACK);
    this.frames.push(f);
    this.wake();
  }, () => undefined);

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (c: Buffer) => this.reader.push(c));
    socket.on("close", () => { this.closed = true; this.wake(); });
    socket.on("error", () => undefined);
  }

  /** Connects; with `handshake`, sends the preface and SETTINGS (optionally our own settings). */
  static async connect(port: number, handshake = true, settings: Array<[number, number]> = []): Promise<RawH2> {
    const socket = net.connect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => { socket.once("connect", resolve); socket.once("error", reject); });
    const c = new RawH2(socket);
    if (handshake) c.send(CLIENT_PREFACE, buildSettings(settings));
    return c;
  }

  send(...bufs: Buffer[]): void {
    for (const b of bufs) this.socket.write(b);
  }

  /** HEADERS (END_HEADERS) for a gRPC request to the echo service. */
  requestHeaders(streamId: number, deploymentId: string, method = "Unary", extra: string[] = [], endStream = false): Buffer {
    const block = encodeHeaderList([":method", "POST", ":scheme", "http", ":path", `/pixell.test.Echo/${method}`, ":authority", "router",
      "content-type", "application/grpc", "te", "trailers", "x-deployment-id", deploymentId, ...extra]);
    return buildFrame(FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), streamId, block);
  }

  /** One gRPC message in a DATA frame. */
  static grpcMessage(streamId: number, body: string | Buffer, endStream = true): Buffer {
    const b = Buffer.from(body);
    const msg = Buffer.alloc(5 + b.length);
    msg.writeUInt32BE(b.length, 1);
    b.copy(msg, 5);
    return buildFrame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId, msg);
  }

  /** Waits until a frame matching `pred` arrived (or the connection closed); returns it. */
  async waitFor(pred: (f: RawFrame) => boolean, ms = 3000, what = "frame"): Promise<RawFrame> {
    const until = Date.now() + ms;
    for (;;) {
      const f = this.frames.find(pred);
      if (f !== undefined) return f;
      if (this.closed) throw new Error(`connection closed while waiting for ${what}`);
      const left = until - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => { const t = setTimeout(r, left); this.waiters.push(() => { clearTimeout(t); r(); }); });
    }
  }

  /** Waits for the stream's final header block (END_STREAM) and returns its headers. */
  async final(streamId: number): Promise<HeaderList> {
    const f = await this.waitFor((x) => x.streamId === streamId && x.type === FrameType.HEADERS && (x.flags & Flag.END_STREAM) !== 0, 3000, `end of stream ${streamId}`);
    return f.headers!;
  }

  /** The DATA bytes received on a stream. */
  dataOf(streamId: number): Buffer {
    return Buffer.concat(this.frames.filter((f) => f.type === FrameType.DATA && f.streamId === streamId).map((f) => f.payload));
  }

  async closedByPeer(ms = 3000): Promise<void> {
    const until = Date.now() + ms;
    while (!this.closed && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    if (!this.closed) throw new Error("the router did not close the connection");
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    this.waiters.splice(0).forEach((w) => w());
  }
}

export function headerOf(list: HeaderList, name: string): string | undefined {
  for (let i = 0; i < list.length; i += 2) if (list[i] === name) return list[i + 1];
  return undefined;
}
