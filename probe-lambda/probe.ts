/**
 * Step 2 of a run: Health calls, a bounded number at a time, each with its own deadline, none
 * started once the run's own time is nearly up. `probeAll` sends every call over one channel
 * (the public endpoint); `probeThroughTasks` spreads the deployments over the tasks, one channel
 * per task, and checks a failure again on a second task before blaming the deployment.
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

export interface ChannelCheck {
  /** The channel reached READY (TCP, TLS when on, HTTP/2) before the deadline. */
  readonly reachable: boolean;
  /** Time to READY, or to giving up. */
  readonly connectMs: number;
  /** Why it is not reachable (the transport's last error, as grpc-js reports it). */
  readonly error?: string;
}

/**
 * Waits for the channel to be ready, so an endpoint that cannot be reached is one failure of
 * the endpoint rather than a failed call per deployment. On failure one fail-fast call gives the
 * transport's own reason (grpc-js puts "No connection established. Last error: ..." in it).
 */
export function connectChannel(client: grpc.Client, timeoutMs: number): Promise<ChannelCheck> {
  const started = performance.now();
  return new Promise((resolve) => {
    client.waitForReady(Date.now() + timeoutMs, (err) => {
      const connectMs = Math.round((performance.now() - started) * 1000) / 1000;
      if (!err) {
        resolve({ reachable: true, connectMs });
        return;
      }
      void checkHealth(client, "-", Math.min(timeoutMs, 1000)).then((r) => {
        resolve({ reachable: false, connectMs, error: r.code === grpc.status.OK ? err.message : `${r.codeName}: ${r.message}` });
      });
    });
  });
}

/** A task's channel for one run. */
export interface TaskChannel {
  readonly id: string;
  readonly client: grpc.Client;
}

/** One Health call of a deployment, with the task (or `endpoint`) it went through. */
export interface Attempt extends ProbeResult {
  readonly via: string;
}

/** A deployment's verdict for the run: the last attempt decides; every attempt is kept for attribution. */
export interface DeploymentOutcome extends ProbeResult {
  /** Where the deciding call went: a task id, or `endpoint`. */
  readonly via: string;
  readonly attempts: readonly Attempt[];
}

export interface TaskProbeOutcome {
  /** In the order of the ids given. */
  readonly outcomes: DeploymentOutcome[];
  readonly notProbed: string[];
}

/**
 * Pure: deployment i goes first to task (i + offset) mod n and, if it fails there, to the next
 * task. With the offset changing per run every deployment meets every task over a few runs, and
 * every task carries about 1/n of the deployments each run.
 */
export function assignTasks(count: number, taskIds: readonly string[], offset: number): { primary: string; secondary?: string }[] {
  const n = taskIds.length;
  if (n === 0) throw new Error("assignTasks: no task to assign to");
  return Array.from({ length: count }, (_, i) => {
    const p = (i + offset) % n;
    return n > 1 ? { primary: taskIds[p]!, secondary: taskIds[(p + 1) % n]! } : { primary: taskIds[p]! };
  });
}

/**
 * Every deployment through one task; a failure is tried once more on another task when there
 * is one and time for it. A deployment that answers on the second task is healthy (the first
 * task's failure is that task's: see tasks.ts); one that fails on both is failing.
 */
export async function probeThroughTasks(tasks: readonly TaskChannel[], ids: readonly string[], opts: ProbeOptions & { readonly offset: number }): Promise<TaskProbeOutcome> {
  const now = opts.now ?? Date.now;
  const limit = pLimit(opts.concurrency);
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const plan = assignTasks(ids.length, tasks.map((t) => t.id), opts.offset);
  const slots: (DeploymentOutcome | undefined)[] = new Array<DeploymentOutcome | undefined>(ids.length);
  const notProbed: string[] = [];
  const fits = (): boolean => opts.deadlineAt === undefined || now() + opts.timeoutMs <= opts.deadlineAt;
  await Promise.all(ids.map((id, i) => limit(async () => {
    if (!fits()) {
      notProbed.push(id);
      return;
    }
    const { primary, secondary } = plan[i]!;
    const first: Attempt = { ...(await checkHealth(byId.get(primary)!.client, id, opts.timeoutMs)), via: primary };
    if (first.ok || secondary === undefined || !fits()) {
      slots[i] = { ...first, attempts: [first] };
      return;
    }
    const second: Attempt = { ...(await checkHealth(byId.get(secondary)!.client, id, opts.timeoutMs)), via: secondary };
    slots[i] = { ...second, attempts: [first, second] };
  })));
  notProbed.sort();
  return { outcomes: slots.filter((r): r is DeploymentOutcome => r !== undefined), notProbed };
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
