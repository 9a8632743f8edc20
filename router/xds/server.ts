/**
 * The router's xDS server for Envoy's Option B and for gRPC xDS clients: the Aggregated
 * Discovery Service (state of the world) over grpc-js, serving the resources
 * `buildXdsSnapshot` makes from the registry. Registry changes are coalesced (debounce,
 * with a ceiling so a steady stream of changes still pushes within a second), encoded
 * once and pushed to every stream by its `AdsStreamState`.
 */
import * as grpc from "@grpc/grpc-js";
import type * as protobuf from "protobufjs";
import { buildXdsSnapshot, DEFAULT_API_LISTENER, DEFAULT_ENVOY_INPUT, TYPE_URLS, whyNotRoutable, type ResourceKind } from "../../infra/envoy/config";
import { encodeAny, messageType } from "../../infra/envoy/proto";
import { ROUTER_ADMIN_PORT } from "../../infra/ports";
import { silentLogger, type Logger } from "../log";
import type { DeploymentRecord, RegistrySource, Target } from "../registry/types";
import { AdsStreamState, nextVersions, PUSH_ORDER, type AdsRequest, type AdsResponse, type TypeStatus, type VersionedSnapshot } from "./protocol";

export const ADS_SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService";
export const ADS_METHOD_PATH = `/${ADS_SERVICE}/StreamAggregatedResources`;

export interface XdsServerOptions {
  /** `host:port` to listen on (port 0 picks a free one). */
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
  /** How long a removed deployment's cluster outlives its route (default 5000 ms). */
  readonly lingerMs?: number;
  readonly logger?: Logger;
}

export interface XdsServer {
  readonly port: number;
  /** Current versions per type (for /xds status and tests). */
  versions(): Readonly<Record<ResourceKind, string>>;
  /** Per connected stream: node id and per-type sent/accepted/rejected versions. */
  streams(): { node: string; types: Partial<Record<ResourceKind, TypeStatus>> }[];
  close(): Promise<void>;
}

