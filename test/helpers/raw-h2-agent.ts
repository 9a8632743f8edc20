/**
 * An agent on a raw socket that counts the frames the router sends it, for limits whose point is what
 * never reaches the agent. It answers a request once the router ends it: Trailers-Only, grpc-status 0.
 */
import * as net from "node:net";
import { buildFrame, Flag, FrameType } from "../../router/h2/frames";
import { serveRawH2 } from "./raw-h2-serve";
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
    serveRawH2(socket, (type, flags, streamId, payload) => {
      agent.counts.set(type, agent.count(type) + 1);
      if (type === FrameType.DATA && payload.length === 0) agent.emptyData++;
      if ((type === FrameType.HEADERS || type === FrameType.DATA) && (flags & Flag.END_STREAM) !== 0) {
        socket.write(buildFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, streamId, OK));
      }
    }, () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  (agent as { port: number }).port = (server.address() as net.AddressInfo).port;
  return agent;
}
