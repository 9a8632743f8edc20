/**
 * The `http2` engine's protocol limits (issue 13 item 6): Node's http2 (nghttp2) already bounds most
 * floods; this names every option the router relies on, adds what Node lacks (premature-reset accounting,
 * as Envoy does), and gives nghttp2's connection errors their RFC 9113 code on the GOAWAY (Node sends
 * INTERNAL_ERROR for all of them). Each limit an abuser hits goes to the injected reporter: the same
 * `pixell_router_protocol_limit_total{limit}` labels as the frames engine and a rate-limited `warn` line.
 * docs/relay.md "Protocol limits on the http2 engine" lists what Node provides, what this adds, and the gaps.
 */
import * as http2 from "node:http2";
import type { LimitReporter, ProtocolLimit } from "../limit-report";
import { MAX_CLIENT_STREAMS } from "../h2/limits";

/** Where a hit limit goes (router/limit-report.ts's LimitReporter in the router). */
export type LimitSink = Pick<LimitReporter, "hit">;

/**
 * Node http2 server options, explicit and named. Values equal to Node's default are stated anyway so a
 * change of Node's default cannot loosen the router silently.
 */
export const HTTP2_SERVER_LIMITS = {
  /** Invalid frames (RFC 9113 section 5.4) tolerated before Node closes the session (Node default 1000). */
  maxSessionInvalidFrames: 100,
  /** Streams refused on creation (ENHANCE_YOUR_CALM each) before Node closes the session (Node default 100). */
  maxSessionRejectedStreams: 100,
  /** Unacknowledged PINGs the router itself may have outstanding (Node default 10). */
  maxOutstandingPings: 10,
  /** Entries per SETTINGS frame (Node default 32); nghttp2 ends a session that floods SETTINGS. */
  maxSettings: 32,
  /** Header fields per block, pseudo-headers included (Node default 128); past it the stream is refused. */
  maxHeaderListPairs: 128,
  /** Per-session memory in MB: past it new streams are refused (Node default 10). */
  maxSessionMemory: 64,
  /** Decoded header list bytes (RFC 9113 section 6.5.2 SETTINGS_MAX_HEADER_LIST_SIZE; nghttp2 stops decoding past it). */
  maxHeaderListSize: 64 * 1024,
  /** Concurrent streams a client may open (SETTINGS_MAX_CONCURRENT_STREAMS, as the frames engine). */
  maxConcurrentStreams: MAX_CLIENT_STREAMS,
  /** Concurrent streams the router assumes an agent-side peer allows before its SETTINGS arrive (Node default 100). */
  peerMaxConcurrentStreams: 100,
} as const;

/**
 * Premature resets (CVE-2023-44487 "rapid reset"): a stream the client resets before the router started a
 * response. As Envoy (`overload.premature_reset_total_stream_count` 500, closed when at least half of the
 * connection's streams were reset early): past `minStreams` premature resets, when they are at least
 * `ratio` of the streams opened, GOAWAY ENHANCE_YOUR_CALM. Ordinary cancels (deadlines) are a small ratio.
 */
export const PREMATURE_RESET_LIMIT = { minStreams: 500, ratio: 0.5 } as const;

