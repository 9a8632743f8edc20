/**
 * The xDS server's counters, registered on the router's Prometheus registry (GET /metrics on
 * the admin port) when one is given; otherwise kept on a private registry nobody scrapes.
 */
import * as prom from "prom-client";

export class XdsMetrics {
  readonly builds: prom.Counter;
  /** Snapshots that failed the consistency check and were never sent (router/xds/consistency.ts). */
  readonly inconsistent: prom.Counter;
  readonly responses: prom.Counter<"type">;
  readonly nacks: prom.Counter<"type">;
  readonly stale: prom.Counter<"type">;

  constructor(registry: prom.Registry = new prom.Registry()) {
    const registers = [registry];
    this.builds = new prom.Counter({ name: "pixell_router_xds_snapshots_total", help: "xDS snapshots built and published", registers });
    this.inconsistent = new prom.Counter({
      name: "pixell_router_xds_inconsistent_snapshots_total",
      help: "xDS snapshots that failed the consistency check (a route naming a missing cluster, an EDS cluster without endpoints, a duplicated name) and were not published",
      registers,
    });
    this.responses = new prom.Counter({ name: "pixell_router_xds_responses_total", help: "xDS responses sent, by type", labelNames: ["type"], registers });
    this.nacks = new prom.Counter({ name: "pixell_router_xds_nacks_total", help: "xDS responses a client rejected (NACK), by type", labelNames: ["type"], registers });
    this.stale = new prom.Counter({ name: "pixell_router_xds_stale_requests_total", help: "xDS requests ignored for carrying a stale nonce, by type", labelNames: ["type"], registers });
  }
}
