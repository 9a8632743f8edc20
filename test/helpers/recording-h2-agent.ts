/**
 * A bare HTTP/2 "agent" on a raw socket: it records every frame the router sends it (header blocks
 * decoded) and answers each request, once the request ends, with frames the test chooses, so a test
 * can send responses no real gRPC server would (uppercase names, 1xx, a bad content-length...) and
 * assert exactly what reached the agent.
 */
import * as net from "node:net";
import { buildFrame, Flag, FrameType } from "../../router/h2/frames";
import { serveRawH2 } from "./raw-h2-serve";
import { encodeHeaderList, HpackDecoder, type HeaderList } from "../../router/h2/hpack";

export interface AgentFrame {
  /** Which accepted connection it came on (1, 2, ...). */
  readonly conn: number;
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
  /** Decoded, for HEADERS. */
  readonly headers?: HeaderList;
}

/** The frames to send back once a request ended (END_STREAM), given its stream and request headers. */
export type Responder = (streamId: number, request: HeaderList) => Buffer[];

/** HEADERS (END_HEADERS, optionally END_STREAM) with `list` encoded statelessly. */
export function headersFrame(streamId: number, list: HeaderList, endStream: boolean): Buffer {
  return buildFrame(FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), streamId, encodeHeaderList(list));
}

/** DATA carrying one gRPC message. */
export function messageFrame(streamId: number, body: string, endStream = false): Buffer {
  const b = Buffer.from(body);
  const msg = Buffer.alloc(5 + b.length);
  msg.writeUInt32BE(b.length, 1);
  b.copy(msg, 5);
  return buildFrame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId, msg);
}

export const GRPC_RESPONSE: HeaderList = [":status", "200", "content-type", "application/grpc"];

/** A well-formed gRPC answer: response headers, one message "ok", trailers with grpc-status 0. */
export const okResponse: Responder = (id) => [headersFrame(id, GRPC_RESPONSE, false), messageFrame(id, "ok"), headersFrame(id, ["grpc-status", "0"], true)];

export class RawH2Agent {
  readonly frames: AgentFrame[] = [];
  connections = 0;
  /** Replace to change what the next requests get. */
  respond: Responder = okResponse;
  private readonly sockets = new Set<net.Socket>();

  private constructor(private readonly server: net.Server, readonly port: number) {}

  static async start(): Promise<RawH2Agent> {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const agent = new RawH2Agent(server, (server.address() as net.AddressInfo).port);
    server.on("connection", (s) => agent.serve(s));
    return agent;
  }

  /** Request HEADERS (the first block of each stream) in arrival order. */
  requests(): AgentFrame[] {
    const seen = new Set<string>();
    return this.frames.filter((f) => {
      if (f.type !== FrameType.HEADERS) return false;
      const key = `${f.conn}/${f.streamId}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }

  /** Frames of one stream on one connection. */
  streamFrames(conn: number, streamId: number): AgentFrame[] {
    return this.frames.filter((f) => f.conn === conn && f.streamId === streamId);
  }

  private serve(socket: net.Socket): void {
    const conn = ++this.connections;
    this.sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => this.sockets.delete(socket));
    const decoder = new HpackDecoder(4096);
    const requestHeaders = new Map<number, HeaderList>();
    serveRawH2(socket, (type, flags, streamId, raw) => {
      const payload = Buffer.from(raw);
      let headers: HeaderList | undefined;
      if (type === FrameType.HEADERS) {
        // Strip padding and priority (the router sends neither; Node's http2 client might).
        let start = 0;
        let end = payload.length;
        if ((flags & Flag.PADDED) !== 0) { end -= payload[0]!; start = 1; }
        if ((flags & Flag.PRIORITY) !== 0) start += 5;
        headers = [...decoder.decode(payload.subarray(start, end)).headers];
        if (!requestHeaders.has(streamId)) requestHeaders.set(streamId, headers);
      }
      this.frames.push({ conn, type, flags, streamId, payload, headers });
      if (type === FrameType.PING && (flags & Flag.ACK) === 0) socket.write(buildFrame(FrameType.PING, Flag.ACK, 0, payload));
      if ((type === FrameType.HEADERS || type === FrameType.DATA) && (flags & Flag.END_STREAM) !== 0) {
        for (const f of this.respond(streamId, requestHeaders.get(streamId) ?? [])) socket.write(f);
      }
    }, () => socket.destroy());
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
