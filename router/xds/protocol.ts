/**
 * The state-of-the-world ADS protocol of one stream, as a pure state machine (no I/O): it is
 * told about requests and snapshots and answers with the responses to send, in order. What it
 * sends a stream is the snapshot as seen through that stream's subscriptions and what that client
 * has applied, so that no route the client applies ever names a cluster it does not have active.
 * Sources (cited at each rule below): Envoy's api-docs/xds_protocol.rst ("the spec") and
 * go-control-plane's ADS mode (pkg/cache/v3/simple.go, pkg/server/sotw/v3/ads.go).
 *
 * Rules, per stream:
 * - R1 routes after clusters: a route configuration naming cluster C goes out only after the
 *   client ACKed a CDS response containing C and, for an EDS cluster, ACKed an EDS response with
 *   C's ClusterLoadAssignment sent after C (waiting for that ACK, not only for the send, is
 *   stricter than needed for a client that accepts every EDS response; it keeps a NACKed EDS
 *   response from counting: R6). Until then the stream keeps its previous
 *   version of that route configuration (or none). Spec, "Eventual consistency considerations":
 *   "routes are not warmed, i.e., the management plane must ensure that clusters referenced by a
 *   route are in place, before pushing the updates for a route"; "Resource warming": "Warming of
 *   Cluster is completed only when a ClusterLoadAssignment response is supplied".
 *   Applies when the stream subscribes to CDS as wildcard (Envoy). A client that names its
 *   clusters learns them from its routes (spec, "API flow": a non-proxy client such as gRPC
 *   fetches "Listener ... then RouteConfiguration ... followed by whichever Cluster resources are
 *   required by those RouteConfiguration resources"), so holding its routes would deadlock it.
 * - R2 clusters outlive their routes: C stays in this stream's CDS while a route configuration
 *   the client has ACKed, or was sent and has not answered, names C. Spec: "Stale CDS clusters
 *   and related EDS endpoints (ones no longer being referenced) can then be removed". No timer.
 * - R3 re-warming: after a CDS response that changes an EDS cluster (or that the client has not
 *   been sent endpoints for), its ClusterLoadAssignment is sent again even when unchanged. Spec,
 *   "Resource warming", Envoy note: "Warming of Cluster is completed only when a new
 *   ClusterLoadAssignment response is supplied by management server even though there is no
 *   change in endpoints".
 * - R4 stale nonces: a request whose nonce is not the last one sent for its type gets no
 *   response and changes nothing. Spec, "Resource updates": "The management server should not
 *   send a DiscoveryResponse for any DiscoveryRequest that has a stale nonce"; go-control-plane
 *   ads.go: "Skipping request as nonce is stale". The names it added are served when the next
 *   in-order request (which in SotW carries the full list) names them.
 * - R5 wildcard: for LDS and CDS, an empty resource_names is a wildcard only while the stream has
 *   never named a resource of that type; "*" is a wildcard at any time; after names, an empty
 *   list unsubscribes. Spec, "How the client specifies what resources to return": "once the
 *   client does explicitly subscribe to a resource name (whether it be "*" or any other name),
 *   then this legacy semantic is no longer available". RDS and EDS have no wildcard.
 * - R6 ACK/NACK: a NACK (error_detail set, spec "ACK and NACK semantics summary") is never an
 *   ACK: the stream goes on from what the client last ACKed, and the rejected content is not
 *   sent again; different content is.
 * - R7 only changes are sent: a type is sent when what this stream would see changed, or when a
 *   request named something new (spec, "How the client specifies...": "the server must resend
 *   any newly requested resources"). Pushes go clusters, endpoints, listeners, routes (spec,
 *   "make before break": CDS first, EDS after CDS, LDS after CDS/EDS, RDS after them).
 */
import { TYPE_URLS, type ResourceKind } from "../../envoy/config";
import type { ClusterHistory } from "./history";
import type { SnapshotResource } from "./resource";

/** Push order: make before break. */
export const PUSH_ORDER: readonly ResourceKind[] = ["cluster", "endpoint", "listener", "route"];
const WILDCARD_KINDS: ReadonlySet<ResourceKind> = new Set<ResourceKind>(["listener", "cluster"]);

export function kindOfTypeUrl(typeUrl: string): ResourceKind | undefined {
  return (Object.keys(TYPE_URLS) as ResourceKind[]).find((k) => TYPE_URLS[k] === typeUrl);
}

