/**
 * What the client-side and the agent-side connections share on top of H2Conn: their open
 * streams, and the send credit the peer gives (stream and connection WINDOW_UPDATE, a changed
 * SETTINGS_INITIAL_WINDOW_SIZE, a socket that drained) resuming the directions that send on them.
 */
import { H2Conn } from "./conn";
import type { RelayStream } from "./stream";

export abstract class StreamConn<T> extends H2Conn {
  /** Open streams by id. */
  readonly streams = new Map<number, T>();
  /** Directions that could not send for lack of connection-level credit or socket room. */
  readonly blocked = new Set<RelayStream>();

  /** The direction of a stream's call that sends on this connection. */
  protected abstract sending(entry: T): RelayStream;

  protected onStreamWindowUpdate(streamId: number, increment: number): void {
    const entry = this.streams.get(streamId);
    if (entry === undefined) return;
    const s = this.sending(entry);
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
      s.sendWindow += delta;
      if (delta > 0) s.pump();
    }
  }
}
