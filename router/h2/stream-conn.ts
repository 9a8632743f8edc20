/**
 * What the client-side and the agent-side connections share on top of H2Conn: their open
 * streams, and the send credit the peer gives (stream and connection WINDOW_UPDATE, a changed
 * SETTINGS_INITIAL_WINDOW_SIZE, a socket that drained) resuming the directions that send on them.
 */
import { ConnectionError, H2Conn } from "./conn";
import { ErrorCode, MAX_WINDOW } from "./frames";

/** What a connection needs of a direction that sends on it (stream.ts's SendingDirection): its credit, and a way to resume it. */
export interface SendingDirection {
  sendWindow: number;
  pump(): void;
}

export abstract class StreamConn<T> extends H2Conn {
  /** Open streams by id. */
  readonly streams = new Map<number, T>();
  /** Directions that could not send for lack of connection-level credit or socket room. */
  readonly blocked = new Set<SendingDirection>();

  /** The direction of a stream's call that sends on this connection. */
  protected abstract sending(entry: T): SendingDirection;

  protected onStreamWindowUpdate(streamId: number, increment: number): void {
    const entry = this.streams.get(streamId);
    // A closed stream: WINDOW_UPDATE may still arrive for a while (RFC 9113 section 5.1), ignored.
    if (entry === undefined) return;
    const s = this.sending(entry);
    // RFC 9113 section 6.9: an increment of 0 on a stream is a stream error PROTOCOL_ERROR;
    // section 6.9.1: a stream window past 2^31-1 is a stream error FLOW_CONTROL_ERROR.
    if (increment === 0 || s.sendWindow + increment > MAX_WINDOW) {
      const code = increment === 0 ? ErrorCode.PROTOCOL_ERROR : ErrorCode.FLOW_CONTROL_ERROR;
      this.writeRst(streamId, code);
      return this.onStreamError(streamId, code);
    }
    s.sendWindow += increment;
    s.pump();
  }

  protected onConnectionWindow(): void {
    if (this.blocked.size === 0) return;
    const waiting = [...this.blocked];
    this.blocked.clear();
    for (const s of waiting) s.pump();
  }

  protected onInitialWindowChange(delta: number): void {
    for (const entry of this.streams.values()) {
      const s = this.sending(entry);
      // RFC 9113 section 6.9.2: a SETTINGS_INITIAL_WINDOW_SIZE change that takes a stream window past 2^31-1 is a connection error.
      if (s.sendWindow + delta > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE change of ${delta} takes a stream window over 2^31-1`);
      s.sendWindow += delta;
      if (delta > 0) s.pump();
    }
  }
}