const { NGHTTP2_PROTOCOL_ERROR, NGHTTP2_FRAME_SIZE_ERROR, NGHTTP2_COMPRESSION_ERROR, NGHTTP2_FLOW_CONTROL_ERROR, NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;

/**
 * nghttp2's library error (the `errno` of Node's ERR_HTTP2_ERROR) -> the RFC 9113 section 7 code for the
 * GOAWAY, and the limit name when it is a flood. nghttp2's own numbers, checked against
 * nghttp2/nghttp2 lib/includes/nghttp2/nghttp2.h (`enum nghttp2_error`).
 */
const NGHTTP2_ERRORS: ReadonlyMap<number, { code: number; limit?: ProtocolLimit }> = new Map([
  [-505, { code: NGHTTP2_PROTOCOL_ERROR }], // NGHTTP2_ERR_PROTO
  [-903, { code: NGHTTP2_PROTOCOL_ERROR }], // NGHTTP2_ERR_BAD_CLIENT_MAGIC (section 3.4)
  [-536, { code: NGHTTP2_PROTOCOL_ERROR }], // NGHTTP2_ERR_SETTINGS_EXPECTED (section 3.4)
  [http2.constants.NGHTTP2_ERR_FRAME_SIZE_ERROR, { code: NGHTTP2_FRAME_SIZE_ERROR }], // -522, the one Node exports (section 4.2)
  [-523, { code: NGHTTP2_COMPRESSION_ERROR }], // NGHTTP2_ERR_HEADER_COMP (section 4.3)
  [-524, { code: NGHTTP2_FLOW_CONTROL_ERROR }], // NGHTTP2_ERR_FLOW_CONTROL (section 6.9.1)
  [-904, { code: NGHTTP2_ENHANCE_YOUR_CALM, limit: "outbound_control_frames" }], // NGHTTP2_ERR_FLOODED: queued ACKs for a non-reader
  [-905, { code: NGHTTP2_ENHANCE_YOUR_CALM, limit: "continuation_frames" }], // NGHTTP2_ERR_TOO_MANY_CONTINUATIONS
  [-537, { code: NGHTTP2_ENHANCE_YOUR_CALM, limit: "frames_without_progress" }], // NGHTTP2_ERR_TOO_MANY_SETTINGS
]);

/** One client session's stream accounting; a call keeps it (Node clears `stream.session` once the stream closed). */
export interface GuardedSession { readonly session: http2.Http2Session; readonly peer: string; opened: number; premature: number; ended: boolean }

export class Http2Guard {
  private readonly sessions = new WeakMap<http2.Http2Session, GuardedSession>();

  constructor(private readonly reporter: LimitSink) {}

  /** The options for http2.createServer (window sizes are the server's own business). */
  serverOptions(settings: http2.Settings = {}): http2.ServerOptions {
    const l = HTTP2_SERVER_LIMITS;
    return {
      maxSessionInvalidFrames: l.maxSessionInvalidFrames,
      maxSessionRejectedStreams: l.maxSessionRejectedStreams,
      maxOutstandingPings: l.maxOutstandingPings,
      maxSettings: l.maxSettings,
      maxHeaderListPairs: l.maxHeaderListPairs,
      maxSessionMemory: l.maxSessionMemory,
      peerMaxConcurrentStreams: l.peerMaxConcurrentStreams,
      settings: { maxHeaderListSize: l.maxHeaderListSize, maxConcurrentStreams: l.maxConcurrentStreams, ...settings },
    };
  }

  /** Call from the server's `session` event. */
  onSession(session: http2.ServerHttp2Session): void {
    const peer = `${session.socket?.remoteAddress ?? "?"}:${session.socket?.remotePort ?? "?"}`;
    this.sessions.set(session, { session, peer, opened: 0, premature: 0, ended: false });
    // Node ends a session on nghttp2's connection errors with destroy(err), whose GOAWAY says INTERNAL_ERROR
    // (lib/internal/http2/core.js); the peer is owed the RFC's code (RFC 9113 section 5.4.1).
    const destroy = session.destroy.bind(session);
    // Node itself calls destroy(null) on an ordinary close: anything that is not nghttp2's error passes through as it came.
    session.destroy = (...args: Parameters<http2.Http2Session["destroy"]>): void => {
      const [err, code] = args;
      const mapped = code === undefined ? mapNghttp2Error(err) : undefined;
      if (mapped === undefined) return destroy(...args);
      if (mapped.limit !== undefined) this.reporter.hit(mapped.limit, peer, err?.message ?? "");
      destroy(err, mapped.code);
    };
  }

  /** Call for every stream the client opens; the call hands what it returns to onStreamClosed. */
  onStream(stream: http2.ServerHttp2Stream): GuardedSession | undefined {
    const guarded = stream.session === undefined ? undefined : this.sessions.get(stream.session);
    if (guarded !== undefined) guarded.opened++;
    return guarded;
  }

  /**
   * Call when a client's stream closed: `premature` when the client reset it before the router started
   * a response. Past the limit the session gets GOAWAY ENHANCE_YOUR_CALM and is destroyed.
   */
  onStreamClosed(s: GuardedSession, premature: boolean): void {
    if (!premature || s.ended) return;
    const session = s.session;
    s.premature++;
    if (s.premature < PREMATURE_RESET_LIMIT.minStreams || s.premature < PREMATURE_RESET_LIMIT.ratio * s.opened) return;
    s.ended = true;
    this.reporter.hit("premature_resets", s.peer, `${s.premature} of ${s.opened} streams reset by the client before a response`);
    if (!session.destroyed) {
      session.goaway(NGHTTP2_ENHANCE_YOUR_CALM, 0, Buffer.from("too many premature resets"));
      // close(), not destroy(): the GOAWAY is written before the socket ends (destroying at once raced it);
      // a peer that does not read is cut off after a second, as the frames engine does.
      session.close();
      setTimeout(() => { if (!session.destroyed) session.destroy(undefined, NGHTTP2_ENHANCE_YOUR_CALM); }, 1000).unref();
    }
  }
}

/**
 * Node's own flood check: past `maxSessionInvalidFrames` invalid frames, or as many empty DATA frames
 * without END_STREAM, Node fails the session with this code (nodejs/node src/node_http2.cc,
 * Http2Session::HandleDataFrame and OnInvalidFrame: `custom_recv_error_code_`).
 */
const TOO_MANY_INVALID_FRAMES = { code: NGHTTP2_ENHANCE_YOUR_CALM, limit: "frames_without_progress" } as const;

/** The RFC code (and limit) for a connection error Node ends a session with: nghttp2's, or Node's invalid-frame flood. */
function mapNghttp2Error(err: Error | null | undefined): { code: number; limit?: ProtocolLimit } | undefined {
  if (!(err instanceof Error)) return undefined;
  const { code, errno } = err as NodeJS.ErrnoException;
  if (code === "ERR_HTTP2_TOO_MANY_INVALID_FRAMES") return TOO_MANY_INVALID_FRAMES;
  if (code !== "ERR_HTTP2_ERROR" || errno === undefined) return undefined;
  return NGHTTP2_ERRORS.get(errno);
}
