/**
 * How the router notices that an agent connection is dead when the agent vanished without FIN or RST:
 * a connect timeout on each attempt, and HTTP/2 PING keepalive on open connections. Both engines
 * (router/h2/upstream.ts and router/http2/upstream.ts) use this file; they only say how to send a PING, how
 * many bytes the socket has read, and whether calls are open.
 *
 * The keepalive follows gRPC's client-side keepalive (gRFC A8):
 * - a PING goes out only while calls are open, after `intervalMs` without a byte from the agent;
 * - the connection is dead when no byte at all arrives within `timeoutMs` of that PING;
 * - a call starting on a connection that has read nothing for `intervalMs` sends a PING at once, so a
 *   connection that died while idle fails that call after `timeoutMs`, not `intervalMs + timeoutMs`;
 * - a GOAWAY ENHANCE_YOUR_CALM "too_many_pings" doubles the interval for new connections to that agent.
 * And it stays inside what gRPC servers accept by default (A8's server enforcement, in grpc-go, C-core
 * and Java): a PING less than 5 minutes after the previous one, with no HEADERS or DATA sent by the
 * server in between, is a "strike", and the third strike closes the connection with all its calls.
 * So at most two PINGs go out at `intervalMs` while the agent sends nothing (the first is always
 * permitted, the second is one strike); after that they are spaced 5 minutes apart, and a new call on
 * such a silent connection is sent on a fresh connection instead of waiting for that spaced PING.
 */
import type { Logger } from "../lib/log";

export interface KeepaliveOptions {
  /** While calls are open, PING after this long without a byte from the agent; 0: no keepalive. */
  readonly intervalMs: number;
  /** Declare the connection dead when no byte arrives this long after a PING. */
  readonly timeoutMs: number;
}

/** A dead peer is declared at most 30 s after its last byte (PING after 15-20 s of silence, 10 s to answer), like Envoy's upstream keepalive (envoy/config.ts). */
export const DEFAULT_KEEPALIVE: KeepaliveOptions = { intervalMs: 20_000, timeoutMs: 10_000 };
/** TCP connect plus the agent's SETTINGS ACK: in a VPC both take milliseconds, and a SYN is retransmitted after 1 s. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 3000;

/** gRPC servers' default PERMIT_KEEPALIVE_TIME (grpc-go MinTime, C-core min_recv_ping_interval_without_data, Java permitKeepAliveTime). */
export const SERVER_PERMIT_KEEPALIVE_MS = 300_000;
/** Our spacing once the fast PINGs are used up: the servers' 5 minutes plus room for delay on the way. */
export const SPACED_PING_MS = SERVER_PERMIT_KEEPALIVE_MS + 10_000;
/** PINGs sent at `intervalMs` while the agent sends no HEADERS or DATA: one permitted, one strike (servers allow two). */
export const FAST_PINGS_WITHOUT_DATA = 2;
/** A PING ACK on the wire: 9-byte frame header + 8-byte payload (RFC 9113 section 6.7). */
export const PING_ACK_BYTES = 17;
/** Doubling stops here: beyond it the keepalive would notice nothing useful. */
const MAX_THROTTLED_INTERVAL_MS = 3_600_000;

export type KeepaliveDecision =
  | { readonly action: "ping" }
  | { readonly action: "dead"; readonly reason: string }
  /** Check again at `at` (performance.now() ms); undefined: not until a call starts. */
  | { readonly action: "wait"; readonly at: number | undefined };

/**
 * What a new call should do on this connection: `proceed`; `ping` (proceed, then PING: the connection
 * has been silent for an interval); `fresh` (use a new connection: this one is silent and may not PING again soon).
 */
export type NewCall = "proceed" | "ping" | "fresh";

