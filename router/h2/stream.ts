/**
 * One direction of a relayed call: what one peer sends on its stream, queued until the other
 * peer's windows let it go out on the other stream. A call has two (request: client → agent,
 * response: agent → client), the same code both ways, like grpc-proxy's two symmetric pumps.
 *
 * Flow control: the sender's stream window is credited only as its bytes leave toward the
 * receiver, so what the router holds for one stream is bounded by the stream window it
 * advertised. The sender's connection window is credited as soon as its bytes are queued here:
 * connections are shared (one per agent by every caller of it; one from a proxy in front by all
 * its callers), and a receiver that stops reading must hold only its own stream, not every stream
 * of the sender's connection. A shared BufferBudget bounds the bytes so credited early; past it,
 * connection credit waits for the bytes to leave, as stream credit does.
 * Payloads are forwarded as the slices they arrived in; nothing is decoded here.
 */
import { wastesItsBuffer } from "./buffer-view";
import type { H2Conn } from "./conn";
import type { StreamConn } from "./stream-conn";

/**
 * What a direction keeps of what it sent, for a stream the receiver may still refuse (RFC 9113 section 8.7:
 * REFUSED_STREAM, not processed, so it may go again): a gRPC request message of up to this many bytes. Past it the
 * call is not replayed; the router already holds up to a stream window (1 MiB) per direction, this is 1/64 of it.
 */
export const REPLAY_LIMIT_BYTES = 16 << 10;

/** One item waiting to be sent: DATA (maybe ending the stream) or a final header block (trailers). */
class Pending {
  constructor(public payload: Buffer, readonly end: boolean, readonly isHeaders: boolean) {}
}

/**
 * Bytes queued whose connection-level credit went back to their sender before they left the
 * router, over every stream of the relay: the memory that stream isolation costs, bounded.
 */
export class BufferBudget {
  held = 0;
  private warnedAt = -Infinity;

  /** `onExhausted` is told (at most once a minute) when the budget is full. */
  constructor(readonly limit: number, private readonly onExhausted?: (held: number) => void) {}

  take(bytes: number): boolean {
    if (this.held + bytes <= this.limit) {
      this.held += bytes;
      return true;
    }
    const now = performance.now();
    if (now - this.warnedAt >= 60_000) {
      this.warnedAt = now;
      this.onExhausted?.(this.held);
    }
    return false;
  }

  give(bytes: number): void {
    this.held -= bytes;
  }
}

/** Told when a direction's END_STREAM went out to its receiver. */
export interface StreamOwner {
  streamEnded(stream: RelayStream): void;
}

export class RelayStream {
  private readonly queue: Pending[] = [];
  /** The sender's connection and its stream id (0 until known). */
  from: H2Conn | undefined = undefined;
  fromId = 0;
  /** The receiver's connection and its stream id (0 until known). */
  to: StreamConn<unknown> | undefined = undefined;
  toId = 0;
  /** Credit the receiver gave for this stream. */
  sendWindow = 0;
  /** What the sender may still send on this stream; more is a FLOW_CONTROL_ERROR. */
  recvWindow: number;
  /** Bytes that left toward the receiver but are not yet credited back to the sender's stream. */
  private recvUnacked = 0;
  /** Queued DATA bytes whose connection credit is still owed (the budget was full when they came); the rest are in the budget. */
  private creditOwed = 0;
  /** The sender sent END_STREAM. */
  remoteEnded = false;
  /** The sender's stream was reset: it gets no more stream credit. */
  senderReset = false;
  /** END_STREAM went out to the receiver. */
  localEnded = false;
  /** The call is over: nothing more is sent, what waited was credited back. */
  private dropped = false;
  /** Bytes sent and kept for a replay, or -1: not kept (not asked for, no longer needed, or past REPLAY_LIMIT_BYTES). */
  private keptBytes = -1;
  private kept: Pending[] | undefined = undefined;
  /** DATA bytes at the head of the queue that go out a second time: their sender was credited the first time. */
  private replayed = 0;

  constructor(private readonly owner: StreamOwner, private readonly windowBytes: number, private readonly budget: BufferBudget) {
    this.recvWindow = windowBytes;
  }

  receiveFrom(conn: H2Conn, streamId: number): void {
    this.from = conn;
    this.fromId = streamId;
  }

  sendTo(conn: StreamConn<unknown>, streamId: number): void {
    this.to = conn;
    this.toId = streamId;
    this.sendWindow = conn.peerInitialWindow;
  }

  /** True while nothing waits to be sent. */
  get idle(): boolean {
    return this.queue.length === 0;
  }

  /**
   * DATA from the sender, counted against the window the router advertised. False when the sender
   * overran it (the bytes are credited back at connection level; the caller resets or fails the call).
   */
  received(payload: Buffer, paddingBytes: number, endStream: boolean): boolean {
    const flow = payload.length + paddingBytes;
    this.recvWindow -= flow;
    if (this.recvWindow < 0) {
      this.from!.creditConnection(flow);
      return false;
    }
    if (endStream) this.remoteEnded = true;
    // Padding is never forwarded: credit it back at once.
    if (paddingBytes > 0) {
      this.from!.creditConnection(paddingBytes);
      this.creditStream(paddingBytes);
    }
    return true;
  }

  /** Bytes received that will not be forwarded (the call is over or the receiver is done): credited back. */
  discard(bytes: number): void {
    if (bytes > 0) this.from!.creditConnection(bytes);
  }

