/**
 * The router's call policy, one for both engines: what a call must pass before it is forwarded,
 * in this order, and the refusal each step gives.
 *
 *   draining → not gRPC (HTTP 415) → metadata size → authenticate → decideRoute (id, loop guard,
 *   deadline) → authorize → prepare (hop count, caller, credential removed) → registry lookup → forward
 *
 * The decisions are pure (`admission`, `decideRoute`, the authenticator's `authorize`); this file
 * only sequences them. The engines bring the I/O: each call implements `PolicyCall` (how to answer,
 * how to rewrite what it forwards, how to start the agent's stream), in the engine's own format.
 * Like grpc-proxy's Director, the policy decides and the engine moves bytes.
 */
import type { IncomingHttpHeaders } from "node:http2";
import { isRefusal, type AuthResult, type Authenticator, type Principal } from "./auth";
import type { Logger } from "../lib/log";
import { RefusalLog } from "./refusal-log";
import type { RefusalLimits } from "./refusal-limiter";
import type { RegistrySource, Target } from "../registry/types";
import { decideRoute, metadataTooLarge, Status, type RouteRequest, type StatusCode } from "./routing";

/** How an engine answers a refusal. */
export type RefusalAnswer =
  /** Trailers-Only: `:status 200` with grpc-status and grpc-message. */
  | "status"
  /** Not gRPC at all: HTTP 415, as the gRPC over HTTP/2 spec says. */
  | "http415"
  /** A malformed HTTP/2 request (RFC 9113 8.1.1): RST_STREAM PROTOCOL_ERROR, nothing forwarded. */
  | "reset";

/** A call the router answers itself, before it reached an agent. */
export interface Refusal {
  /** The gRPC status recorded for the call (and sent, for `status` answers). */
  readonly code: StatusCode;
  readonly message: string;
  /** Worth a warning: it points at a misconfiguration or an outage, not at a bad caller. */
  readonly warn: boolean;
  readonly answer: RefusalAnswer;
}

function status(code: StatusCode, message: string, warn = false): Refusal {
  return { code, message, warn, answer: "status" };
}

/** Every refusal the router makes, with its gRPC code, written once. */
export const refusals = {
  draining: status(Status.UNAVAILABLE, "router is shutting down: retry, the call will reach another task"),
  notGrpc: { code: Status.INVALID_ARGUMENT, message: "not a gRPC request (POST with content-type application/grpc): HTTP 415", warn: false, answer: "http415" } as Refusal,
  metadataTooLarge(headerListBytes: number): Refusal | undefined {
    const big = metadataTooLarge(headerListBytes);
    return big === undefined ? undefined : status(big.code, big.message);
  },
  /** The header block itself, before it is read (frames engine). */
  headerBlockTooLarge(bytes: number, limit: number): Refusal {
    return status(Status.RESOURCE_EXHAUSTED, `request headers of ${bytes} bytes exceed the router's limit of ${limit} bytes`);
  },
  malformed(what: string): Refusal {
    return { code: Status.INVALID_ARGUMENT, message: `malformed request: ${what}`, warn: false, answer: "reset" };
  },
  cannotVerify(err: unknown): Refusal {
    return status(Status.UNAUTHENTICATED, `cannot verify credentials: ${(err as Error).message}`, true);
  },
  notFound(id: string): Refusal {
    return status(Status.NOT_FOUND, `deployment ${id} is not registered: check the id, or whether it is deployed`);
  },
  lookupFailed(id: string, err: unknown): Refusal {
    return status(Status.UNAVAILABLE, `cannot resolve deployment ${id}: ${(err as Error).message}`, true);
  },
  unreachable(id: string, address: string, reason: string): Refusal {
    return status(Status.UNAVAILABLE, `agent for deployment ${id} at ${address} cannot be reached: ${reason}`, true);
  },
} as const;

/** What the policy reads of a request. */
export interface CallRequest {
  readonly method: string | undefined;
  readonly contentType: string | undefined;
  readonly path: string | undefined;
  /** The header list's size as HTTP/2 counts it (RFC 9113 6.5.2): name + value + 32 per field. */
  readonly headerListBytes: number;
  /** The request headers, or at least the keys decideRoute and the authenticator read. */
  readonly headers: IncomingHttpHeaders;
}

/** The checks before any credential or id is read: pure. */
export function admission(req: CallRequest, draining: boolean): Refusal | undefined {
  if (draining) return refusals.draining;
  const ct = req.contentType;
  if (req.method !== "POST" || typeof ct !== "string" || !ct.startsWith("application/grpc")) return refusals.notGrpc;
  // Refused here with a status the client will not retry; forwarded, the agent's connection would
  // refuse the stream and the client would see UNAVAILABLE blaming the agent.
  return refusals.metadataTooLarge(req.headerListBytes);
}

