/**
 * The server half of a bare HTTP/2 connection on a raw socket, shared by the raw test agents: our empty
 * SETTINGS first, the client preface skipped (it may arrive in pieces), every frame to `onFrame`, and
 * the peer's SETTINGS acknowledged (RFC 9113 sections 3.4 and 6.5.3).
 */
import type * as net from "node:net";
import { buildSettings, CLIENT_PREFACE, Flag, FrameReader, FrameType, SETTINGS_ACK } from "../../router/h2/frames";

export type RawFrameHandler = (type: number, flags: number, streamId: number, payload: Buffer) => void;

export function serveRawH2(socket: net.Socket, onFrame: RawFrameHandler, onError: () => void): void {
  socket.write(buildSettings([]));
  readRawH2Frames(socket, (type, flags, streamId, payload) => {
    if (type === FrameType.SETTINGS && (flags & Flag.ACK) === 0) socket.write(SETTINGS_ACK);
    onFrame(type, flags, streamId, payload);
  }, onError);
}

/** Every frame a client sends after its preface, to `onFrame`; nothing is written (the caller answers SETTINGS). */
export function readRawH2Frames(socket: net.Socket, onFrame: RawFrameHandler, onError: () => void): void {
  let preface = 0;
  const reader = new FrameReader(1 << 24, onFrame, onError);
  socket.on("data", (chunk: Buffer) => {
    if (preface < CLIENT_PREFACE.length) {
      const n = Math.min(chunk.length, CLIENT_PREFACE.length - preface);
      preface += n;
      chunk = chunk.subarray(n);
    }
    if (chunk.length > 0) reader.push(chunk);
  });
}