/**
 * The keepalive's state and decisions, with time and the socket's read counter passed in (pure, for
 * tests). Reads are observed by polling the socket's byte count, so the hot path pays nothing; the
 * poll runs every quarter interval while calls are open. A read is dated to the poll before the one
 * that saw it (the earliest it can have happened), so a PING goes out 0.75 to 1 interval after the
 * last byte, and a dead agent is declared at most `intervalMs + timeoutMs` after its last byte.
 * Which frames arrived is inferred: bytes beyond one PING ACK count as the agent's HEADERS or DATA.
 */
export class KeepaliveState {
  /** When the socket last read (the poll before the one that noticed). */
  private lastReadAt: number;
  private lastPollAt: number;
  private bytesSeen: number;
  /** When the unanswered PING went out; undefined when none is outstanding. */
  private pingAt: number | undefined = undefined;
  private bytesAtPing = 0;
  private lastPingAt = -Infinity;
  private pingsWithoutData = 0;

  constructor(readonly opts: KeepaliveOptions, now: number, bytesRead: number) {
    this.lastReadAt = now;
    this.lastPollAt = now;
    this.bytesSeen = bytesRead;
  }

  /** The fast PINGs are used up: the next one waits for SPACED_PING_MS. */
  get throttled(): boolean {
    return this.pingsWithoutData >= FAST_PINGS_WITHOUT_DATA;
  }

  private observe(now: number, bytesRead: number): void {
    const previousPoll = this.lastPollAt;
    this.lastPollAt = now;
    if (bytesRead === this.bytesSeen) return;
    // More than our PING's ACK arrived: the agent sent frames of its own, which gRPC servers count as HEADERS/DATA.
    if (this.pingAt === undefined || bytesRead - this.bytesAtPing !== PING_ACK_BYTES) this.pingsWithoutData = 0;
    this.bytesSeen = bytesRead;
    this.lastReadAt = previousPoll;
    this.pingAt = undefined;
  }

  private mayPing(now: number): boolean {
    return !this.throttled || now - this.lastPingAt >= SPACED_PING_MS;
  }

  /** The periodic check: `busy` when calls are open (or waiting) on the connection. */
  check(now: number, bytesRead: number, busy: boolean): KeepaliveDecision {
    this.observe(now, bytesRead);
    if (this.pingAt !== undefined) {
      if (now - this.pingAt >= this.opts.timeoutMs) {
        return { action: "dead", reason: `keepalive: no answer to a PING within ${this.opts.timeoutMs} ms (nothing read for ~${Math.round(now - this.lastReadAt)} ms)` };
      }
      // Polled meanwhile too, so the next interval counts from (about) when the ACK came.
      return { action: "wait", at: Math.min(this.pingAt + this.opts.timeoutMs, now + this.opts.intervalMs / 4) };
    }
    if (!busy) return { action: "wait", at: undefined };
    let due = this.lastReadAt + this.opts.intervalMs;
    if (this.throttled) due = Math.max(due, this.lastPingAt + SPACED_PING_MS);
    if (now >= due) return { action: "ping" };
    return { action: "wait", at: Math.min(due, now + this.opts.intervalMs / 4) };
  }

  /** A call is about to start (A8: a connection silent for an interval is checked at once). */
  newCall(now: number, bytesRead: number): NewCall {
    this.observe(now, bytesRead);
    if (this.pingAt !== undefined || now - this.lastReadAt < this.opts.intervalMs) return "proceed";
    return this.mayPing(now) ? "ping" : "fresh";
  }

  /** A PING went out now. */
  pinged(now: number): void {
    this.pingAt = now;
    this.lastPingAt = now;
    this.bytesAtPing = this.bytesSeen;
    this.pingsWithoutData++;
  }
}

export interface KeepaliveHooks {
  /** Bytes the connection's socket has read so far. */
  bytesRead(): number;
  /** Calls open or waiting on the connection. */
  busy(): boolean;
  sendPing(): void;
  /** No answer: close the connection and fail its calls with this reason. */
  dead(reason: string): void;
}

