/**
 * The `frames` engine: gRPC forwarding by relaying HTTP/2 frames between raw TCP sockets.
 *
 * - frames.ts   frame header codec and the incremental frame reader
 * - hpack.ts    HPACK decoder (Huffman, static and dynamic tables) and a stateless encoder
 * - conn.ts     what both sides share: SETTINGS, PING, flow-control credit, header-block assembly, batched writes
 * - relay.ts    client connections and the per-call relay (routing, flow control, router-made statuses)
 * - upstream.ts pooled connections to agents: stream ids, agent SETTINGS, GOAWAY, idle close
 */
export { createFrameRelay, type FrameRelay, type FrameRelayOptions } from "./relay";
export { DEFAULT_WINDOWS, type WindowOptions } from "./conn";
