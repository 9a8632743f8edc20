/**
 * The router's xDS server for Envoy's Option B and for gRPC xDS clients: the Aggregated
 * Discovery Service (state of the world) over grpc-js, serving the resources
 * `buildXdsSnapshot` makes from the registry. Registry changes are coalesced (debounce,
 * with a ceiling so a steady stream of changes still pushes within a second), encoded
 * once and pushed to every stream by its `AdsStreamState`.
 */
import * as fs from "node:fs";
import * as grpc from "@grpc/grpc-js";
import type * as protobuf from "protobufjs";
import type * as prom from "prom-client";
import { DEFAULT_API_LISTENER, DEFAULT_ENVOY_INPUT, whyNotRoutable, type ResourceKind } from "../../envoy/config";
import { messageType } from "../../envoy/proto";
import { ROUTER_ADMIN_PORT } from "../../lib/ports";
import { silentLogger, type Logger } from "../../lib/log";
import type { RegistrySource, Target } from "../../registry/types";
import { ClusterHistory } from "./history";
import { XdsMetrics } from "./metrics";
import { AdsStreamState, type AdsRequest, type AdsResponse, type TypeStatus } from "./protocol";
import { SnapshotCache, type AnyMessage } from "./snapshot";

export const ADS_SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService";
export const ADS_METHOD_PATH = `/${ADS_SERVICE}/StreamAggregatedResources`;

export interface XdsServerOptions {
  /**
   * `host:port` to listen on (port 0 picks a free one), or `unix:/path`: the socket is made
   * connectable by any user (0666), since Envoy runs under another uid than the router; who can
   * reach the path at all is decided by the directory (in the task: a volume only the router and
   * Envoy mount). A socket left at the path by an earlier run is replaced.
   */
  readonly listen: string;
  readonly registry: RegistrySource;
  /** The router's gRPC address: the catch-all route's cluster. */
  readonly routerTarget: Target;
  /** The router's admin port, health-checked by Envoy at /readyz (default ROUTER_ADMIN_PORT). */
  readonly routerAdminPort?: number;
  /** Listener names served to gRPC clients (`xds:///<name>`); default `pixell-a2a`. */
  readonly apiListeners?: readonly string[];
  /** Quiet time before a registry change is pushed (default 100 ms). */
  readonly debounceMs?: number;
  /** A burst of changes is pushed at the latest this long after its first change (default 1000 ms). */
  readonly maxDelayMs?: number;
  /** Where the xDS counters go (the router's /metrics registry); none: not exported. */
  readonly metricsRegistry?: prom.Registry;
  readonly logger?: Logger;
}

export interface XdsServer {
  /** The TCP port bound (0 on a Unix socket). */
  readonly port: number;
  /** Where it listens, as given (`host:port` with the bound port, or `unix:/path`). */
  readonly address: string;
  /** Current versions per type (for /xds status and tests). */
  versions(): Readonly<Record<ResourceKind, string>>;
  /** Per connected stream: node id and per-type sent/accepted/rejected versions. */
  streams(): { node: string; types: Partial<Record<ResourceKind, TypeStatus>> }[];
  close(): Promise<void>;
}

interface Codec {
  readonly request: protobuf.Type;
  readonly response: protobuf.Type;
}

function codec(): Codec {
  return {
    request: messageType("envoy.service.discovery.v3.DiscoveryRequest"),
    response: messageType("envoy.service.discovery.v3.DiscoveryResponse"),
  };
}

function serviceDefinition(c: Codec): grpc.ServiceDefinition {
  return {
    StreamAggregatedResources: {
      path: ADS_METHOD_PATH,
      requestStream: true,
      responseStream: true,
      originalName: "streamAggregatedResources",
      requestSerialize: (v: object) => Buffer.from(c.request.encode(c.request.fromObject(v)).finish()),
      requestDeserialize: (b: Buffer) => c.request.toObject(c.request.decode(b), { defaults: true, arrays: true, longs: String }),
      responseSerialize: (v: object) => Buffer.from(c.response.encode(c.response.fromObject(v)).finish()),
      responseDeserialize: (b: Buffer) => c.response.toObject(c.response.decode(b), { defaults: true, arrays: true, longs: String }),
    },
  } as grpc.ServiceDefinition;
}

