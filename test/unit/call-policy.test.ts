/**
 * The call policy both engines run (router/call-policy.ts), with a recording call instead of an
 * engine: the order of the checks, the refusal each gives, and what reaches `forward`.
 * The rules: gRPC over HTTP/2 (grpc/grpc PROTOCOL-HTTP2.md: "If Content-Type does not begin with
 * application/grpc, gRPC servers SHOULD respond with HTTP status of 415"); RFC 9113 6.5.2 for the
 * header list size (name + value + 32 per field).
 */
import { strict as assert } from "node:assert";
import type { IncomingHttpHeaders } from "node:http2";
import type { Authenticator, AuthResult, Principal } from "../../router/auth";
import { admission, CallPolicy, refusals, type CallRequest, type PolicyCall, type Refusal } from "../../router/call-policy";
import { silentLogger } from "../../lib/log";
import type { RegistrySource, Target } from "../../registry/types";
import { MAX_HEADER_LIST_BYTES, Status, type RouteRequest } from "../../router/routing";

const AGENT: Target = { host: "127.0.0.1", port: 7001 };

function grpcRequest(headers: IncomingHttpHeaders, extra: Partial<CallRequest> = {}): CallRequest {
  return { method: "POST", contentType: "application/grpc", path: "/pixell.test.Echo/Unary", headerListBytes: 200, headers, ...extra };
}

/** A call that records what the policy asked of it. */
class RecordingCall implements PolicyCall {
  principal: Principal | undefined = undefined;
  ended = false;
  answered: Refusal | undefined;
  prepared: { route: RouteRequest; principal: Principal | undefined } | undefined;
  forwarded: Target | undefined;
  suspends = 0;
  readonly events: string[] = [];
  constructor(readonly request: CallRequest) {}
  peerAddress(): string { return "192.0.2.7"; }
  answer(r: Refusal): void { assert.equal(this.answered, undefined, "answered twice"); this.answered = r; this.events.push(`answer ${r.code}`); }
  prepare(route: RouteRequest, principal: Principal | undefined): void { this.prepared = { route, principal }; this.events.push("prepare"); }
  suspend(): void { this.suspends++; this.events.push("suspend"); }
  forward(t: Target): void { this.forwarded = t; this.events.push("forward"); }
}

function registry(entries: Record<string, Target | Error | Promise<Target | undefined>>): RegistrySource & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    description: "test",
    start: async () => undefined,
    close: async () => undefined,
    list: () => [],
    onChange: () => () => undefined,
    lookup(id: string) {
      asked.push(id);
      const e = entries[id];
      if (e instanceof Error) throw e;
      return e;
    },
  };
}

const pac: Principal = { name: "pac", allow: (id) => id === "agent-a" };
/** Bearer-like: `authorization: Bearer good` is pac, anything else is refused; records what it saw. */
function authenticator(async = false): Authenticator & { seen: number } {
  const a = {
    mode: "bearer" as const,
    seen: 0,
    authenticate(h: IncomingHttpHeaders): AuthResult | Promise<AuthResult> {
      a.seen++;
      const r: AuthResult = h.authorization === "Bearer good" ? pac : { code: Status.UNAUTHENTICATED, message: "missing or invalid credential" };
      return async ? Promise.resolve(r) : r;
    },
    authorize(p: Principal, id: string) {
      return p.allow(id) ? undefined : { code: Status.PERMISSION_DENIED, message: `caller "${p.name}" may not call deployment "${id}"` };
    },
    close: async () => undefined,
  };
  return a;
}

