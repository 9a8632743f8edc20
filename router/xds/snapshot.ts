/**
 * The xDS cache: turns the registry's records into one immutable, versioned, encoded snapshot
 * that every stream serves from. It owns the versions (a type's version moves only when its
 * resources changed), the encoding (a resource is re-encoded only when its JSON changed) and the
 * consistency check: a snapshot that fails `snapshotProblems` is never returned, so no stream
 * ever serves it (go-control-plane's SetSnapshot callers check `Snapshot.Consistent()` first).
 */
import { buildXdsSnapshot, TYPE_URLS, type EnvoyConfigInput, type ResourceKind } from "../../envoy/config";
import { encodeAny } from "../../envoy/proto";
import type { Cluster, RouteConfiguration } from "../../envoy/types";
import type { DeploymentRecord } from "../../registry/types";
import { edsServiceName, routeClusterNames, snapshotProblems } from "./consistency";
import { nextVersions, PUSH_ORDER, type VersionedSnapshot } from "./protocol";

export type AnyMessage = { readonly type_url: string; readonly value: Uint8Array };

export type BuildResult =
  | { readonly ok: true; readonly snapshot: VersionedSnapshot<AnyMessage>; readonly changed: readonly ResourceKind[]; readonly stats: BuildStats }
  | { readonly ok: false; readonly problems: readonly string[] };

export interface BuildStats {
  readonly buildMs: number;
  readonly encodeMs: number;
  /** Resources encoded in this build (the rest were reused). */
  readonly encoded: number;
  /** Encoded size of every resource of the snapshot. */
  readonly bytes: number;
}

export interface SnapshotCacheOptions {
  readonly apiListeners: readonly string[];
  readonly envoy: EnvoyConfigInput;
  /** Distinguishes this process's versions from an earlier process's (a restarted router never reuses a version string). */
  readonly versionPrefix: string;
}

export class SnapshotCache {
  private counter = 0;
  private previous: { versions: Record<ResourceKind, string>; keys: Record<ResourceKind, string> } | undefined;
  private encodeCache = new Map<string, AnyMessage>();
  private current: VersionedSnapshot<AnyMessage> | undefined;

  constructor(private readonly opts: SnapshotCacheOptions) {}

  /** The last consistent snapshot (undefined before the first successful build). */
  snapshot(): VersionedSnapshot<AnyMessage> | undefined {
    return this.current;
  }

  /** Builds from `records`. Throws when a resource fails Envoy's protos; returns the problems when the snapshot is inconsistent. */
  build(records: readonly DeploymentRecord[]): BuildResult {
    const started = performance.now();
    const resources = buildXdsSnapshot(records, { apiListeners: this.opts.apiListeners, envoy: this.opts.envoy });
    const problems = snapshotProblems(resources);
    if (problems.length > 0) return { ok: false, problems };
    const json = {} as Record<ResourceKind, string[]>;
    const keys = {} as Record<ResourceKind, string>;
    for (const kind of PUSH_ORDER) {
      json[kind] = resources[kind].map((r) => JSON.stringify(r));
      keys[kind] = json[kind].join("\n");
    }
    const versions = nextVersions(this.previous, keys, () => `${this.opts.versionPrefix}.${++this.counter}`);
    const changed = PUSH_ORDER.filter((k) => this.previous?.versions[k] !== versions[k]);
    const built = performance.now();
    if (changed.length === 0 && this.current) {
      return { ok: true, snapshot: this.current, changed, stats: { buildMs: built - started, encodeMs: 0, encoded: 0, bytes: 0 } };
    }
    // Encoding checks every new resource against Envoy's protos: a bad one throws here and never reaches a client.
    const nextCache = new Map<string, AnyMessage>();
    let encoded = 0;
    let bytes = 0;
    const out = {} as Record<ResourceKind, { name: string; namedOnly?: boolean; payload: AnyMessage }[]>;
    for (const kind of PUSH_ORDER) {
      out[kind] = resources[kind].map((r, i) => {
        const cacheKey = `${kind}\n${json[kind][i]}`;
        let payload = this.encodeCache.get(cacheKey);
        if (!payload) {
          payload = encodeAny(TYPE_URLS[kind].split("/")[1]!, r.resource);
          encoded++;
        }
        bytes += payload.value.length;
        nextCache.set(cacheKey, payload);
        return { name: r.name, namedOnly: r.namedOnly, payload };
      });
    }
    const routeClusters = new Map(resources.route.map((r) => [r.name, routeClusterNames(r.resource as RouteConfiguration)] as const));
    const edsClusters = new Set(resources.cluster.filter((c) => edsServiceName(c.resource as Cluster) !== undefined).map((c) => c.name));
    this.encodeCache = nextCache;
    this.previous = { versions, keys };
    this.current = { versions, resources: out, routeClusters, edsClusters };
    return { ok: true, snapshot: this.current, changed, stats: { buildMs: built - started, encodeMs: performance.now() - built, encoded, bytes } };
  }
}
