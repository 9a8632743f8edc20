/**
 * Envoy's overload protection, sized from the Fargate task (pure). Without it Envoy accepts
 * connections until the task runs out of memory or file descriptors, and warns at start-up:
 * "There is no configured limit to the number of allowed active downstream connections".
 *
 * - `envoy.resource_monitors.global_downstream_max_connections`: a hard cap on open downstream
 *   connections (every listener but those with `ignore_global_conn_limit`), checked on accept.
 * - `envoy.resource_monitors.fixed_heap` with the two actions of Envoy's edge guide
 *   (docs/root/configuration/best_practices/edge.rst): `shrink_heap` at 95 % of the budget
 *   (tcmalloc returns free pages to the OS) and `stop_accepting_requests` at 98 % (new requests get
 *   a 503 at once, calls in flight run on), so Envoy sheds load before the task is OOM-killed.
 *
 * The bootstrap is baked into the image (one per mode), while the task size is stack config: the
 * stack passes this block to the entrypoint (ENVOY_BOOTSTRAP_OVERRIDE), which hands it to Envoy's
 * `--config-yaml` ("merged with the bootstrap loaded from --config-path"). The baked file therefore
 * has no overload_manager of its own: a merge appends repeated fields, and two monitors of one name
 * are refused.
 */
import type { OverloadManager } from "./types";

export const FIXED_HEAP_MONITOR = "envoy.resource_monitors.fixed_heap";
export const DOWNSTREAM_CONNECTIONS_MONITOR = "envoy.resource_monitors.global_downstream_max_connections";
export const SHRINK_HEAP_ACTION = "envoy.overload_actions.shrink_heap";
export const STOP_ACCEPTING_REQUESTS_ACTION = "envoy.overload_actions.stop_accepting_requests";

const MIB = 1024 * 1024;

/**
 * Envoy's share of the task's memory. PAR and its agents need most of it; the router a few
 * hundred MiB at most. An eighth leaves Envoy 256 MiB in the default 2 GiB task, several times its
 * baseline, and stays inside [128 MiB, 2 GiB] (2 GiB is the edge guide's example budget).
 */
export const ENVOY_HEAP_SHARE = 1 / 8;
export const MIN_ENVOY_HEAP_BYTES = 128 * MIB;
export const MAX_ENVOY_HEAP_BYTES = 2048 * MIB;

/**
 * Heap one open downstream HTTP/2 connection may hold, an upper estimate: connection, codec and
 * HPACK state plus its read and write buffers. Envoy's own per-connection cost is tens of KiB; this
 * errs high so the connection cap triggers before the heap monitor does. Check it on a real task:
 * `server.memory_allocated` divided by `http.a2a.downstream_cx_active` under load.
 */
export const HEAP_BYTES_PER_CONNECTION = 64 * 1024;
/** The rest of the budget is for streams' buffers, clusters and stats. */
export const CONNECTIONS_HEAP_SHARE = 0.75;

/** The Envoy container's `nofile` ulimit (infra/containers.ts); every downstream connection holds one fd. */
export const ENVOY_NOFILE_LIMIT = 65536;

/** Heap pressure (fraction of the budget) at which each action starts: Envoy's edge guide values. */
export const SHRINK_HEAP_AT = 0.95;
export const STOP_ACCEPTING_REQUESTS_AT = 0.98;

export interface OverloadPlan {
  readonly maxHeapBytes: number;
  readonly maxDownstreamConnections: number;
  readonly shrinkHeapAt: number;
  readonly stopAcceptingRequestsAt: number;
}

/**
 * The limits for a task of `memoryMiB` (the task definition's memory). CPU does not enter: idle
 * HTTP/2 connections cost Envoy memory and descriptors, not CPU, and CPU saturation shows as
 * latency, which the heap and connection caps cannot fix.
 */
export function overloadPlan(memoryMiB: number): OverloadPlan {
  if (!Number.isInteger(memoryMiB) || memoryMiB < 512) throw new Error(`task memory ${memoryMiB} MiB is not a Fargate task size (512 MiB or more)`);
  const maxHeapBytes = Math.min(MAX_ENVOY_HEAP_BYTES, Math.max(MIN_ENVOY_HEAP_BYTES, Math.floor((memoryMiB * MIB * ENVOY_HEAP_SHARE) / MIB) * MIB));
  // Half the descriptors: each downstream call also uses upstream connections, health checks and files.
  const byHeap = Math.floor((maxHeapBytes * CONNECTIONS_HEAP_SHARE) / HEAP_BYTES_PER_CONNECTION);
  const maxDownstreamConnections = Math.min(byHeap, Math.floor(ENVOY_NOFILE_LIMIT / 2));
  return { maxHeapBytes, maxDownstreamConnections, shrinkHeapAt: SHRINK_HEAP_AT, stopAcceptingRequestsAt: STOP_ACCEPTING_REQUESTS_AT };
}

/** Bootstrap `overload_manager` for a plan (config/overload/v3/overload.proto). */
export function buildOverloadManager(plan: OverloadPlan): OverloadManager {
  const onHeap = (value: number): { name: string; threshold: { value: number } }[] => [{ name: FIXED_HEAP_MONITOR, threshold: { value } }];
  return {
    // The edge guide's interval: heap pressure is re-read four times a second.
    refresh_interval: "0.25s",
    resource_monitors: [
      {
        name: FIXED_HEAP_MONITOR,
        typed_config: {
          "@type": "type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig",
          max_heap_size_bytes: plan.maxHeapBytes,
        },
      },
      {
        name: DOWNSTREAM_CONNECTIONS_MONITOR,
        typed_config: {
          "@type": "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig",
          max_active_downstream_connections: plan.maxDownstreamConnections,
        },
      },
    ],
    actions: [
      { name: SHRINK_HEAP_ACTION, triggers: onHeap(plan.shrinkHeapAt) },
      { name: STOP_ACCEPTING_REQUESTS_ACTION, triggers: onHeap(plan.stopAcceptingRequestsAt) },
    ],
  };
}

/** What the entrypoint passes to `envoy --config-yaml` (JSON is YAML): the overload manager for this task size. */
export function bootstrapOverride(plan: OverloadPlan): string {
  return JSON.stringify({ overload_manager: buildOverloadManager(plan) });
}