/** One call as an engine holds it: the policy asks it to answer, to rewrite its request, to forward. */
export interface PolicyCall {
  readonly request: CallRequest;
  /** Who is calling, set by the policy once authenticated (undefined when authentication is off). */
  principal: Principal | undefined;
  /** True once the call ended (client reset, connection lost): what an async step decides is dropped. */
  readonly ended: boolean;
  /** The client's address, read only when a refusal is logged. */
  peerAddress(): string;
  /** Answers the refusal and ends the call; the engine records `refusal.code`. */
  answer(refusal: Refusal): void;
  /** The call may go on: rewrite what is forwarded (hop count, caller name, no credential). */
  prepare(route: RouteRequest, principal: Principal | undefined): void;
  /** An async step follows: copy anything that points into a socket buffer. */
  suspend(): void;
  /** The deployment resolved: start the agent's stream. */
  forward(target: Target): void;
}

export interface CallPolicyOptions {
  readonly registry: RegistrySource;
  readonly logger: Logger;
  /** Calls that already passed this many routers are refused (loop guard). */
  readonly maxHops: number;
  readonly isDraining: () => boolean;
  /** Caller authentication (router/auth); none: every call is allowed (local mode). */
  readonly authenticator?: Authenticator;
  /** How many refusal lines to log per source and code (default REFUSAL_LOG_LIMITS). */
  readonly refusalLogLimits?: RefusalLimits;
}

const ANSWER_NAMES: Readonly<Record<RefusalAnswer, string>> = { status: "grpc-status", http415: "http 415", reset: "RST_STREAM PROTOCOL_ERROR" };

export class CallPolicy {
  private readonly log: RefusalLog;

  constructor(private readonly opts: CallPolicyOptions) {
    this.log = new RefusalLog(opts.logger, opts.refusalLogLimits);
  }

  /** Runs the policy for a new call; ends in exactly one of `call.answer` or `call.forward` (unless the call ends first). */
  admit(call: PolicyCall): void {
    const early = admission(call.request, this.opts.isDraining());
    if (early !== undefined) return this.refuse(call, early);
    // Authenticate before the id is read or looked up: strangers learn nothing about deployments.
    const authenticator = this.opts.authenticator;
    if (authenticator === undefined) return this.route(call);
    const auth = authenticator.authenticate(call.request.headers);
    if (auth instanceof Promise) {
      call.suspend();
      auth.then(
        (result) => { if (!call.ended) this.authenticated(call, result); },
        (err: unknown) => { if (!call.ended) this.refuse(call, refusals.cannotVerify(err)); },
      );
      return;
    }
    this.authenticated(call, auth);
  }

  private authenticated(call: PolicyCall, result: AuthResult): void {
    if (isRefusal(result)) return this.refuse(call, status(result.code, result.message));
    call.principal = result;
    this.route(call);
  }

  /** Everything after authentication: the id, the loop guard, the deadline, authorization, the lookup. */
  private route(call: PolicyCall): void {
    const { registry, maxHops, authenticator } = this.opts;
    const decision = decideRoute(call.request.headers, maxHops);
    if ("error" in decision) return this.refuse(call, status(decision.error.code, decision.error.message, decision.warn));
    const { id } = decision;
    const principal = call.principal;
    if (authenticator !== undefined && principal !== undefined) {
      const denied = authenticator.authorize(principal, id);
      if (denied !== undefined) return this.refuse(call, status(denied.code, denied.message));
    }
    call.prepare(decision, principal);

    let resolution;
    try {
      resolution = registry.lookup(id);
    } catch (err) {
      return this.refuse(call, refusals.lookupFailed(id, err));
    }
    if (resolution === undefined) return this.refuse(call, refusals.notFound(id));
    if (resolution instanceof Promise) {
      call.suspend();
      resolution.then(
        (target) => {
          if (call.ended) return;
          if (target === undefined) return this.refuse(call, refusals.notFound(id));
          call.forward(target);
        },
        (err: unknown) => { if (!call.ended) this.refuse(call, refusals.lookupFailed(id, err)); },
      );
      return;
    }
    call.forward(resolution);
  }

  /**
   * The one refusal path: every call the router answers itself goes through here, is logged
   * (rate-limited, refusal-log.ts) and answered; the engine records its code in pixell_router_calls_total.
   */
  refuse(call: PolicyCall, refusal: Refusal): void {
    const req = call.request;
    this.log.refused({
      code: refusal.code, reason: refusal.message, warn: refusal.warn, answer: ANSWER_NAMES[refusal.answer],
      headers: req.headers, path: req.path, caller: call.principal?.name, peer: call.peerAddress(),
    });
    call.answer(refusal);
  }
}