export type { SnapshotResource } from "./resource";

/** What the server serves at one moment: resources and a version per type, and the references between them. */
export interface VersionedSnapshot<T> {
  readonly versions: Readonly<Record<ResourceKind, string>>;
  readonly resources: Readonly<Record<ResourceKind, readonly SnapshotResource<T>[]>>;
  /** Per route configuration name: the clusters it routes to. */
  readonly routeClusters: ReadonlyMap<string, readonly string[]>;
  /** Clusters that warm on a ClusterLoadAssignment (type EDS); others are active once applied. */
  readonly edsClusters: ReadonlySet<string>;
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
  | { readonly kind: "stale"; readonly type: ResourceKind; readonly nonce: string; readonly lastNonce?: string }
  | { readonly kind: "unknown-type"; readonly typeUrl: string };

/** One resource as sent on this stream, with the clusters it references (route configurations only). */
interface Entry<T> {
  readonly res: SnapshotResource<T>;
  readonly refs: readonly string[];
}
type Content<T> = ReadonlyMap<string, Entry<T>>;
const EMPTY: Content<never> = new Map();

interface TypeState<T> {
  everNamed: boolean;
  wildcard: boolean;
  names: Set<string>;
  /** A request named something this stream has not been sent yet (R7). */
  mustRespond: boolean;
  lastNonce?: string;
  lastVersion?: string;
  /** Content of the last response sent (after a NACK: of the last ACKed one). */
  sent: Content<T>;
  /** Content of the last response the client ACKed: what it applied. */
  acked: Content<T>;
  /** Content of the last NACKed response: not sent again (R6). */
  rejected?: Content<T>;
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

function sameContent<T>(a: Content<T>, b: Content<T>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, e] of a) if (b.get(name)?.res.payload !== e.res.payload) return false;
  return true;
}

export interface AdsStreamOptions<T> {
  /** Unique among this server's streams: part of the version strings only this stream sends. */
  readonly streamId?: string;
  /** Clusters recently sent under each CDS version (shared by the server's streams), for reconnects. */
  readonly history?: ClusterHistory<T>;
}

export class AdsStreamState<T> {
  private readonly types = new Map<ResourceKind, TypeState<T>>();
  private nonceCounter = 0;
  private labelCounter = 0;
  /** Clusters warmed on this stream (an EDS response with their assignment, sent after them, was ACKed) and sent in CDS ever since. */
  private readonly active = new Set<string>();
  /** Clusters whose assignment went out after them, in an EDS response not answered yet. */
  private readonly warmSent = new Set<string>();
  /** Clusters whose definition changed in a CDS response: their assignment is due again (R3). */
  private readonly edsOwed = new Set<string>();
  /** Clusters named by the route configurations the client ACKed. */
  private routesAcked = new Set<string>();
  /** Clusters named by route responses sent since the last answered one, by version (R2). */
  private readonly routesPending = new Map<string, ReadonlySet<string>>();
  /** Clusters a reconnecting client said it had; kept until it ACKs routes on this stream (R2). */
  private inherited: ReadonlyMap<string, SnapshotResource<T>> | undefined;

  constructor(private snapshot: VersionedSnapshot<T>, private readonly opts: AdsStreamOptions<T> = {}) {}

  /** Handles one request: what happened, and the responses to send (in order). */
  onRequest(req: AdsRequest): { events: AdsEvent[]; responses: AdsResponse<T>[] } {
    const kind = kindOfTypeUrl(req.type_url);
    if (!kind) return { events: [{ kind: "unknown-type", typeUrl: req.type_url }], responses: [] };
    let st = this.types.get(kind);
    // A nonce is only meaningful on the stream that sent it (spec: "it does not survive stream
    // restarts"), so a type's first request on this stream is never stale.
    if (st && req.response_nonce !== (st.lastNonce ?? "")) {
      return { events: [{ kind: "stale", type: kind, nonce: req.response_nonce, lastNonce: st.lastNonce }], responses: [] };
    }
    const events: AdsEvent[] = [];
    if (st && st.lastNonce !== undefined) {
      if (req.error_detail && (req.error_detail.message || req.error_detail.code)) {
        events.push({ kind: "nack", type: kind, version: st.lastVersion ?? "", nonce: req.response_nonce, error: req.error_detail.message || `code ${req.error_detail.code}` });
        this.onNack(kind, st, req.version_info);
      } else {
        events.push({ kind: "ack", type: kind, version: st.lastVersion ?? req.version_info });
        this.onAck(kind, st);
      }
    }
    const isNew = st === undefined;
    if (!st) {
      st = { everNamed: false, wildcard: false, names: new Set(), mustRespond: false, sent: EMPTY, acked: EMPTY };
      this.types.set(kind, st);
      if (kind === "cluster" && req.version_info && this.opts.history) this.inherited = this.opts.history.get(req.version_info);
    }
    this.subscribe(kind, st, req.resource_names, isNew);
    return { events, responses: this.pump() };
  }

