/**
 * An agent on a raw socket that counts the frames the router sends it, for limits whose point is what
 * never reaches the agent. It answers a request once the router ends it: Trailers-Only, grpc-status 0.
 */
import * as net from "node:net";
import { buildFrame, buildSettings, CLIENT_PREFACE, Flag, FrameReader, FrameType, SETTINGS_ACK } from "../../router/h2/frames";
import { encodeHeaderList } from "../../router/h2/hpack";

const OK = encodeHeaderList([":status", "200", "content-type", "application/grpc", "grpc-status", "0"]);

export interface RawAgent {
  readonly port: number;
  /** Frames received, by type (every connection together). */
  readonly counts: Map<number, number>;
  /** DATA frames received with an empty payload. */
  emptyData: number;
  count(type: number): number;
  stop(): Promise<void>;
}

export async function startRawAgent(): Promise<RawAgent> {
  const sockets = new Set<net.Socket>();
  const agent: RawAgent = {
    port: 0, counts: new Map(), emptyData: 0,
    count: (t) => agent.counts.get(t) ?? 0,
    stop: () => new Promise<void>((r) => { sockets.forEach((s) => s.destroy()); server.close(() => r()); }),
  };
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    let preface = 0;
    const reader = new FrameReader(1 << 24, (type, flags, streamId, payload) => {
      agent.counts.set(type, agent.count(type) + 1);
      if (type === FrameType.SETTINGS && (flags & Flag.ACK) === 0) socket.write(SETTINGS_ACK);
      if (type === FrameType.DATA && payload.length === 0) agent.emptyData++;
      if ((type === FrameType.HEADERS || type === FrameType.DATA) && (flags & Flag.END_STREAM) !== 0) {
        socket.write(buildFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, streamId, OK));
      }
    }, () => undefined);
    socket.write(buildSettings([]));
    socket.on("data", (chunk: Buffer) => {
      if (preface < CLIENT_PREFACE.length) {
        const n = Math.min(chunk.length, CLIENT_PREFACE.length - preface);
        preface += n;
        chunk = chunk.subarray(n);
      }
      if (chunk.length > 0) reader.push(chunk);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  (agent as { port: number }).port = (server.address() as net.AddressInfo).port;
  return agent;
}
