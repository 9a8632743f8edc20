/**
 * One HTTP/2 session per agent address, shared by every call to that agent.
 * A session is dropped as soon as it closes, errors or receives GOAWAY, so the next
 * call opens a fresh one; idle sessions close themselves.
 */
import * as http2 from "node:http2";
import type { Logger } from "./log";
import type { Target } from "./registry/types";
import { UPSTREAM_CONNECT_TIMEOUT_MS } from "./config";

export interface UpstreamPoolOptions {
  readonly logger: Logger;
  /** Close a session after this long without socket activity. */
  readonly idleTimeoutMs?: number;
  /** Per-stream flow-control window: bounds what one slow stream can make the router buffer. */
  readonly streamWindowBytes?: number;
  /** Connection-level window: room for many streams in flight. */
  readonly connectionWindowBytes?: number;
  /** Fail a session the agent has not accepted after this long (default: the frame relay's, 3000). */
  readonly connectTimeoutMs?: number;
}

export class UpstreamPool {
  private readonly sessions = new Map<string, http2.ClientHttp2Session>();
  private readonly idleTimeoutMs: number;
  private readonly settings: http2.Settings;
  private readonly connectionWindowBytes: number;

  constructor(private readonly opts: UpstreamPoolOptions) {
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 300_000;
    this.settings = { enablePush: false, initialWindowSize: opts.streamWindowBytes ?? 1 << 20 };
    this.connectionWindowBytes = opts.connectionWindowBytes ?? 16 << 20;
  }

  /** Number of open upstream sessions, for /metrics. */
  get size(): number {
    return this.sessions.size;
  }

  get(target: Target): http2.ClientHttp2Session {
    const key = `${target.host}:${target.port}`;
    const existing = this.sessions.get(key);
    if (existing !== undefined && !existing.closed && !existing.destroyed) return existing;
    return this.open(key, target);
  }

  /** Closes every session: gracefully (open streams finish) unless `force`. */
  closeAll(force = false): void {
    for (const s of this.sessions.values()) force ? s.destroy() : s.close();
    this.sessions.clear();
  }

  private open(key: string, target: Target): http2.ClientHttp2Session {
    const host = target.host.includes(":") ? `[${target.host}]` : target.host;
    const session = http2.connect(`http://${host}:${target.port}`, { settings: this.settings, maxSessionMemory: 64 });
    this.sessions.set(key, session);
    const drop = (): void => {
      if (this.sessions.get(key) === session) this.sessions.delete(key);
    };
    // A gone task's address drops the SYN: fail the session's calls (UNAVAILABLE) instead of waiting for the kernel.
    const connectMs = this.opts.connectTimeoutMs ?? UPSTREAM_CONNECT_TIMEOUT_MS;
    const connectTimer = setTimeout(() => session.destroy(new Error(`no connection after ${connectMs} ms`)), connectMs);
    connectTimer.unref();
    session.once("close", () => clearTimeout(connectTimer));
    session.once("connect", () => {
      clearTimeout(connectTimer);
      session.setLocalWindowSize(this.connectionWindowBytes);
      // Armed only once connected: Node never clears a timer set on a session whose connect failed,
      // and it would keep that session and every call queued on it alive for the whole timeout.
      session.setTimeout(this.idleTimeoutMs, () => session.close());
    });
    session.on("error", (err: Error) => {
      drop();
      this.opts.logger.warn({ upstream: key, err: err.message }, "upstream session failed");
    });
    session.once("goaway", drop);
    session.once("close", drop);
    return session;
  }
}
