/**
 * An agent on a raw socket with a low SETTINGS_MAX_CONCURRENT_STREAMS whose SETTINGS go out late (after it
 * read the router's first HEADERS), recording what the router did before and after it could know the limit.
 * RFC 9113 section 5.1.2: until the agent's SETTINGS arrive the limit is unlimited, so a client may open any
 * number of streams; the agent may refuse those past its limit with REFUSED_STREAM (section 8.7: not processed).
 * Each request is answered with its own body (HEADERS, DATA, trailers grpc-status 0) once the router ends it.
 */
import * as net from "node:net";
import { buildFrame, buildRstStream, buildSettings, buildWindowUpdate, ErrorCode, Flag, FrameType, Setting, SETTINGS_ACK } from "../../router/h2/frames";
import { readRawH2Frames } from "./raw-h2-serve";
import { encodeHeaderList, HpackDecoder } from "../../router/h2/hpack";

const RESPONSE_HEAD = encodeHeaderList([":status", "200", "content-type", "application/grpc"]);
const TRAILERS_OK = encodeHeaderList(["grpc-status", "0"]);

export interface LimitedAgentOptions {
  /** The SETTINGS_MAX_CONCURRENT_STREAMS it advertises. */
  readonly maxStreams: number;
  /** Its SETTINGS (and the ACK of the router's) go out this long after it read the first HEADERS. */
  readonly settingsDelayMs: number;
  /**
   * "lenient": streams the router opened before it had our SETTINGS are served, whatever their number;
   * "strict": a stream past maxStreams is refused with REFUSED_STREAM whenever it comes, as nghttp2 does.
   */
  readonly mode: "lenient" | "strict";
  /** How long after the request ended the answer goes out. */
  readonly answerDelayMs: number;
  /** Also refuse a stream with REFUSED_STREAM when this says so (`call`: its x-call header; `attempt`: 1 for the first stream of that call). */
  readonly refuse?: (call: string, attempt: number) => boolean;
  /** When `refuse` refuses: at the stream's HEADERS (default), or once the whole request was read (so the router has sent its DATA). */
  readonly refuseAt?: "headers" | "end";
}

export interface LimitedAgent {
  readonly port: number;
  /** Connections accepted. */
  connections: number;
  /** HEADERS (new streams) read before the router's SETTINGS ACK: opened before it knew our limit. */
  streamsBeforeAck: number;
  /** The most streams open at once when a stream opened after the router's SETTINGS ACK (that stream included, refused ones not). */
  maxOpenAfterAck: number;
  /** Streams refused with REFUSED_STREAM, and those of them refused only because of the limit. */
  refused: number;
  refusedOverLimit: number;
  /** Streams answered. */
  served: number;
  /** Streams seen per x-call value, and the request body each answered stream carried. */
  readonly attempts: Map<string, number>;
  readonly bodies: Map<string, Buffer>;
  stop(): Promise<void>;
}

interface Open { call: string; body: Buffer[]; refuseAtEnd: boolean }

export async function startLimitedAgent(opts: LimitedAgentOptions): Promise<LimitedAgent> {
  const sockets = new Set<net.Socket>();
  const agent: LimitedAgent = {
    port: 0, connections: 0, streamsBeforeAck: 0, maxOpenAfterAck: 0, refused: 0, refusedOverLimit: 0, served: 0,
    attempts: new Map(), bodies: new Map(),
    stop: () => new Promise<void>((r) => { sockets.forEach((s) => s.destroy()); server.close(() => r()); }),
  };
  const server = net.createServer((socket) => {
    agent.connections++;
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
    serve(socket, opts, agent);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  (agent as { port: number }).port = (server.address() as net.AddressInfo).port;
  return agent;
}

function serve(socket: net.Socket, opts: LimitedAgentOptions, agent: LimitedAgent): void {
  const decoder = new HpackDecoder(4096);
  const open = new Map<number, Open>();
  let settingsTimer: NodeJS.Timeout | undefined;
  let settingsSent = false;
  let acked = false;
  const write = (b: Buffer): void => {
    if (socket.destroyed) return;
    // Our SETTINGS must be the first frame we send (RFC 9113 section 3.4): an early answer or refusal sends them first.
    if (!settingsSent) {
      settingsSent = true;
      clearTimeout(settingsTimer);
      socket.write(Buffer.concat([buildSettings([[Setting.MAX_CONCURRENT_STREAMS, opts.maxStreams]]), SETTINGS_ACK]));
    }
    socket.write(b);
  };
  const refuse = (id: number): void => {
    agent.refused++;
    write(buildRstStream(id, ErrorCode.REFUSED_STREAM));
  };
  const ended = (id: number): void => {
    const s = open.get(id);
    if (s?.refuseAtEnd !== true) return void setTimeout(answer, opts.answerDelayMs, id);
    open.delete(id);
    refuse(id);
  };
  const answer = (id: number): void => {
    const s = open.get(id);
    if (s === undefined) return;
    open.delete(id);
    const body = Buffer.concat(s.body);
    agent.bodies.set(s.call, body);
    agent.served++;
    write(Buffer.concat([
      buildFrame(FrameType.HEADERS, Flag.END_HEADERS, id, RESPONSE_HEAD),
      buildFrame(FrameType.DATA, 0, id, body),
      buildFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, id, TRAILERS_OK),
    ]));
  };
  readRawH2Frames(socket, (type, flags, streamId, payload) => {
    switch (type) {
      case FrameType.SETTINGS:
        if ((flags & Flag.ACK) !== 0) acked = true;
        return; // the router's own SETTINGS are acknowledged together with ours, later
      case FrameType.HEADERS: {
        if (open.has(streamId)) return; // request trailers: none expected
        const headers = decoder.decode(payload).headers;
        let call = "";
        for (let i = 0; i < headers.length; i += 2) if (headers[i] === "x-call") call = headers[i + 1]!;
        const attempt = (agent.attempts.get(call) ?? 0) + 1;
        agent.attempts.set(call, attempt);
        if (!acked) agent.streamsBeforeAck++;
        if (settingsTimer === undefined) {
          settingsTimer = setTimeout(() => write(Buffer.alloc(0)), opts.settingsDelayMs);
        }
        const overLimit = open.size >= opts.maxStreams && (opts.mode === "strict" || acked);
        const refused = opts.refuse?.(call, attempt) === true;
        if (overLimit || (refused && opts.refuseAt !== "end")) {
          if (overLimit) agent.refusedOverLimit++;
          return refuse(streamId);
        }
        open.set(streamId, { call, body: [], refuseAtEnd: refused });
        if (acked) agent.maxOpenAfterAck = Math.max(agent.maxOpenAfterAck, open.size);
        if ((flags & Flag.END_STREAM) !== 0) ended(streamId);
        return;
      }
      case FrameType.DATA: {
        const s = open.get(streamId);
        if (payload.length > 0) {
          // Credit everything back so flow control never holds the router up.
          write(buildWindowUpdate(0, payload.length));
          if (s !== undefined && (flags & Flag.END_STREAM) === 0) write(buildWindowUpdate(streamId, payload.length));
        }
        if (s === undefined) return; // a refused stream's DATA
        s.body.push(Buffer.from(payload));
        if ((flags & Flag.END_STREAM) !== 0) ended(streamId);
        return;
      }
      case FrameType.RST_STREAM:
        open.delete(streamId);
        return;
      case FrameType.PING:
        if ((flags & Flag.ACK) === 0) write(buildFrame(FrameType.PING, Flag.ACK, 0, payload));
        return;
      default:
        return;
    }
  }, () => socket.destroy());
  socket.on("close", () => clearTimeout(settingsTimer));
}
