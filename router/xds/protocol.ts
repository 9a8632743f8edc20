/**
 * The state-of-the-world ADS protocol of one stream, as a pure state machine (no I/O):
 * it is told about requests and snapshots and answers with the responses to send.
 * - Versions are per type; a type's version only moves when its resources changed.
 * - Every response carries a fresh nonce; a request whose nonce is not the last one sent
 *   for its type is stale and ignored (the client will send a current one).
 * - ACK: the nonce matches and there is no error_detail: that version is accepted.
 *   NACK: error_detail is set: the version is recorded as rejected, never as accepted, and
 *   is not sent again; the next change produces a new version.
 * - Pushes go clusters, endpoints, listeners, routes: a route never arrives before its cluster.
 * - Wildcard (no names, or "*") applies to listeners and clusters only, as in the xDS spec;
 *   resources marked `namedOnly` (gRPC API listeners) are sent only to those who name them.
 */
import { TYPE_URLS, type ResourceKind } from "../../infra/envoy/config";

/** Push order: make before break. */
export const PUSH_ORDER: readonly ResourceKind[] = ["cluster", "endpoint", "listener", "route"];
const WILDCARD_KINDS: ReadonlySet<ResourceKind> = new Set<ResourceKind>(["listener", "cluster"]);

export function kindOfTypeUrl(typeUrl: string): ResourceKind | undefined {
  return (Object.keys(TYPE_URLS) as ResourceKind[]).find((k) => TYPE_URLS[k] === typeUrl);
}

export interface SnapshotResource<T> {
  readonly name: string;
  readonly namedOnly?: boolean;
  readonly payload: T;
}

/** What the server serves at one moment: resources and a version per type. */
export interface VersionedSnapshot<T> {
  readonly versions: Readonly<Record<ResourceKind, string>>;
  readonly resources: Readonly<Record<ResourceKind, readonly SnapshotResource<T>[]>>;
}

/**
 * Versions of `next`: a type keeps its version when its content key is unchanged and
 * gets a new one otherwise. `contentKey` must be deterministic (e.g. the JSON of the resources).
 */
export function nextVersions(previous: { versions: Record<ResourceKind, string>; keys: Record<ResourceKind, string> } | undefined, keys: Record<ResourceKind, string>, newVersion: () => string): Record<ResourceKind, string> {
  const versions = {} as Record<ResourceKind, string>;
  for (const kind of PUSH_ORDER) {
    versions[kind] = previous && previous.keys[kind] === keys[kind] ? previous.versions[kind] : newVersion();
  }
  return versions;
}

/** A request as the stream sees it (DiscoveryRequest fields that matter). */
export interface AdsRequest {
  readonly type_url: string;
  readonly version_info: string;
  readonly resource_names: readonly string[];
  readonly response_nonce: string;
  readonly error_detail?: { readonly code?: number; readonly message?: string } | null;
}

export interface AdsResponse<T> {
  readonly kind: ResourceKind;
  readonly type_url: string;
  readonly version_info: string;
  readonly nonce: string;
  readonly resources: readonly SnapshotResource<T>[];
}

export type AdsEvent =
  | { readonly kind: "ack"; readonly type: ResourceKind; readonly version: string }
  | { readonly kind: "nack"; readonly type: ResourceKind; readonly version: string; readonly nonce: string; readonly error: string }
  | { readonly kind: "stale"; readonly type: ResourceKind; readonly nonce: string }
  | { readonly kind: "unknown-type"; readonly typeUrl: string };

interface TypeState {
  wildcard: boolean;
  names: Set<string>;
  lastNonce?: string;
  lastVersion?: string;
  acceptedVersion?: string;
  rejectedVersion?: string;
}

/** Per type: what was last sent, accepted and rejected (for logs, /xds status and tests). */
export interface TypeStatus {
  readonly subscribed: "*" | readonly string[];
  readonly sentVersion?: string;
  readonly acceptedVersion?: string;
  readonly rejectedVersion?: string;
}

export class AdsStreamState<T> {
  private readonly types = new Map<ResourceKind, TypeState>();
  private nonceCounter = 0;

  constructor(private snapshot: VersionedSnapshot<T>) {}

  /** Handles one request: what happened, and the responses to send (in order). */
  onRequest(req: AdsRequest): { events: AdsEvent[]; responses: AdsResponse<T>[] } {
    const kind = kindOfTypeUrl(req.type_url);
    if (!kind) return { events: [{ kind: "unknown-type", typeUrl: req.type_url }], responses: [] };
    let st = this.types.get(kind);
    if (st && req.response_nonce !== "" && req.response_nonce !== st.lastNonce) {
      return { events: [{ kind: "stale", type: kind, nonce: req.response_nonce }], responses: [] };
    }
    const events: AdsEvent[] = [];
    if (st && req.response_nonce !== "" && req.response_nonce === st.lastNonce) {
      if (req.error_detail && (req.error_detail.message || req.error_detail.code)) {
        st.rejectedVersion = st.lastVersion;
        events.push({ kind: "nack", type: kind, version: st.lastVersion ?? "", nonce: req.response_nonce, error: req.error_detail.message ?? `code ${req.error_detail.code}` });
      } else {
        st.acceptedVersion = req.version_info;
        events.push({ kind: "ack", type: kind, version: req.version_info });
      }
    }
    const isNew = st === undefined;
    st ??= { wildcard: false, names: new Set() };
    this.types.set(kind, st);
    const wildcard = WILDCARD_KINDS.has(kind) && (req.resource_names.length === 0 || req.resource_names.includes("*"));
    const names = new Set(req.resource_names.filter((n) => n !== "*"));
    const changed = isNew || wildcard !== st.wildcard || names.size !== st.names.size || [...names].some((n) => !st.names.has(n));
    st.wildcard = wildcard;
    st.names = names;
    // A first request or a new subscription gets the current state; a plain ACK/NACK gets nothing.
    const responses = changed && (wildcard || names.size > 0 || st.lastNonce !== undefined) ? [this.respond(kind, st)] : [];
    return { events, responses };
  }

  /** A new snapshot: responses for every subscribed type whose version moved, clusters first. */
  onSnapshot(snapshot: VersionedSnapshot<T>): AdsResponse<T>[] {
    this.snapshot = snapshot;
    const out: AdsResponse<T>[] = [];
    for (const kind of PUSH_ORDER) {
      const st = this.types.get(kind);
      if (!st || (!st.wildcard && st.names.size === 0)) continue;
      if (st.lastVersion === snapshot.versions[kind]) continue;
      out.push(this.respond(kind, st));
    }
    return out;
  }

  status(): Partial<Record<ResourceKind, TypeStatus>> {
    const out: Partial<Record<ResourceKind, TypeStatus>> = {};
    for (const [kind, st] of this.types) {
      out[kind] = {
        subscribed: st.wildcard ? "*" : [...st.names].sort(),
        sentVersion: st.lastVersion,
        acceptedVersion: st.acceptedVersion,
        rejectedVersion: st.rejectedVersion,
      };
    }
    return out;
  }

  private respond(kind: ResourceKind, st: TypeState): AdsResponse<T> {
    const all = this.snapshot.resources[kind];
    const resources = st.wildcard
      ? all.filter((r) => !r.namedOnly || st.names.has(r.name))
      : all.filter((r) => st.names.has(r.name));
    const nonce = String(++this.nonceCounter);
    st.lastNonce = nonce;
    st.lastVersion = this.snapshot.versions[kind];
    return { kind, type_url: TYPE_URLS[kind], version_info: this.snapshot.versions[kind], nonce, resources };
  }
}