export async function startXdsServer(opts: XdsServerOptions): Promise<XdsServer> {
  const logger = opts.logger ?? silentLogger;
  const debounceMs = opts.debounceMs ?? 100;
  const maxDelayMs = opts.maxDelayMs ?? 1000;
  const envoyInput = { ...DEFAULT_ENVOY_INPUT, router: opts.routerTarget, routerAdminPort: opts.routerAdminPort ?? ROUTER_ADMIN_PORT };
  const apiListeners = opts.apiListeners ?? [DEFAULT_API_LISTENER];
  const c = codec();
  const metrics = new XdsMetrics(opts.metricsRegistry);
  // Versions differ across router restarts too, so a reconnecting client never sees an old version string reused for new content.
  const cache = new SnapshotCache({ apiListeners, envoy: envoyInput, versionPrefix: Date.now().toString(36) });
  const history = new ClusterHistory<AnyMessage>();
  /** Records already warned about, so a bad record is logged once, not on every rebuild. */
  const warnedUnroutable = new Set<string>();

  /** Rebuilds the snapshot from the registry; returns true when some type's version moved. */
  const rebuild = (): boolean => {
    const records = opts.registry.list();
    for (const d of records) {
      const why = whyNotRoutable(d);
      if (why && !warnedUnroutable.has(`${d.id}\n${why}`)) {
        warnedUnroutable.add(`${d.id}\n${why}`);
        logger.warn({ deploymentId: d.id, host: d.host, port: d.port, reason: why }, `deployment ${d.id} gets no direct Envoy route (${why}): its calls go through the router`);
      }
    }
    const result = cache.build(records);
    if (!result.ok) {
      metrics.inconsistent.inc();
      logger.error({ problems: result.problems, deployments: records.length }, `xds snapshot is inconsistent and was not published (${result.problems.length} problems; first: ${result.problems[0]}): clients keep the previous one`);
      return false;
    }
    metrics.builds.inc();
    if (result.changed.length > 0) {
      const { buildMs, encodeMs, encoded, bytes } = result.stats;
      logger.info({ versions: result.snapshot.versions, deployments: records.length, changed: result.changed, buildMs: Math.round(buildMs + encodeMs), encoded, bytes }, "xds snapshot rebuilt");
    }
    return result.changed.length > 0;
  };

  // --- streams
  interface Stream { node: string; state: AdsStreamState<AnyMessage>; call: grpc.ServerDuplexStream<AdsRequestWire, object> }
  const streams = new Set<Stream>();
  let streamCounter = 0;

  const send = (s: Stream, responses: AdsResponse<AnyMessage>[]): void => {
    for (const r of responses) {
      s.call.write({ version_info: r.version_info, type_url: r.type_url, nonce: r.nonce, resources: r.resources.map((x) => x.payload) });
      metrics.responses.inc({ type: r.kind });
      logger.debug({ node: s.node, type: r.kind, version: r.version_info, nonce: r.nonce, resources: r.resources.length }, "xds response sent");
    }
    const held = s.state.heldRoutes();
    if (held.length > 0) logger.debug({ node: s.node, routes: held }, "xds routes held until the clusters they name are warm on this client");
  };

  const handleStream = (call: grpc.ServerDuplexStream<AdsRequestWire, object>): void => {
    const snapshot = cache.snapshot()!;
    const s: Stream = { node: "", state: new AdsStreamState(snapshot, { streamId: String(++streamCounter), history }), call };
    streams.add(s);
    call.on("data", (req: AdsRequestWire) => {
      if (!s.node && req.node?.id) {
        s.node = req.node.id;
        logger.info({ node: s.node, cluster: req.node.cluster, peer: call.getPeer() }, "xds stream opened");
      }
      const { events, responses } = s.state.onRequest(req);
      for (const e of events) {
        if (e.kind === "nack") {
          metrics.nacks.inc({ type: e.type });
          logger.warn({ node: s.node, type: e.type, version: e.version, nonce: e.nonce, errorDetail: e.error }, `xds NACK: ${s.node || "client"} rejected ${e.type} version ${e.version}: ${e.error}`);
        } else if (e.kind === "ack") {
          logger.debug({ node: s.node, type: e.type, version: e.version }, "xds ACK");
        } else if (e.kind === "stale") {
          // Debug, not warn: a client answering a response while the next one is on the wire is
          // normal in SotW (spec, "Resource updates": "Envoy does not expect a DiscoveryResponse for
          // every DiscoveryRequests it issues"). The counter shows a client stuck on old nonces.
          metrics.stale.inc({ type: e.type });
          logger.debug({ node: s.node, type: e.type, nonce: e.nonce, lastNonce: e.lastNonce }, "xds request with a stale nonce ignored");
        } else {
          logger.warn({ node: s.node, typeUrl: e.typeUrl }, "xds request for a type this server does not serve");
        }
      }
      send(s, responses);
    });
    const drop = (): void => {
      if (streams.delete(s)) logger.info({ node: s.node, types: s.state.status() }, "xds stream closed");
    };
    call.on("end", () => { drop(); call.end(); });
    call.on("error", drop);
    call.on("cancelled", drop);
    call.on("close", drop);
  };

  // --- coalescing registry changes
  let debounceTimer: NodeJS.Timeout | undefined;
  let burstStarted: number | undefined;
  const push = (): void => {
    if (debounceTimer) clearTimeout(debounceTimer);
    debounceTimer = undefined;
    burstStarted = undefined;
    try {
      if (!rebuild()) return;
    } catch (err) {
      logger.error({ err }, "xds snapshot could not be built: keeping the previous one");
      return;
    }
    const snapshot = cache.snapshot()!;
    for (const s of streams) send(s, s.state.onSnapshot(snapshot));
  };
  const onRegistryChange = (): void => {
    const now = Date.now();
    burstStarted ??= now;
    if (debounceTimer) clearTimeout(debounceTimer);
    const wait = Math.max(0, Math.min(debounceMs, burstStarted + maxDelayMs - now));
    debounceTimer = setTimeout(push, wait);
  };

  rebuild();
  if (!cache.snapshot()) {
    throw new Error("xDS server cannot start: the registry's first snapshot is inconsistent (see the error log); this is a bug in the resource builders");
  }
  const unsubscribe = opts.registry.onChange(onRegistryChange);

  const server = new grpc.Server();
  server.addService(serviceDefinition(c), { StreamAggregatedResources: handleStream });
  const socketPath = opts.listen.startsWith("unix:") ? opts.listen.slice("unix:".length) : undefined;
  let port: number;
  try {
    if (socketPath !== undefined) removeStaleSocket(socketPath);
    port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(opts.listen, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
    });
    if (socketPath !== undefined) {
      fs.chmodSync(socketPath, 0o666);
      port = 0;
    }
  } catch (err) {
    unsubscribe();
    server.forceShutdown();
    throw new Error(`xDS server cannot listen on ${opts.listen}: ${err instanceof Error ? err.message : String(err)} (set ROUTER_XDS / --xds to a free host:port, or unix:/PATH in a directory the router may write)`);
  }
  const address = socketPath !== undefined ? opts.listen : opts.listen.replace(/:\d+$/, `:${port}`);
  logger.info({ listen: address, port, versions: cache.snapshot()!.versions, apiListeners }, "xds server listening");

  return {
    port,
    address,
    versions: () => cache.snapshot()!.versions,
    streams: () => [...streams].map((s) => ({ node: s.node, types: s.state.status() })),
    close: async () => {
      unsubscribe();
      if (debounceTimer) clearTimeout(debounceTimer);
      for (const s of streams) s.call.end();
      streams.clear();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => { server.forceShutdown(); resolve(); }, 2000);
        server.tryShutdown(() => { clearTimeout(force); resolve(); });
      });
    },
  };
}

/** Removes a socket an earlier process left at `socketPath` (bind fails on an existing path); anything else there is left alone, and bind reports it. */
function removeStaleSocket(socketPath: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(socketPath);
  } catch {
    return;
  }
  if (stat.isSocket()) fs.unlinkSync(socketPath);
}

/** A decoded DiscoveryRequest (protobufjs toObject with defaults). */
interface AdsRequestWire extends AdsRequest {
  readonly node?: { readonly id?: string; readonly cluster?: string } | null;
}