  /** A new snapshot: responses for every subscribed type whose view changed, clusters first. */
  onSnapshot(snapshot: VersionedSnapshot<T>): AdsResponse<T>[] {
    this.snapshot = snapshot;
    return this.pump();
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

  /** Route configurations held back because a cluster they name is not active on this client yet (R1). */
  heldRoutes(): string[] {
    return this.types.get("route") ? this.routeView().held : [];
  }

  // --- requests

  private subscribe(kind: ResourceKind, st: TypeState<T>, requested: readonly string[], isNew: boolean): void {
    const explicit = requested.filter((n) => n !== "*");
    let wildcard = false;
    if (WILDCARD_KINDS.has(kind)) {
      // R5: legacy wildcard only until the first named request; "*" always.
      wildcard = requested.length === 0 ? !st.everNamed : requested.includes("*");
      if (requested.length > 0) st.everNamed = true;
    }
    const added = isNew || (wildcard && !st.wildcard) || explicit.some((n) => !st.names.has(n));
    st.wildcard = wildcard;
    st.names = new Set(explicit);
    if (added) st.mustRespond = true;
  }

  private onAck(kind: ResourceKind, st: TypeState<T>): void {
    st.acked = st.sent;
    st.acceptedVersion = st.lastVersion;
    if (kind === "endpoint") {
      for (const name of this.warmSent) if (st.sent.has(name)) this.active.add(name);
      this.warmSent.clear();
    }
    if (kind === "route") {
      this.routesAcked = refsOf(st.sent);
      this.routesPending.clear();
      this.inherited = undefined;
    }
  }

  private onNack(kind: ResourceKind, st: TypeState<T>, clientVersion: string): void {
    st.rejectedVersion = st.lastVersion;
    st.rejected = st.sent;
    const rejected = st.sent;
    st.sent = st.acked;
    if (kind === "endpoint") this.warmSent.clear();
    if (kind === "cluster") {
      // The client kept its previous clusters: the rejected new ones were never created.
      for (const name of rejected.keys()) {
        if (!st.acked.has(name)) { this.active.delete(name); this.edsOwed.delete(name); this.warmSent.delete(name); }
      }
    } else if (kind === "route") {
      // The client keeps the version it names (spec: version_info "indicates the most recent
      // version that the client is using"): possibly an earlier one it ACKed with a stale nonce.
      const using = this.routesPending.get(clientVersion);
      if (using) this.routesAcked = new Set(using);
      this.routesPending.clear();
    }
  }

  // --- what this stream sees

  private subscribed(st: TypeState<T> | undefined): st is TypeState<T> {
    return !!st && (st.wildcard || st.names.size > 0);
  }

  private wants(st: TypeState<T>, r: SnapshotResource<T>): boolean {
    return st.names.has(r.name) || (st.wildcard && !r.namedOnly);
  }

  private base(kind: ResourceKind, st: TypeState<T>, refs?: ReadonlyMap<string, readonly string[]>): Map<string, Entry<T>> {
    const out = new Map<string, Entry<T>>();
    for (const r of this.snapshot.resources[kind]) if (this.wants(st, r)) out.set(r.name, { res: r, refs: refs?.get(r.name) ?? [] });
    return out;
  }

  /** Clusters some route configuration the client has or may apply still names (R2). */
  private clustersInUse(): Set<string> {
    const out = new Set(this.routesAcked);
    for (const s of this.routesPending.values()) for (const c of s) out.add(c);
    for (const c of this.inherited?.keys() ?? []) out.add(c);
    return out;
  }

  private clusterView(st: TypeState<T>): { content: Content<T>; pure: boolean } {
    const content = this.base("cluster", st);
    let pure = true;
    for (const name of this.clustersInUse()) {
      if (content.has(name)) continue;
      const kept = st.sent.get(name)?.res ?? st.acked.get(name)?.res ?? this.inherited?.get(name);
      if (kept && this.wants(st, kept)) { content.set(name, { res: kept, refs: [] }); pure = false; }
    }
    return { content, pure };
  }

  private endpointView(st: TypeState<T>, clusters: Content<T>): { content: Content<T>; pure: boolean } {
    const content = this.base("endpoint", st);
    let pure = true;
    for (const name of st.names) {
      if (content.has(name) || !clusters.has(name)) continue;
      const kept = st.sent.get(name) ?? st.acked.get(name);
      if (kept) { content.set(name, kept); pure = false; }
    }
    return { content, pure };
  }

  /** A cluster a route may name now: the client applied it (ACKed CDS) and it is warm (R1). */
  private ready(name: string): boolean {
    const cds = this.types.get("cluster");
    if (!cds?.acked.has(name)) return false;
    return !this.snapshot.edsClusters.has(name) || this.active.has(name);
  }

  private routeView(): { content: Content<T>; pure: boolean; held: string[] } {
    const st = this.types.get("route")!;
    const content = this.base("route", st, this.snapshot.routeClusters);
    const gate = this.types.get("cluster")?.wildcard === true;
    const held: string[] = [];
    if (gate) {
      for (const [name, e] of content) {
        if (e.refs.every((c) => this.ready(c))) continue;
        held.push(name);
        const previous = st.sent.get(name);
        if (previous) content.set(name, previous);
        else content.delete(name);
      }
    }
    return { content, pure: held.length === 0, held };
  }

  // --- responses

  private pump(): AdsResponse<T>[] {
    const out: AdsResponse<T>[] = [];
    let clusters: Content<T> = this.types.get("cluster")?.sent ?? EMPTY;
    for (const kind of PUSH_ORDER) {
      const st = this.types.get(kind);
      if (!this.subscribed(st)) continue;
      let view: { content: Content<T>; pure: boolean; held?: string[] };
      if (kind === "cluster") view = this.clusterView(st);
      else if (kind === "endpoint") view = this.endpointView(st, clusters);
      else if (kind === "route") view = this.routeView();
      else view = { content: this.base(kind, st), pure: true };
      const same = sameContent(view.content, st.sent);
      const owed = kind === "endpoint" && [...view.content.keys()].some((c) => this.edsOwed.has(c) || (clusters.has(c) && this.snapshot.edsClusters.has(c) && !this.active.has(c) && !this.warmSent.has(c)));
      if (same && !owed && (!st.mustRespond || (view.held?.length ?? 0) > 0)) continue;
      if (st.rejected && sameContent(view.content, st.rejected)) continue;
      const version = view.pure ? this.snapshot.versions[kind] : `${this.snapshot.versions[kind]}+${this.opts.streamId ?? "s"}.${++this.labelCounter}`;
      out.push(this.send(kind, st, view.content, version));
      if (kind === "cluster") clusters = view.content;
    }
    return out;
  }

  private send(kind: ResourceKind, st: TypeState<T>, content: Content<T>, version: string): AdsResponse<T> {
    const previous = st.sent;
    if (kind === "cluster") {
      for (const [name, e] of content) {
        const before = previous.get(name);
        if (!before) { this.active.delete(name); this.warmSent.delete(name); this.edsOwed.add(name); } else if (before.res.payload !== e.res.payload) { this.warmSent.delete(name); this.edsOwed.add(name); }
      }
      for (const name of previous.keys()) if (!content.has(name)) { this.active.delete(name); this.warmSent.delete(name); this.edsOwed.delete(name); }
      this.opts.history?.set(version, new Map([...content].map(([n, e]) => [n, e.res])));
    } else if (kind === "endpoint") {
      const clusters = this.types.get("cluster")?.sent ?? EMPTY;
      for (const name of content.keys()) {
        if (clusters.has(name) || !this.types.get("cluster")) { this.warmSent.add(name); this.edsOwed.delete(name); }
      }
    } else if (kind === "route") {
      this.routesPending.set(version, refsOf(content));
    }
    st.sent = content;
    st.mustRespond = false;
    st.lastNonce = String(++this.nonceCounter);
    st.lastVersion = version;
    return { kind, type_url: TYPE_URLS[kind], version_info: version, nonce: st.lastNonce, resources: [...content.values()].map((e) => e.res) };
  }
}

function refsOf<T>(content: Content<T>): Set<string> {
  const out = new Set<string>();
  for (const e of content.values()) for (const c of e.refs) out.add(c);
  return out;
}
