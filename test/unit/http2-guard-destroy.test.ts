/**
 * The http2 guard's hook on session.destroy (router/http2/guard.ts): Node calls destroy(null) on an
 * ordinary close and destroy(err) with nghttp2's error on a connection error; only the latter is given
 * its RFC 9113 section 7 code on the GOAWAY and counted. (A process run found destroy(null) crashing it.)
 */
import { strict as assert } from "node:assert";
import * as http2 from "node:http2";
import { Http2Guard } from "../../router/http2/guard";
import type { ProtocolLimit } from "../../router/limit-report";

const { NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_FLOW_CONTROL_ERROR } = http2.constants;

function setup(): { session: http2.ServerHttp2Session; calls: unknown[][]; hits: ProtocolLimit[] } {
  const calls: unknown[][] = [];
  const hits: ProtocolLimit[] = [];
  const fake = { socket: { remoteAddress: "127.0.0.1", remotePort: 1 }, destroy: (...args: unknown[]) => { calls.push(args); } };
  // A stand-in with only what the guard touches (socket, destroy): a real session needs a socket.
  const session = fake as unknown as http2.ServerHttp2Session;
  new Http2Guard({ hit: (limit) => { hits.push(limit); } }).onSession(session);
  return { session, calls, hits };
}

/**
 * Node's ERR_HTTP2_ERROR carrying nghttp2's library error number. The numbers are nghttp2's, from
 * nghttp2/nghttp2 lib/includes/nghttp2/nghttp2.h `enum nghttp2_error`: -524 NGHTTP2_ERR_FLOW_CONTROL,
 * -905 NGHTTP2_ERR_TOO_MANY_CONTINUATIONS; -522 is the one Node exports (http2.constants).
 */
function nghttp2Error(errno: number): Error {
  return Object.assign(new Error("nghttp2 error"), { code: "ERR_HTTP2_ERROR", errno });
}

describe("http2 guard: session.destroy", () => {
  it("passes Node's ordinary destroy(null) and destroy() through unchanged, counting nothing", () => {
    const { session, calls, hits } = setup();
    session.destroy(null as unknown as undefined);
    session.destroy();
    assert.deepEqual(calls, [[null], []]);
    assert.deepEqual(hits, []);
  });
  it("keeps a code the caller chose", () => {
    const { session, calls } = setup();
    const err = nghttp2Error(-524);
    session.destroy(err, 0);
    assert.deepEqual(calls, [[err, 0]]);
  });
  it("gives nghttp2's flow-control error FLOW_CONTROL_ERROR (RFC 9113 section 6.9.1) instead of INTERNAL_ERROR", () => {
    const { session, calls, hits } = setup();
    const err = nghttp2Error(-524);
    session.destroy(err);
    assert.deepEqual(calls, [[err, NGHTTP2_FLOW_CONTROL_ERROR]]);
    assert.deepEqual(hits, []);
  });
  it("counts a flood as its limit and ends it with ENHANCE_YOUR_CALM (RFC 9113 section 10.5)", () => {
    const { session, calls, hits } = setup();
    session.destroy(nghttp2Error(-905));
    assert.equal(calls[0]![1], NGHTTP2_ENHANCE_YOUR_CALM);
    assert.deepEqual(hits, ["continuation_frames"]);
  });
  it("maps the error number Node itself exports, NGHTTP2_ERR_FRAME_SIZE_ERROR, to FRAME_SIZE_ERROR (RFC 9113 section 4.2)", () => {
    const { session, calls } = setup();
    const err = nghttp2Error(http2.constants.NGHTTP2_ERR_FRAME_SIZE_ERROR);
    session.destroy(err);
    assert.deepEqual(calls, [[err, http2.constants.NGHTTP2_FRAME_SIZE_ERROR]]);
  });
  it("ends Node's own invalid-frame flood (empty DATA without END_STREAM) with ENHANCE_YOUR_CALM, counted", () => {
    // nodejs/node src/node_http2.cc Http2Session::HandleDataFrame sets custom_recv_error_code_ "ERR_HTTP2_TOO_MANY_INVALID_FRAMES".
    const { session, calls, hits } = setup();
    session.destroy(Object.assign(new Error("Too many invalid HTTP/2 frames"), { code: "ERR_HTTP2_TOO_MANY_INVALID_FRAMES" }));
    assert.equal(calls[0]![1], NGHTTP2_ENHANCE_YOUR_CALM);
    assert.deepEqual(hits, ["frames_without_progress"]);
  });
  it("passes an error that is not nghttp2's through unchanged", () => {
    const { session, calls } = setup();
    const err = new Error("socket hang up");
    session.destroy(err);
    assert.deepEqual(calls, [[err]]);
  });
});
