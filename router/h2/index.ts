/**
 * The `frames` engine: gRPC forwarding by relaying HTTP/2 frames between raw TCP sockets.
 *
 * - frames.ts       frame header codec and the incremental frame reader
 * - hpack.ts        HPACK decoder (Huffman, static and dynamic tables) and a stateless encoder
 * - conn.ts         what both sides share: SETTINGS, PING, connection-level credit, header-block assembly, batched writes
 * - stream-conn.ts  open streams and the peer's send credit (WINDOW_UPDATE, initial window) resuming them
 * - stream.ts       one direction of a call: queue, windows, credit (used twice per call)
 * - client-conn.ts  the server role toward one client: preface, stream ids and limit, idle close, GOAWAY
 * - call.ts         one call: the call policy's decisions as frames, both directions, router-made statuses
 * - request-info.ts the request fields read in one pass
 * - header-blocks.ts the header blocks the relay writes, and forwarding a decoded block
 * - upstream.ts     pooled connections to agents: stream ids, agent SETTINGS, GOAWAY, idle close
 * - relay.ts        createFrameRelay(): the server and the parts wired together
 */
export { createFrameRelay, type FrameRelay, type FrameRelayOptions } from "./relay";
export { DEFAULT_WINDOWS, type WindowOptions } from "./conn";