/** Runs a KeepaliveState on a timer for one connection; started once the HTTP/2 handshake is done. */
export class Keepalive {
  private readonly state: KeepaliveState;
  private timer: NodeJS.Timeout | undefined = undefined;
  private stopped = false;
  private readonly run = (): void => {
    this.timer = undefined;
    if (this.stopped) return;
    const now = performance.now();
    const d = this.state.check(now, this.hooks.bytesRead(), this.hooks.busy());
    if (d.action === "dead") {
      this.stopped = true;
      this.hooks.dead(d.reason);
    } else if (d.action === "ping") {
      this.ping(now);
    } else if (d.at !== undefined) {
      this.arm(d.at - now);
    }
  };

  constructor(opts: KeepaliveOptions, private readonly hooks: KeepaliveHooks) {
    this.state = new KeepaliveState(opts, performance.now(), hooks.bytesRead());
    if (hooks.busy()) this.arm(opts.intervalMs / 4);
  }

  /** Before each call. Cheap while the connection is watched (the timer is armed) and not throttled. */
  newCall(): NewCall {
    if (this.stopped || (this.timer !== undefined && !this.state.throttled)) return "proceed";
    const now = performance.now();
    const verdict = this.state.newCall(now, this.hooks.bytesRead());
    if (verdict === "proceed" && this.timer === undefined) this.arm(this.state.opts.intervalMs / 4);
    return verdict;
  }

  /** Sends the PING a `ping` verdict asked for (after the call's HEADERS, so the agent counts it as a PING with a call open). */
  pingNow(): void {
    if (!this.stopped) this.ping(performance.now());
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private ping(now: number): void {
    this.hooks.sendPing();
    this.state.pinged(now);
    this.arm(Math.min(this.state.opts.timeoutMs, this.state.opts.intervalMs / 4));
  }

  private arm(ms: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(this.run, Math.max(1, ms));
    this.timer.unref();
  }
}

/** A8: the agent said we ping too often. */
export function isTooManyPings(code: number, debug: string): boolean {
  return code === 0xb /* ENHANCE_YOUR_CALM */ && debug === "too_many_pings";
}

/** A8: the interval new connections to an agent that sent "too_many_pings" use. */
export function throttledInterval(currentMs: number): number {
  return Math.min(currentMs * 2, MAX_THROTTLED_INTERVAL_MS);
}

export function connectTimeoutReason(ms: number, tcpConnected: boolean): string {
  return tcpConnected
    ? `connected, but no HTTP/2 handshake (SETTINGS ACK) within ${ms} ms (connect timeout)`
    : `TCP connect did not complete within ${ms} ms (connect timeout)`;
}

/** One warn line per connection declared dead, the same in both engines. */
export function logDeadConnection(logger: Logger, upstream: string, reason: string, calls: number): void {
  logger.warn({ upstream, reason, calls }, "agent connection declared dead");
}

/** The keepalive and connect timeout an agent pool uses. */
export interface AgentLiveness {
  readonly keepalive: KeepaliveOptions;
  readonly connectTimeoutMs: number;
}

/** Per-pool bookkeeping: the interval for each agent address, doubled after "too_many_pings". */
export class KeepaliveIntervals {
  private readonly slower = new Map<string, number>();
  constructor(private readonly base: KeepaliveOptions, private readonly logger: Logger) {}

  /** The options a new connection to `upstream` uses, or undefined when keepalive is off. */
  forAgent(upstream: string): KeepaliveOptions | undefined {
    if (this.base.intervalMs <= 0) return undefined;
    const interval = this.slower.get(upstream);
    return interval === undefined ? this.base : { ...this.base, intervalMs: interval };
  }

  /** Called on every GOAWAY from an agent. */
  onGoaway(upstream: string, code: number, debug: string): void {
    if (!isTooManyPings(code, debug) || this.base.intervalMs <= 0) return;
    const next = throttledInterval(this.slower.get(upstream) ?? this.base.intervalMs);
    this.slower.set(upstream, next);
    this.logger.warn({ upstream, keepaliveIntervalMs: next }, "agent sent GOAWAY too_many_pings: keepalive interval doubled for new connections to it");
  }
}