type AnyMessage = { type_url: string; value: Uint8Array };

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
  const lingerMs = opts.lingerMs ?? 5000;
  const envoyInput = { ...DEFAULT_ENVOY_INPUT, router: opts.routerTarget, routerAdminPort: opts.routerAdminPort ?? ROUTER_ADMIN_PORT };
  const apiListeners = opts.apiListeners ?? [DEFAULT_API_LISTENER];
  const c = codec();

  let versionCounter = 0;
  // Versions differ across router restarts too, so a reconnecting client never sees an old version string reused for new content.
  const versionPrefix = Date.now().toString(36);
  let previous: { versions: Record<ResourceKind, string>; keys: Record<ResourceKind, string>; deployments: Map<string, DeploymentRecord> } | undefined;
  /** Removed deployments whose clusters still linger, with when they go. */
  const lingering = new Map<string, { record: DeploymentRecord; until: number }>();
  let snapshot: VersionedSnapshot<AnyMessage>;
  let encodeCache = new Map<string, AnyMessage>();
  /** Records already warned about, so a bad record is logged once, not on every rebuild. */
  const warnedUnroutable = new Set<string>();

  /** Rebuilds the snapshot from the registry; returns true when some type's version moved. */
  const rebuild = (): boolean => {
    const started = performance.now();
    const now = Date.now();
    const current = new Map(opts.registry.list().map((d) => [d.id, d]));
    for (const d of current.values()) {
      const why = whyNotRoutable(d);
      if (why && !warnedUnroutable.has(`${d.id}\n${why}`)) {
        warnedUnroutable.add(`${d.id}\n${why}`);
        logger.warn({ deploymentId: d.id, host: d.host, port: d.port, reason: why }, `deployment ${d.id} gets no direct Envoy route (${why}): its calls go through the router`);
      }
    }
    for (const [id, d] of previous?.deployments ?? []) {
      if (!current.has(id) && !lingering.has(id)) lingering.set(id, { record: d, until: now + lingerMs });
    }
    for (const [id, l] of lingering) if (current.has(id) || l.until <= now) lingering.delete(id);
    const resources = buildXdsSnapshot([...current.values()], {
      apiListeners,
      lingering: [...lingering.values()].map((l) => l.record),
      envoy: envoyInput,
    });
    // Per resource: its JSON (content key) and, when unchanged since the last build, its encoding.
    const keys = {} as Record<ResourceKind, string>;
    const json = {} as Record<ResourceKind, string[]>;
    for (const kind of PUSH_ORDER) {
      json[kind] = resources[kind].map((r) => JSON.stringify(r));
      keys[kind] = json[kind].join("\n");
    }
    const versions = nextVersions(previous, keys, () => `${versionPrefix}.${++versionCounter}`);
    const moved = PUSH_ORDER.filter((k) => previous?.versions[k] !== versions[k]);
    if (moved.length > 0 || !snapshot) {
      // Encoding checks every new resource against Envoy's protos: a bad one throws here and never reaches a client.
      const nextCache = new Map<string, AnyMessage>();
      const encoded = {} as Record<ResourceKind, { name: string; namedOnly?: boolean; payload: AnyMessage }[]>;
      for (const kind of PUSH_ORDER) {
        encoded[kind] = resources[kind].map((r, i) => {
          const cacheKey = `${kind}\n${json[kind][i]}`;
          const payload = encodeCache.get(cacheKey) ?? encodeAny(TYPE_URLS[kind].split("/")[1]!, r.resource);
          nextCache.set(cacheKey, payload);
          return { name: r.name, namedOnly: r.namedOnly, payload };
        });
      }
      encodeCache = nextCache;
      snapshot = { versions, resources: encoded };
    }
    previous = { versions, keys, deployments: current };
    if (lingering.size > 0) scheduleLingerExpiry();
    if (moved.length > 0) {
      const buildMs = Math.round(performance.now() - started);
      logger.info({ versions, deployments: current.size, lingering: lingering.size, changed: moved, buildMs }, "xds snapshot rebuilt");
    }
    return moved.length > 0;
  };

  // --- streams
  interface Stream { node: string; state: AdsStreamState<AnyMessage>; call: grpc.ServerDuplexStream<AdsRequestWire, object> }
  const streams = new Set<Stream>();

  const send = (s: Stream, responses: AdsResponse<AnyMessage>[]): void => {
    for (const r of responses) {
      s.call.write({ version_info: r.version_info, type_url: r.type_url, nonce: r.nonce, resources: r.resources.map((x) => x.payload) });
      logger.debug({ node: s.node, type: r.kind, version: r.version_info, nonce: r.nonce, resources: r.resources.length }, "xds response sent");
    }
  };

  const handleStream = (call: grpc.ServerDuplexStream<AdsRequestWire, object>): void => {
    const s: Stream = { node: "", state: new AdsStreamState(snapshot), call };
    streams.add(s);
    call.on("data", (req: AdsRequestWire) => {
      if (!s.node && req.node?.id) {
        s.node = req.node.id;
        logger.info({ node: s.node, cluster: req.node.cluster, peer: call.getPeer() }, "xds stream opened");
      }
      const { events, responses } = s.state.onRequest(req);
      for (const e of events) {
        if (e.kind === "nack") {
          logger.warn({ node: s.node, type: e.type, version: e.version, nonce: e.nonce, errorDetail: e.error }, `xds NACK: ${s.node || "client"} rejected ${e.type} version ${e.version}: ${e.error}`);
        } else if (e.kind === "ack") {
          logger.debug({ node: s.node, type: e.type, version: e.version }, "xds ACK");
        } else if (e.kind === "unknown-type") {
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
  let lingerTimer: NodeJS.Timeout | undefined;
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
    for (const s of streams) send(s, s.state.onSnapshot(snapshot));
  };
  const onRegistryChange = (): void => {
    const now = Date.now();
    burstStarted ??= now;
    if (debounceTimer) clearTimeout(debounceTimer);
    const wait = Math.max(0, Math.min(debounceMs, burstStarted + maxDelayMs - now));
    debounceTimer = setTimeout(push, wait);
  };
  function scheduleLingerExpiry(): void {
    if (lingerTimer) return;
    const next = Math.min(...[...lingering.values()].map((l) => l.until));
    lingerTimer = setTimeout(() => { lingerTimer = undefined; push(); }, Math.max(0, next - Date.now()) + 1);
  }

  rebuild();
  const unsubscribe = opts.registry.onChange(onRegistryChange);

  const server = new grpc.Server();
  server.addService(serviceDefinition(c), { StreamAggregatedResources: handleStream });
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(opts.listen, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
    });
  } catch (err) {
    unsubscribe();
    if (lingerTimer) clearTimeout(lingerTimer);
    throw new Error(`xDS server cannot listen on ${opts.listen}: ${err instanceof Error ? err.message : String(err)} (set ROUTER_XDS / --xds to a free host:port)`);
  }
  logger.info({ listen: opts.listen, port, versions: snapshot!.versions, apiListeners }, "xds server listening");

  return {
    port,
    versions: () => snapshot.versions,
    streams: () => [...streams].map((s) => ({ node: s.node, types: s.state.status() })),
    close: async () => {
      unsubscribe();
      if (debounceTimer) clearTimeout(debounceTimer);
      if (lingerTimer) clearTimeout(lingerTimer);
      for (const s of streams) s.call.end();
      streams.clear();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => { server.forceShutdown(); resolve(); }, 2000);
        server.tryShutdown(() => { clearTimeout(force); resolve(); });
      });
    },
  };
}

/** A decoded DiscoveryRequest (protobufjs toObject with defaults). */
interface AdsRequestWire extends AdsRequest {
  readonly node?: { readonly id?: string; readonly cluster?: string } | null;
}
