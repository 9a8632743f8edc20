/**
 * Step 2 of a run: one Health call per deployment through the public endpoint, all on
 * one gRPC channel, a bounded number at a time, each with its own deadline, and none
 * started once the run's own time is nearly up.
 */
import * as grpc from "@grpc/grpc-js";
import pLimit from "p-limit";
import { checkHealth, type HealthCheckResult } from "../lib/health";

/** One probe's outcome: `code`/`codeName` keep NOT_FOUND (unknown to the router) apart from UNAVAILABLE (unreachable). */
export type ProbeResult = HealthCheckResult;

export interface ProbeOptions {
  /** Deadline of each Health call, in ms. */
  readonly timeoutMs: number;
  /** Health calls in flight at once. */
  readonly concurrency: number;
  /** Epoch ms after which no call may still be running: a probe that could not finish by then is not started. */
  readonly deadlineAt?: number;
  /** Clock, for tests. */
  readonly now?: () => number;
}

export interface ProbeOutcome {
  /** In the order of the ids given. */
  readonly results: ProbeResult[];
  /** Ids skipped because the run's deadline was too close to start their probe. */
  readonly notProbed: string[];
}

export interface ProbeClientOptions {
  /** Connect with TLS (system CAs). */
  readonly tls?: boolean;
  /** Sent as `authorization: Bearer <token>` on every call (a router with authentication on). */
  readonly bearerToken?: string | undefined;
}

/** Adds the authorization metadata to each call; an interceptor works on plaintext channels too, unlike call credentials. */
function bearerInterceptor(token: string): grpc.Interceptor {
  return (options, nextCall) => new grpc.InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      metadata.set("authorization", `Bearer ${token}`);
      next(metadata, listener);
    },
  });
}

/** The run's channel to the endpoint: one HTTP/2 connection shared by every probe; the caller closes it. */
export function createProbeClient(endpoint: string, opts: ProbeClientOptions = {}): grpc.Client {
  const credentials = opts.tls ? grpc.credentials.createSsl() : grpc.credentials.createInsecure();
  return new grpc.Client(endpoint, credentials, {
    // A probe must see the endpoint as it is now, not a backoff from an earlier failure.
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 1000,
    ...(opts.bearerToken ? { interceptors: [bearerInterceptor(opts.bearerToken)] } : {}),
  });
}

export async function probeAll(client: grpc.Client, ids: readonly string[], opts: ProbeOptions): Promise<ProbeOutcome> {
  const now = opts.now ?? Date.now;
  const limit = pLimit(opts.concurrency);
  const slots: (ProbeResult | undefined)[] = new Array<ProbeResult | undefined>(ids.length);
  const notProbed: string[] = [];
  await Promise.all(ids.map((id, i) => limit(async () => {
    if (opts.deadlineAt !== undefined && now() + opts.timeoutMs > opts.deadlineAt) {
      notProbed.push(id);
      return;
    }
    slots[i] = await checkHealth(client, id, opts.timeoutMs);
  })));
  const results = slots.filter((r): r is ProbeResult => r !== undefined);
  notProbed.sort();
  return { results, notProbed };
}
