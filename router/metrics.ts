/**
 * The router's Prometheus metrics (GET /metrics on the admin port). Per-call recording
 * goes through cached label children so the hot path does no label hashing.
 */
import * as prom from "prom-client";
import type { RegistrySource } from "../registry/types";

export interface MetricsSources {
  activeStreams: () => number;
  upstreamConnections: () => number;
  registry: () => readonly RegistrySource[];
}

/** Label for calls refused before a deployment was resolved, so unknown ids cannot explode cardinality. */
export const UNRESOLVED = "_unresolved";

export class RouterMetrics {
  readonly registry = new prom.Registry();
  private readonly calls: prom.Counter<"deployment" | "code">;
  private readonly duration: prom.Histogram;
  private readonly children = new Map<string, prom.Counter.Internal[]>();
  private readonly protocolLimits: prom.Counter<"limit">;
  private readonly upstreamRetries: prom.Counter<"deployment" | "reason">;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    prom.collectDefaultMetrics({ register: this.registry, prefix: "pixell_router_" });
    this.calls = new prom.Counter({
      name: "pixell_router_calls_total", help: "Finished calls by deployment and gRPC status code",
      labelNames: ["deployment", "code"], registers,
    });
    this.duration = new prom.Histogram({
      name: "pixell_router_call_duration_seconds", help: "Time from a call's headers to its end, in seconds",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers,
    });
    this.protocolLimits = new prom.Counter({
      name: "pixell_router_protocol_limit_total", help: "Times a peer hit an HTTP/2 protocol limit (router/h2/limits.ts), by limit",
      labelNames: ["limit"], registers,
    });
    this.upstreamRetries = new prom.Counter({
      name: "pixell_router_upstream_retries_total",
      help: "Calls the router sent to the agent a second time (reason refused_stream: RFC 9113 section 8.7), by deployment",
      labelNames: ["deployment", "reason"], registers,
    });
    new prom.Gauge({
      name: "pixell_router_active_streams", help: "Calls in flight", registers,
      collect() { this.set(sources.activeStreams()); },
    });
    new prom.Gauge({
      name: "pixell_router_upstream_connections", help: "Open HTTP/2 sessions to agents", registers,
      collect() { this.set(sources.upstreamConnections()); },
    });
    new prom.Gauge({
      name: "pixell_router_registry_deployments", help: "Deployments each registry source knows", labelNames: ["source"], registers,
      collect() { for (const s of sources.registry()) this.set({ source: s.description }, s.list().length); },
    });
    new prom.Gauge({
      name: "pixell_router_registry_snapshot_age_seconds", help: "Seconds since each registry source last refreshed successfully",
      labelNames: ["source"], registers,
      collect() {
        for (const s of sources.registry()) {
          const age = s.snapshotAgeSeconds?.();
          if (age !== undefined) this.set({ source: s.description }, age);
        }
      },
    });
  }

  recordCall(deployment: string, code: number, seconds: number): void {
    let byCode = this.children.get(deployment);
    if (byCode === undefined) {
      byCode = [];
      this.children.set(deployment, byCode);
    }
    let child = byCode[code];
    if (child === undefined) {
      child = this.calls.labels(deployment, String(code));
      byCode[code] = child;
    }
    child.inc();
    this.duration.observe(seconds);
  }

  /** A call was sent to its agent again (the agent refused the stream unprocessed). Rare: no cached child needed. */
  recordUpstreamRetry(deployment: string, reason: "refused_stream"): void {
    this.upstreamRetries.inc({ deployment, reason });
  }

  /** A peer hit an HTTP/2 protocol limit (router/limit-report.ts). Rare: no cached child needed. */
  recordProtocolLimit(limit: string): void {
    this.protocolLimits.inc({ limit });
  }
}
