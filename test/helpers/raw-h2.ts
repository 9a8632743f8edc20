/**
 * Raw TCP and HTTP/2 frame helpers for bad-input tests: send bytes, read back the frames the router sent.
 * Deliberately independent of router/h2/frames.ts: these tests judge bytes the frame relay wrote, and
 * reading them with the relay's own codec would let a bug shared by both sides pass unseen.
 */
import * as net from "node:net";

export interface RawExchange {
  /** Everything the peer sent back. */
  readonly bytes: Buffer;
  /** True when the peer closed the connection within the wait. */
  readonly closedByPeer: boolean;
  readonly ms: number;
}

/** Connects, writes `data`, and collects what comes back until the peer closes or `waitMs` passes. */
export function rawExchange(port: number, data: Buffer, waitMs = 2000): Promise<RawExchange> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closedByPeer: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ bytes: Buffer.concat(chunks), closedByPeer, ms: performance.now() - t0 });
    };
    const socket = net.connect(port, "127.0.0.1", () => socket.write(data));
    socket.on("data", (b: Buffer) => chunks.push(b));
    socket.on("error", () => finish(true)); // ECONNRESET: closed by the peer
    socket.on("close", () => finish(true));
    const timer = setTimeout(() => finish(false), waitMs);
  });
}

export interface H2Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, GOAWAY: 7, WINDOW_UPDATE: 8 } as const;
export const H2_ERROR = { NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FRAME_SIZE_ERROR: 6, REFUSED_STREAM: 7 } as const;
export const CLIENT_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** Splits bytes into HTTP/2 frames (a trailing partial frame is ignored). */
export function parseFrames(bytes: Buffer): H2Frame[] {
  const frames: H2Frame[] = [];
  let at = 0;
  while (at + 9 <= bytes.length) {
    const length = bytes.readUIntBE(at, 3);
    if (at + 9 + length > bytes.length) break;
    frames.push({ type: bytes[at + 3]!, flags: bytes[at + 4]!, streamId: bytes.readUInt32BE(at + 5) & 0x7fffffff, payload: bytes.subarray(at + 9, at + 9 + length) });
    at += 9 + length;
  }
  return frames;
}

/** The GOAWAY in a server's bytes: its error code and debug text, or undefined. */
export function findGoaway(bytes: Buffer): { errorCode: number; debug: string } | undefined {
  const f = parseFrames(bytes).find((x) => x.type === FRAME.GOAWAY);
  return f ? { errorCode: f.payload.readUInt32BE(4), debug: f.payload.subarray(8).toString("utf8") } : undefined;
}

/** An HTTP/2 frame, for writing deliberately wrong ones. */
export function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}