  /** Queues DATA for the receiver and sends what the windows allow. */
  pushData(payload: Buffer, end: boolean): void {
    const n = payload.length;
    // An empty DATA frame that does not end the stream carries nothing: not forwarded (a flood of them would be relayed one for one).
    if (n === 0 && !end) return;
    if (n > 0) {
      // Held here now, bounded by this stream's window: the sender's other streams need not wait for it.
      if (this.budget.take(n)) this.from!.creditConnection(n);
      else this.creditOwed += n;
    }
    this.queue.push(new Pending(payload, end, false));
    this.pump();
  }

  /** Queues the final header block (trailers): it follows any DATA still waiting. */
  pushTrailers(block: Buffer): void {
    this.queue.push(new Pending(block, true, true));
    this.pump();
  }

  /** Sends queued bytes as far as the receiver's stream and connection windows allow; credits the sender for what left. */
  pump(): void {
    const to = this.to;
    if (to === undefined || this.toId === 0 || this.localEnded || this.dropped) return;
    const q = this.queue;
    while (q.length > 0) {
      const item = q[0]!;
      if (item.isHeaders) {
        q.shift();
        to.writeHeaderBlock(this.toId, item.payload, true);
        if (this.keptBytes >= 0) this.keep(item.payload, true, true);
        return this.ended();
      }
      const len = item.payload.length;
      if (len > 0) {
        const room = Math.min(this.sendWindow, to.sendWindow, to.peerMaxFrameSize);
        if (room <= 0 || to.congested) {
          if (to.sendWindow <= 0 || to.congested) to.blocked.add(this);
          return detachSmallView(q);
        }
        if (len > room) {
          to.writeData(this.toId, item.payload.subarray(0, room), false);
          if (this.keptBytes >= 0) this.keep(item.payload.subarray(0, room), false, false);
          item.payload = item.payload.subarray(room);
          this.sendWindow -= room;
          this.left(room);
          continue;
        }
      }
      q.shift();
      to.writeData(this.toId, item.payload, item.end);
      if (this.keptBytes >= 0) this.keep(item.payload, item.end, false);
      this.sendWindow -= len;
      this.left(len);
      if (item.end) return this.ended();
    }
  }

  /** The call is over: empty the queue, crediting the sender's connection for DATA that will never be forwarded. */
  drop(): void {
    this.dropped = true;
    this.to?.blocked.delete(this);
    let bytes = -this.replayed;
    this.replayed = 0;
    for (const item of this.queue) if (!item.isHeaders) bytes += item.payload.length;
    this.queue.length = 0;
    this.release(bytes);
    this.forgetSent();
  }

  /** From now on, what is sent is also kept, until forgetSent() or rewind(). */
  keepSent(): void {
    this.keptBytes = 0;
  }

  /** A replay is no longer possible or needed (the receiver answered): what was kept goes. */
  forgetSent(): void {
    this.keptBytes = -1;
    this.kept = undefined;
  }

  private keep(payload: Buffer, end: boolean, isHeaders: boolean): void {
    const n = (this.keptBytes += payload.length);
    if (n > REPLAY_LIMIT_BYTES) return this.forgetSent();
    // A view into a much larger socket read is copied: kept, it would hold the whole read until the answer begins.
    const own = wastesItsBuffer(payload) ? Buffer.from(payload) : payload;
    (this.kept ??= []).push(new Pending(own, end, isHeaders));
  }

  /**
   * The receiver refused the stream without processing it: everything kept goes out again, first, on the stream the
   * next sendTo() names; nothing more is kept (one replay). False, and nothing changes, when not all of it was kept.
   */
  rewind(): boolean {
    if (this.keptBytes < 0) return false;
    const kept = this.kept ?? [];
    for (const item of kept) if (!item.isHeaders) this.replayed += item.payload.length;
    this.queue.unshift(...kept);
    this.forgetSent();
    this.to?.blocked.delete(this);
    this.to = undefined;
    this.toId = 0;
    this.localEnded = false;
    return true;
  }

  private ended(): void {
    this.localEnded = true;
    this.owner.streamEnded(this);
  }

  /** Queued bytes left toward the receiver: the sender may send that much more on this stream. */
  private left(bytes: number): void {
    if (bytes === 0) return;
    if (this.replayed > 0) {
      // Sent again after a refusal: the first sending already released and credited them.
      const again = Math.min(this.replayed, bytes);
      this.replayed -= again;
      bytes -= again;
      if (bytes === 0) return;
    }
    this.release(bytes);
    this.creditStream(bytes);
  }

  /** Queued bytes are gone (sent or dropped): pay connection credit still owed, else return budget. */
  private release(bytes: number): void {
    if (bytes === 0) return;
    const pay = Math.min(this.creditOwed, bytes);
    if (pay > 0) {
      this.creditOwed -= pay;
      this.from!.creditConnection(pay);
    }
    if (bytes > pay) this.budget.give(bytes - pay);
  }

  /** Stream-level credit to the sender, in batches of a quarter window. */
  private creditStream(bytes: number): void {
    if (this.remoteEnded || this.senderReset) return;
    this.recvUnacked += bytes;
    if (this.recvUnacked >= this.windowBytes >>> 2) {
      this.from!.writeWindowUpdate(this.fromId, this.recvUnacked);
      this.recvWindow += this.recvUnacked;
      this.recvUnacked = 0;
    }
  }
}

/**
 * Waiting DATA is a view into a socket read buffer; many small frames waiting could pin many
 * large buffers, so the window would no longer bound memory. Copy views that waste their buffer.
 */
function detachSmallView(q: Pending[]): void {
  // Only the newest item: older ones were checked when they were newest.
  const item = q[q.length - 1]!;
  const p = item.payload;
  if (!item.isHeaders && wastesItsBuffer(p)) {
    const copy = Buffer.allocUnsafeSlow(p.length);
    p.copy(copy);
    item.payload = copy;
  }
}
