/**
 * Wiring for the router's main: starts the xDS server next to a running router when
 * ROUTER_XDS / --xds is set. `xdsOptionsFor` is the pure part (what the xDS server is told).
 */
import type { Logger } from "../../lib/log";
import type { RouterConfig } from "../config";
import type { RunningRouter } from "../server";
import type { XdsServer, XdsServerOptions } from "./server";

/** Wildcard listen addresses are not addresses Envoy can send to: it reaches the router over loopback. */
function reachable(host: string): string {
  return host === "0.0.0.0" || host === "::" || host === "" ? "127.0.0.1" : host;
}

/** The xDS server's options for a router config and the ports the router actually bound; undefined when xDS is off. */
export function xdsOptionsFor(config: Pick<RouterConfig, "listen" | "xds">, bound: { port: number; adminPort: number; registry: XdsServerOptions["registry"]; metrics?: { registry: NonNullable<XdsServerOptions["metricsRegistry"]> } }, logger: Logger): XdsServerOptions | undefined {
  if (!config.xds) return undefined;
  const xds = config.xds;
  const listen = "socketPath" in xds ? `unix:${xds.socketPath}` : `${xds.host.includes(":") ? `[${xds.host}]` : xds.host}:${xds.port}`;
  return {
    listen,
    registry: bound.registry,
    routerTarget: { host: reachable(config.listen.host), port: bound.port },
    routerAdminPort: bound.adminPort,
    // The xDS counters appear on the router's own /metrics.
    metricsRegistry: bound.metrics?.registry,
    logger: logger.child({ component: "xds" }),
  };
}

/**
 * In router/main.ts, after startRouter:
 *   const xds = await startXdsIfConfigured(config, router, logger);
 *   ... and on shutdown: await xds?.close();
 */
export async function startXdsIfConfigured(config: Pick<RouterConfig, "listen" | "xds">, router: Pick<RunningRouter, "port" | "adminPort" | "registry" | "metrics">, logger: Logger): Promise<XdsServer | undefined> {
  const opts = xdsOptionsFor(config, router, logger);
  if (!opts) return undefined;
  // Loaded only in xDS mode: grpc-js and Envoy's protos cost the router ~15 MiB of RSS (docs/decisions/router-memory.md).
  // A lazy require, typed by the module's own declarations: esbuild keeps the module's init behind this call.
  const { startXdsServer } = require("./server") as typeof import("./server");
  return startXdsServer(opts);
}
