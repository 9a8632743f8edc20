/**
 * One connection's output for the current tick: frame headers, header blocks, control frames and
 * small DATA are copied in order into one buffer and reach the socket as one write when the tick's
 * writes are flushed. A Node stream write costs far more than copying a few hundred bytes (a chunk
 * record, then an iovec per chunk in writev), and a unary call is a dozen such pieces. Payloads
 * larger than COPY_MAX_BYTES are not copied: they follow the bytes before them as their own chunk.
 * Flushed bytes belong to the socket; the buffer's free tail keeps serving later ticks. The socket is
 * corked only in a tick that passes a large payload (so its header, payload and what follows leave in
 * one writev): a tick of small frames is one plain write, without the cork's buffering.
 */
import type * as net from "node:net";
import { FRAME_HEADER_SIZE, writeFrameHeader } from "./frames";

/** Size of each batch buffer (a unary call's frames are ~200 bytes each way). */
const BATCH_BYTES = 4096;
/** A payload up to this size is copied into the batch; a larger one is written as a view of its own. */
export const COPY_MAX_BYTES = 1024;

export class OutBatch {
  private buf: Buffer | undefined = undefined;
  /** Bytes [start, end) of buf are this tick's, not yet given to the socket. */
  private start = 0;
  private end = 0;

  private corked = false;

  constructor(private readonly socket: Pick<net.Socket, "write" | "destroyed" | "cork" | "uncork">) {}

  /** Bytes batched and not yet written to the socket. */
  get pending(): number {
    return this.end - this.start;
  }

  /** Room for n more bytes at the end of the batch; returns the offset to write them at. */
  private room(n: number): number {
    const buf = this.buf;
    if (buf !== undefined && this.end + n <= buf.length) return this.end;
    this.flush();
    this.buf = Buffer.allocUnsafeSlow(Math.max(BATCH_BYTES, n));
    this.start = 0;
    this.end = 0;
    return 0;
  }

  /** Appends a 9-byte frame header (RFC 9113 section 4.1). */
  frameHeader(length: number, type: number, flags: number, streamId: number): void {
    const at = this.room(FRAME_HEADER_SIZE);
    writeFrameHeader(this.buf!, at, length, type, flags, streamId);
    this.end = at + FRAME_HEADER_SIZE;
  }

  /** Appends a 32-bit big-endian word (a WINDOW_UPDATE increment, an RST_STREAM code). */
  u32(value: number): void {
    const at = this.room(4);
    this.buf!.writeUInt32BE(value, at);
    this.end = at + 4;
  }

  /** Appends bytes: copied when small, else written after what is batched, as a view. */
  bytes(src: Buffer): void {
    const n = src.length;
    if (n > COPY_MAX_BYTES) {
      if (!this.corked) {
        this.corked = true;
        this.socket.cork();
      }
      this.flush();
      this.socket.write(src);
      return;
    }
    const at = this.room(n);
    src.copy(this.buf!, at);
    this.end = at + n;
  }

  /** Gives the batched bytes to the socket. */
  flush(): void {
    if (this.end === this.start) return;
    const chunk = this.buf!.subarray(this.start, this.end);
    this.start = this.end;
    if (!this.socket.destroyed) this.socket.write(chunk);
  }

  /** The tick is over: the batched bytes to the socket, and the socket uncorked if a large payload corked it. */
  endTick(): void {
    this.flush();
    if (this.corked) {
      this.corked = false;
      this.socket.uncork();
    }
  }

  /** Forgets what is batched (the connection is being torn down). */
  drop(): void {
    this.buf = undefined;
    this.start = 0;
    this.end = 0;
  }
}