function policy(opts: { draining?: boolean; auth?: Authenticator; reg?: RegistrySource; maxHops?: number } = {}): CallPolicy {
  return new CallPolicy({
    registry: opts.reg ?? registry({ "agent-a": AGENT }), logger: silentLogger, maxHops: opts.maxHops ?? 3,
    isDraining: () => opts.draining ?? false, authenticator: opts.auth,
  });
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe("call policy: admission (pure)", () => {
  it("refuses while draining before anything else, even a non-gRPC request", () => {
    assert.equal(admission(grpcRequest({}, { method: "GET" }), true), refusals.draining);
    assert.equal(refusals.draining.code, Status.UNAVAILABLE);
  });
  it("answers HTTP 415 for anything but POST with content-type application/grpc*", () => {
    for (const extra of [{ method: "GET" }, { contentType: "text/plain" }, { contentType: undefined }, { method: undefined }]) {
      assert.equal(admission(grpcRequest({}, extra), false), refusals.notGrpc, JSON.stringify(extra));
    }
    assert.equal(refusals.notGrpc.answer, "http415");
    assert.equal(admission(grpcRequest({}, { contentType: "application/grpc+proto" }), false), undefined);
  });
  it("refuses metadata over the limit with RESOURCE_EXHAUSTED, and lets the limit itself through", () => {
    assert.equal(admission(grpcRequest({}, { headerListBytes: MAX_HEADER_LIST_BYTES }), false), undefined);
    const r = admission(grpcRequest({}, { headerListBytes: MAX_HEADER_LIST_BYTES + 1 }), false);
    assert.equal(r?.code, Status.RESOURCE_EXHAUSTED);
    assert.match(r!.message, /request metadata is 16385 bytes, over the router's limit of 16384/);
  });
});

describe("call policy: the sequence both engines run", () => {
  it("forwards a routable call: prepare (with hop count and deadline) before the lookup, then forward", () => {
    const reg = registry({ "agent-a": AGENT });
    const call = new RecordingCall(grpcRequest({ "x-deployment-id": "agent-a", "x-pixell-hops": "1", "grpc-timeout": "250m" }));
    policy({ reg }).admit(call);
    assert.deepEqual(call.events, ["prepare", "forward"]);
    assert.deepEqual(call.prepared, { route: { id: "agent-a", hops: 1, timeoutMs: 250 }, principal: undefined });
    assert.equal(call.forwarded, AGENT);
    assert.deepEqual(reg.asked, ["agent-a"]);
  });

  it("authenticates before the id is read: a stranger gets UNAUTHENTICATED for a malformed id and no lookup", () => {
    const reg = registry({});
    const call = new RecordingCall(grpcRequest({ "x-deployment-id": "../etc" }));
    policy({ reg, auth: authenticator() }).admit(call);
    assert.equal(call.answered?.code, Status.UNAUTHENTICATED);
    assert.deepEqual(reg.asked, []);
  });

  it("then reads the id (INVALID_ARGUMENT), then authorizes (PERMISSION_DENIED), never looking a denied id up", () => {
    const reg = registry({ "agent-b": AGENT });
    const bad = new RecordingCall(grpcRequest({ authorization: "Bearer good" }));
    policy({ reg, auth: authenticator() }).admit(bad);
    assert.equal(bad.answered?.code, Status.INVALID_ARGUMENT);
    assert.match(bad.answered!.message, /missing x-deployment-id/);
    const denied = new RecordingCall(grpcRequest({ authorization: "Bearer good", "x-deployment-id": "agent-b" }));
    policy({ reg, auth: authenticator() }).admit(denied);
    assert.equal(denied.answered?.code, Status.PERMISSION_DENIED);
    assert.equal(denied.prepared, undefined, "a denied call is not prepared");
    assert.deepEqual(reg.asked, []);
  });

  it("hands the principal to prepare once authorized", () => {
    const call = new RecordingCall(grpcRequest({ authorization: "Bearer good", "x-deployment-id": "agent-a" }));
    policy({ auth: authenticator() }).admit(call);
    assert.equal(call.principal, pac);
    assert.equal(call.prepared?.principal, pac);
    assert.equal(call.forwarded, AGENT);
  });

  it("refuses the loop guard with FAILED_PRECONDITION (a warning: a registry points at a router)", () => {
    const call = new RecordingCall(grpcRequest({ "x-deployment-id": "agent-a", "x-pixell-hops": "3" }));
    policy().admit(call);
    assert.equal(call.answered?.code, Status.FAILED_PRECONDITION);
    assert.equal(call.answered?.warn, true);
  });

  it("answers NOT_FOUND for an unknown id and UNAVAILABLE (a warning) when the lookup throws", () => {
    const reg = registry({ broken: new Error("registry down") });
    const unknown = new RecordingCall(grpcRequest({ "x-deployment-id": "nobody" }));
    policy({ reg }).admit(unknown);
    assert.deepEqual(unknown.answered, refusals.notFound("nobody"));
    const broken = new RecordingCall(grpcRequest({ "x-deployment-id": "broken" }));
    policy({ reg }).admit(broken);
    assert.equal(broken.answered?.code, Status.UNAVAILABLE);
    assert.equal(broken.answered?.warn, true);
    assert.match(broken.answered!.message, /cannot resolve deployment broken: registry down/);
  });

  it("suspends the call before each async step, and resumes it", async () => {
    const reg = registry({ "agent-a": Promise.resolve(AGENT), later: Promise.resolve(undefined) });
    const call = new RecordingCall(grpcRequest({ authorization: "Bearer good", "x-deployment-id": "agent-a" }));
    policy({ reg, auth: authenticator(true) }).admit(call);
    assert.deepEqual(call.events, ["suspend"]);
    await tick();
    assert.deepEqual(call.events, ["suspend", "prepare", "suspend", "forward"]);
    const missing = new RecordingCall(grpcRequest({ "x-deployment-id": "later" }));
    policy({ reg }).admit(missing);
    await tick();
    assert.equal(missing.answered?.code, Status.NOT_FOUND);
  });

  it("drops what an async step decides once the call ended", async () => {
    const reg = registry({ "agent-a": Promise.resolve(AGENT) });
    const call = new RecordingCall(grpcRequest({ "x-deployment-id": "agent-a" }));
    policy({ reg }).admit(call);
    call.ended = true; // the client reset the stream while the lookup ran
    await tick();
    assert.deepEqual(call.events, ["prepare", "suspend"]);
    const auth = new RecordingCall(grpcRequest({ authorization: "Bearer good", "x-deployment-id": "agent-a" }));
    policy({ auth: authenticator(true) }).admit(auth);
    auth.ended = true;
    await tick();
    assert.deepEqual(auth.events, ["suspend"]);
  });

  it("answers UNAUTHENTICATED (a warning) when the credential check itself fails", async () => {
    const failing: Authenticator = { ...authenticator(), authenticate: () => Promise.reject(new Error("JWKS unreachable")) };
    const call = new RecordingCall(grpcRequest({ authorization: "Bearer x", "x-deployment-id": "agent-a" }));
    policy({ auth: failing }).admit(call);
    await tick();
    assert.equal(call.answered?.code, Status.UNAUTHENTICATED);
    assert.equal(call.answered?.warn, true);
    assert.equal(call.answered?.message, "cannot verify credentials: JWKS unreachable");
  });
});
