/**
 * One HTTP/2 session per agent address, shared by every call to that agent.
 * A session is dropped as soon as it closes, errors or receives GOAWAY, so the next
 * call opens a fresh one; idle sessions close themselves. A connect timeout and PING
 * keepalive (router/keepalive.ts) notice an agent that vanished without FIN or RST.
 */
import * as http2 from "node:http2";
import { connectTimeoutReason, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_KEEPALIVE, Keepalive, KeepaliveIntervals, logDeadConnection, type KeepaliveOptions, type NewCall } from "../keepalive";
import type { Logger } from "../../lib/log";
import type { Target } from "../../registry/types";

export interface UpstreamPoolOptions {
  readonly logger: Logger;
  /** Close a session after this long without socket activity. */
  readonly idleTimeoutMs?: number;
  /** Per-stream flow-control window: bounds what one slow stream can make the router buffer. */
  readonly streamWindowBytes?: number;
  /** Connection-level window: room for many streams in flight. */
  readonly connectionWindowBytes?: number;
  /** PING keepalive on agent sessions (default DEFAULT_KEEPALIVE; intervalMs 0: off). */
  readonly keepalive?: KeepaliveOptions;
  /** A session with no HTTP/2 handshake after this long fails its calls (default DEFAULT_CONNECT_TIMEOUT_MS). */
  readonly connectTimeoutMs?: number;
}

/** A session and what its keepalive needs: the streams open on it. */
class Upstream {
  readonly streams = new Set<http2.ClientHttp2Stream>();
  keepalive: Keepalive | undefined = undefined;
  connectTimer: NodeJS.Timeout | undefined = undefined;
  /** Why the router ended the session (connect timeout, keepalive); Node gives streams that never started no error. */
  failure: string | undefined = undefined;
  constructor(readonly key: string, readonly session: http2.ClientHttp2Session) {}
}

const kUpstream = Symbol("pixell.upstream");
type Tracked = http2.ClientHttp2Stream & { [kUpstream]?: Upstream };

function onStreamClose(this: Tracked): void {
  this[kUpstream]?.streams.delete(this);
}
function ignorePingResult(): void {}

/** Why the router ended this stream's session, when it did (connect timeout or keepalive). */
export function upstreamFailure(stream: http2.ClientHttp2Stream): string | undefined {
  return (stream as Tracked)[kUpstream]?.failure;
}

export class UpstreamPool {
  private readonly sessions = new Map<string, Upstream>();
  private readonly idleTimeoutMs: number;
  private readonly settings: http2.Settings;
  private readonly connectionWindowBytes: number;
  private readonly connectTimeoutMs: number;
  private readonly intervals: KeepaliveIntervals;

  constructor(private readonly opts: UpstreamPoolOptions) {
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 300_000;
    this.settings = { enablePush: false, initialWindowSize: opts.streamWindowBytes ?? 1 << 20 };
    this.connectionWindowBytes = opts.connectionWindowBytes ?? 16 << 20;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.intervals = new KeepaliveIntervals(opts.keepalive ?? DEFAULT_KEEPALIVE, opts.logger);
  }

  /** Number of open upstream sessions, for /metrics. */
  get size(): number {
    return this.sessions.size;
  }

  /** Opens a stream to the agent on its shared session (a new one when there is none, or the keepalive says so). */
  request(target: Target, headers: http2.OutgoingHttpHeaders, options: http2.ClientSessionRequestOptions): http2.ClientHttp2Stream {
    const key = `${target.host}:${target.port}`;
    let up = this.sessions.get(key);
    if (up === undefined || up.session.closed || up.session.destroyed) up = this.open(key, target);
    const verdict: NewCall = up.keepalive === undefined ? "proceed" : up.keepalive.newCall();
    if (verdict === "fresh") {
      // Silent for a while and out of PINGs the agent would accept: new calls go to a new session,
      // the old one finishes its streams.
      this.sessions.delete(key);
      up.session.close();
      up = this.open(key, target);
    }
    const stream = up.session.request(headers, options) as Tracked;
    stream[kUpstream] = up;
    up.streams.add(stream);
    stream.once("close", onStreamClose);
    if (verdict === "ping") up.keepalive!.pingNow();
    return stream;
  }

  /** Closes every session: gracefully (open streams finish) unless `force`. */
  closeAll(force = false): void {
    for (const up of this.sessions.values()) force ? up.session.destroy() : up.session.close();
    this.sessions.clear();
  }

  private open(key: string, target: Target): Upstream {
    const host = target.host.includes(":") ? `[${target.host}]` : target.host;
    const session = http2.connect(`http://${host}:${target.port}`, { settings: this.settings, maxSessionMemory: 64 });
    const up = new Upstream(key, session);
    this.sessions.set(key, up);
    const drop = (): void => {
      if (this.sessions.get(key) === up) this.sessions.delete(key);
    };
    const connectMs = this.connectTimeoutMs;
    up.connectTimer = setTimeout(() => this.declareDead(up, connectTimeoutReason(connectMs, !session.connecting)), connectMs);
    up.connectTimer.unref();
    session.once("connect", () => {
      // Node emits 'connect' even for a session destroyed while connecting (the connect timeout).
      if (session.destroyed) return;
      session.setLocalWindowSize(this.connectionWindowBytes);
      // Armed only once connected: Node never clears a timer set on a session whose connect failed,
      // and it would keep that session and every call queued on it alive for the whole timeout.
      session.setTimeout(this.idleTimeoutMs, () => session.close());
    });
    // The agent acknowledged our SETTINGS: the handshake is done, the keepalive starts.
    session.once("localSettings", () => {
      clearTimeout(up.connectTimer);
      const opts = this.intervals.forAgent(key);
      if (opts === undefined) return;
      up.keepalive = new Keepalive(opts, {
        bytesRead: () => session.socket?.bytesRead ?? 0,
        busy: () => up.streams.size > 0,
        sendPing: () => { if (!session.destroyed) session.ping(ignorePingResult); },
        dead: (reason) => this.declareDead(up, reason),
      });
    });
    session.on("error", (err: Error) => {
      drop();
      if (up.failure === undefined) this.opts.logger.warn({ upstream: key, err: err.message }, "upstream session failed");
    });
    session.on("goaway", (code: number, _lastStreamId: number, opaque?: Buffer) => {
      drop();
      this.intervals.onGoaway(key, code, opaque?.toString("utf8") ?? "");
    });
    session.once("close", () => {
      drop();
      clearTimeout(up.connectTimer);
      up.keepalive?.stop();
    });
    return up;
  }

  /** No answer from the agent: fail the session's calls now and free its slot. */
  private declareDead(up: Upstream, reason: string): void {
    if (up.failure !== undefined || up.session.destroyed) return;
    up.failure = reason;
    logDeadConnection(this.opts.logger, up.key, reason, up.streams.size);
    if (this.sessions.get(up.key) === up) this.sessions.delete(up.key);
    up.session.destroy(new Error(reason));
  }
}
