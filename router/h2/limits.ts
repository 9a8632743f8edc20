/**
 * The frame relay's HTTP/2 protocol limits: what one peer may make the router do before its
 * connection is closed (GOAWAY ENHANCE_YOUR_CALM) or its stream refused. Each value is chosen so
 * that ordinary clients and agents never reach it; docs/decisions/h2-protocol-limits.md says why each.
 */

/**
 * Rapid reset (CVE-2023-44487): a stream the client resets within this long of opening it is
 * "premature". Envoy's `premature_reset_min_stream_lifetime_seconds` default is 1 s.
 */
export const PREMATURE_RESET_MIN_LIFETIME_MS = 1000;

/**
 * Premature resets are judged over this many closed streams of one connection: before it, the
 * connection is closed once premature resets reach half of it (no later good stream could bring the
 * ratio under 50%); after it, once they are half of all closed streams. Envoy's
 * `overload.premature_reset_total_stream_count` (default 500) with the same ratio
 * (ConnectionManagerImpl::maybeDrainDueToPrematureResets). So 250 rapid resets close a connection.
 */
export const PREMATURE_RESET_STREAM_COUNT = 500;

/**
 * Frames that make no progress (PING, SETTINGS, empty DATA without END_STREAM, empty CONTINUATION)
 * a connection may send in a row. A frame that does (HEADERS, non-empty DATA) gives back
 * NO_PROGRESS_REFILL of it; an exhausted budget is refilled once NO_PROGRESS_WINDOW_MS passed
 * since the last refill, so a keepalive PING a second never reaches it, while a flood does in
 * milliseconds. nginx closes a connection whose bytes are mostly not payload ("http2 flood detected",
 * total bytes > 8 x payload + 1 MiB); Envoy closes after 1 consecutive empty DATA/HEADERS/CONTINUATION
 * (`max_consecutive_inbound_frames_with_empty_payload`). 10,000 lets readers' SETTINGS/PING floods of
 * that size pass, as they did before.
 */
export const NO_PROGRESS_FRAME_BUDGET = 10_000;
export const NO_PROGRESS_REFILL = 100;
export const NO_PROGRESS_WINDOW_MS = 10_000;

/**
 * CONTINUATION frames in one header block. The hard header-block limit (1 MiB) in full 16 KiB frames
 * is 64 frames; a block cut finer than that is a CONTINUATION flood (VU#421644, April 2024). nghttp2
 * (and so Node's http2) allows 8 (`nghttp2_option_set_max_continuations`); 64 keeps every block the
 * router answers with RESOURCE_EXHAUSTED (64 KiB to 1 MiB) answered that way rather than by GOAWAY.
 */
export const MAX_CONTINUATION_FRAMES = 64;

/**
 * Decoded header list (RFC 9113 section 6.5.2: name + value + 32 per field), advertised as
 * SETTINGS_MAX_HEADER_LIST_SIZE and enforced while decoding (RFC 7541 section 4 / RFC 9113 section 10.5.1):
 * the decoder stops building fields at the first one that crosses it. The encoded block may be 64 KiB,
 * which Huffman expands by at most 8/5 (~102 KiB), so 256 KiB never refuses a block under the block
 * limit; an HPACK bomb (one dynamic-table entry referenced by every byte) stops after 256 KiB, not 260 MB.
 */
export const MAX_HEADER_LIST_BYTES = 256 << 10;

/**
 * Control replies the router owes a peer that does not read (PING ACK, SETTINGS ACK, RST_STREAM), counted while
 * over 1 MiB (the DATA high-water mark) of what it wrote earlier is still unsent; past it, GOAWAY ENHANCE_YOUR_CALM and
 * the socket is destroyed. Envoy's `max_outbound_control_frames` default is 1000.
 */
export const MAX_OUTBOUND_CONTROL_FRAMES = 1000;

/**
 * Streams one client may have open on a connection, advertised as SETTINGS_MAX_CONCURRENT_STREAMS
 * (RFC 9113 section 5.1.2); a stream past it is refused (RST_STREAM REFUSED_STREAM). The http2 engine
 * advertises the same.
 */
export const MAX_CLIENT_STREAMS = 10_000;

/**
 * Streams the router opens on a new agent connection before the agent's first SETTINGS frame arrives.
 * RFC 9113 section 5.1.2: the peer's SETTINGS_MAX_CONCURRENT_STREAMS is unlimited until its SETTINGS say
 * otherwise, and "it is recommended that this value be no smaller than 100"; an agent that advertises less
 * (any limit below the burst) would refuse the excess with REFUSED_STREAM. nghttp2, and so Node's http2 client
 * (the http2 engine, `peerMaxConcurrentStreams`), assume the same 100.
 */
export const STREAMS_BEFORE_PEER_SETTINGS = 100;
