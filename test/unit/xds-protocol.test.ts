import { strict as assert } from "node:assert";
import { TYPE_URLS, type ResourceKind } from "../../envoy/config";
import { ClusterHistory } from "../../router/xds/history";
import { AdsStreamState, nextVersions, PUSH_ORDER, type AdsRequest, type VersionedSnapshot } from "../../router/xds/protocol";

type Snap = VersionedSnapshot<string>;

function snap(version: string, names: Partial<Record<ResourceKind, string[]>>, namedOnly: string[] = [], routeClusters: Record<string, string[]> = {}): Snap {
  const resources = {} as Record<ResourceKind, { name: string; namedOnly?: boolean; payload: string }[]>;
  const versions = {} as Record<ResourceKind, string>;
  for (const kind of PUSH_ORDER) {
    resources[kind] = (names[kind] ?? []).map((n) => ({ name: n, namedOnly: namedOnly.includes(n) || undefined, payload: `${kind}:${n}@${version}` }));
    versions[kind] = version;
  }
  return { versions, resources, routeClusters: new Map(Object.entries(routeClusters)), edsClusters: new Set(names.cluster ?? []) };
}

const req = (kind: ResourceKind, fields: Partial<AdsRequest> = {}): AdsRequest => ({
  type_url: TYPE_URLS[kind], version_info: "", resource_names: [], response_nonce: "", ...fields,
});

describe("xds protocol: one ADS stream", () => {
  const v1 = snap("1", { listener: ["a2a", "pixell-a2a"], route: ["a2a_routes"], cluster: ["router", "deployment_a"], endpoint: ["router", "deployment_a"] }, ["pixell-a2a"]);

  it("a wildcard LDS request gets Envoy's socket listener but not the gRPC API listener; a named one gets the API listener", () => {
    const s = new AdsStreamState(v1);
    const wildcard = s.onRequest(req("listener")).responses;
    assert.deepEqual(wildcard.map((r) => r.resources.map((x) => x.name)), [["a2a"]]);
    const grpcClient = new AdsStreamState(v1);
    const named = grpcClient.onRequest(req("listener", { resource_names: ["pixell-a2a"] })).responses;
    assert.deepEqual(named.map((r) => r.resources.map((x) => x.name)), [["pixell-a2a"]]);
  });

  it("RDS and EDS are never wildcard: empty names get nothing, names get exactly those resources", () => {
    const s = new AdsStreamState(v1);
    assert.deepEqual(s.onRequest(req("route")).responses, []);
    const eds = s.onRequest(req("endpoint", { resource_names: ["deployment_a", "unknown"] })).responses;
    assert.deepEqual(eds[0]!.resources.map((x) => x.name), ["deployment_a"]);
  });

  it("an ACK records the accepted version and is not answered", () => {
    const s = new AdsStreamState(v1);
    const [first] = s.onRequest(req("cluster")).responses;
    const { events, responses } = s.onRequest(req("cluster", { version_info: first!.version_info, response_nonce: first!.nonce }));
    assert.deepEqual(events, [{ kind: "ack", type: "cluster", version: "1" }]);
    assert.deepEqual(responses, []);
    assert.equal(s.status().cluster!.acceptedVersion, "1");
  });

  it("a NACK is reported with its error, the version is not accepted and not sent again; the next version is", () => {
    const s = new AdsStreamState(v1);
    const [first] = s.onRequest(req("cluster")).responses;
    s.onRequest(req("cluster", { version_info: "1", response_nonce: first!.nonce }));
    const v2 = snap("2", { cluster: ["router"] });
    const [second] = s.onSnapshot(v2);
    const nack = s.onRequest(req("cluster", { version_info: "1", response_nonce: second!.nonce, error_detail: { code: 3, message: "bad cluster" } }));
    assert.deepEqual(nack.events, [{ kind: "nack", type: "cluster", version: "2", nonce: second!.nonce, error: "bad cluster" }]);
    assert.deepEqual(nack.responses, []);
    assert.deepEqual([s.status().cluster!.acceptedVersion, s.status().cluster!.rejectedVersion], ["1", "2"]);
    assert.deepEqual(s.onSnapshot(v2), [], "the rejected version is not pushed again");
    const [third] = s.onSnapshot(snap("3", { cluster: ["router"] }));
    assert.equal(third!.version_info, "3");
  });

  // xds_protocol.rst, "Resource updates": "The management server should not send a DiscoveryResponse for any DiscoveryRequest that has a stale nonce".
  it("ignores a request carrying a stale nonce (one that is not the last sent for its type)", () => {
    const s = new AdsStreamState(v1);
    const [first] = s.onRequest(req("cluster")).responses;
    s.onSnapshot(snap("2", { cluster: ["router"] }));
    const stale = s.onRequest(req("cluster", { version_info: "1", response_nonce: first!.nonce, error_detail: { message: "old" } }));
    assert.deepEqual(stale.events, [{ kind: "stale", type: "cluster", nonce: first!.nonce, lastNonce: "2" }]);
    assert.equal(s.status().cluster!.rejectedVersion, undefined);
  });

  it("a changed subscription (new EDS names) is answered at the current version with a new nonce", () => {
    const s = new AdsStreamState(v1);
    const [a] = s.onRequest(req("endpoint", { resource_names: ["router"] })).responses;
    const { responses } = s.onRequest(req("endpoint", { version_info: "1", response_nonce: a!.nonce, resource_names: ["router", "deployment_a"] }));
    assert.equal(responses.length, 1);
    assert.equal(responses[0]!.version_info, "1");
    assert.notEqual(responses[0]!.nonce, a!.nonce);
    assert.deepEqual(responses[0]!.resources.map((r) => r.name), ["router", "deployment_a"]);
  });

  it("pushes only types whose version moved, clusters and endpoints before listeners and routes", () => {
    const s = new AdsStreamState(v1);
    s.onRequest(req("route", { resource_names: ["a2a_routes"] }));
    s.onRequest(req("listener"));
    s.onRequest(req("endpoint", { resource_names: ["router"] }));
    s.onRequest(req("cluster"));
    const v2 = snap("2", { listener: ["a2a"], route: ["a2a_routes"], cluster: ["router"], endpoint: ["router"] });
    assert.deepEqual(s.onSnapshot(v2).map((r) => r.kind), ["cluster", "endpoint", "listener", "route"]);
    const onlyRoutes = snap("3", { listener: ["a2a"], route: ["a2a_routes"], cluster: ["router"], endpoint: ["router"] });
    const sameOtherwise: Snap = { ...onlyRoutes, resources: { ...v2.resources, route: onlyRoutes.resources.route } };
    assert.deepEqual(s.onSnapshot(sameOtherwise).map((r) => r.kind), ["route"], "only what this stream would see differently is sent");
  });

  it("answers nothing for a type it does not serve", () => {
    const s = new AdsStreamState(v1);
    const r = s.onRequest({ ...req("cluster"), type_url: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret" });
    assert.deepEqual(r, { events: [{ kind: "unknown-type", typeUrl: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret" }], responses: [] });
  });
});

describe("xds protocol: versions per type", () => {
  it("a type keeps its version while its content is unchanged and gets a new one when it changes", () => {
    let n = 0;
    const keys = { listener: "L", route: "R1", cluster: "C1", endpoint: "E1" };
    const first = nextVersions(undefined, keys, () => String(++n));
    const second = nextVersions({ versions: first, keys }, { ...keys, route: "R2", cluster: "C2" }, () => String(++n));
    assert.equal(second.listener, first.listener);
    assert.equal(second.endpoint, first.endpoint);
    assert.notEqual(second.route, first.route);
    assert.notEqual(second.cluster, first.cluster);
  });
});

describe("xds protocol: subscription rules (xds_protocol.rst, 'How the client specifies what resources to return')", () => {
  const v1 = snap("1", { listener: ["a2a", "pixell-a2a"], cluster: ["router", "deployment_a"], endpoint: ["router", "deployment_a"] }, ["pixell-a2a"]);

  // "if the client sends a request ... but has never explicitly subscribed to any resource names ... the server should treat that identically to ... '*'"
  it("an empty list is a wildcard only until the stream names a resource; after that it unsubscribes", () => {
    const s = new AdsStreamState(v1);
    const [all] = s.onRequest(req("cluster")).responses;
    assert.deepEqual(all!.resources.map((r) => r.name), ["router", "deployment_a"]);
    const [named] = s.onRequest(req("cluster", { version_info: "1", response_nonce: all!.nonce, resource_names: ["router"] })).responses;
    assert.deepEqual(named!.resources.map((r) => r.name), ["router"]);
    // "Although this request is identical to the first one, it is not interpreted as a wildcard subscription"
    const { responses } = s.onRequest(req("cluster", { version_info: "1", response_nonce: named!.nonce, resource_names: [] }));
    assert.deepEqual(responses, []);
    assert.deepEqual(s.status().cluster!.subscribed, []);
    assert.deepEqual(s.onSnapshot(snap("2", { cluster: ["router", "deployment_b"], endpoint: ["router"] })), [], "unsubscribed: no pushes");
    // '"*" and "A"': continuing the wildcard and adding A; '"*"' is a wildcard at any time.
    const [star] = s.onRequest(req("cluster", { version_info: "1", response_nonce: named!.nonce, resource_names: ["*"] })).responses;
    assert.deepEqual(star!.resources.map((r) => r.name), ["router", "deployment_b"]);
  });

  it("a wildcard plus a name gets the named-only API listener as well", () => {
    const s = new AdsStreamState(v1);
    const [r] = s.onRequest(req("listener", { resource_names: ["*", "pixell-a2a"] })).responses;
    assert.deepEqual(r!.resources.map((x) => x.name), ["a2a", "pixell-a2a"]);
  });

  it("names a stale request adds are served after the next in-order request names them", () => {
    const s = new AdsStreamState(v1);
    const [first] = s.onRequest(req("endpoint", { resource_names: ["router"] })).responses;
    const [second] = s.onRequest(req("endpoint", { version_info: "1", response_nonce: first!.nonce, resource_names: ["router", "deployment_a"] })).responses;
    const stale = s.onRequest(req("endpoint", { version_info: "1", response_nonce: first!.nonce, resource_names: ["router", "deployment_a", "deployment_b"] }));
    assert.deepEqual(stale.responses, [], "no response to a stale nonce");
    assert.equal(stale.events[0]!.kind, "stale");
    const v2 = snap("2", { cluster: ["router", "deployment_a", "deployment_b"], endpoint: ["router", "deployment_a", "deployment_b"] });
    s.onSnapshot(v2);
    const next = s.onRequest(req("endpoint", { version_info: "2", response_nonce: String(Number(second!.nonce) + 1), resource_names: ["router", "deployment_a", "deployment_b"] }));
    assert.deepEqual(next.responses.map((r) => r.resources.map((x) => x.name)), [["router", "deployment_a", "deployment_b"]]);
  });
});

describe("xds protocol: warming and ordering rules", () => {
  /** Resources whose payload depends only on their own content (as the cache's encodings do); the route's on the clusters it names. */
  const routed = (v: string, clusters: string[]): Snap => {
    const s = snap(v, { listener: ["a2a"], route: ["a2a_routes"], cluster: clusters, endpoint: clusters }, [], { a2a_routes: clusters });
    const stable = (kind: ResourceKind) => s.resources[kind].map((r) => ({ ...r, payload: kind === "route" ? `route:${clusters.join(",")}` : `${kind}:${r.name}` }));
    return { ...s, resources: { listener: stable("listener"), route: stable("route"), cluster: stable("cluster"), endpoint: stable("endpoint") } };
  };

  /** An Envoy-like subscription: wildcard CDS (ACKed), EDS for every cluster, LDS, RDS; all ACKed. */
  function envoyLike(s: AdsStreamState<string>, clusters: string[]): Record<string, string> {
    const nonces: Record<string, string> = {};
    const [cds] = s.onRequest(req("cluster")).responses;
    nonces.cluster = cds!.nonce;
    s.onRequest(req("cluster", { version_info: cds!.version_info, response_nonce: cds!.nonce }));
    const [eds] = s.onRequest(req("endpoint", { resource_names: clusters })).responses;
    nonces.endpoint = eds!.nonce;
    s.onRequest(req("endpoint", { version_info: eds!.version_info, response_nonce: eds!.nonce, resource_names: clusters }));
    const [rds] = s.onRequest(req("route", { resource_names: ["a2a_routes"] })).responses;
    nonces.route = rds!.nonce;
    s.onRequest(req("route", { version_info: rds!.version_info, response_nonce: rds!.nonce, resource_names: ["a2a_routes"] }));
    return nonces;
  }

  it("holds a route naming a new cluster until CDS with it and then its endpoints are ACKed (R1)", () => {
    const s = new AdsStreamState(routed("1", ["router"]));
    const n = envoyLike(s, ["router"]);
    const push = s.onSnapshot(routed("2", ["router", "deployment_b"]));
    assert.deepEqual(push.map((r) => r.kind), ["cluster"], "no EDS (this stream's endpoints did not change) and no RDS yet");
    assert.deepEqual(s.heldRoutes(), ["a2a_routes"]);
    assert.deepEqual(s.onRequest(req("cluster", { version_info: "2", response_nonce: push[0]!.nonce })).responses, [], "ACKed, but not warm yet");
    const eds = s.onRequest(req("endpoint", { version_info: "1", response_nonce: n.endpoint, resource_names: ["router", "deployment_b"] })).responses;
    assert.deepEqual(eds.map((r) => r.kind), ["endpoint"], "the endpoints; the route waits for their ACK");
    const names = ["router", "deployment_b"];
    const rds = s.onRequest(req("endpoint", { version_info: eds[0]!.version_info, response_nonce: eds[0]!.nonce, resource_names: names })).responses;
    assert.deepEqual(rds.map((r) => r.kind), ["route"]);
    assert.deepEqual(s.heldRoutes(), []);
  });

  it("a NACKed EDS response does not warm the cluster: the route stays held (R1, R6)", () => {
    const s = new AdsStreamState(routed("1", ["router"]));
    const n = envoyLike(s, ["router"]);
    const [cds] = s.onSnapshot(routed("2", ["router", "deployment_b"]));
    s.onRequest(req("cluster", { version_info: cds!.version_info, response_nonce: cds!.nonce }));
    const [eds] = s.onRequest(req("endpoint", { version_info: "1", response_nonce: n.endpoint, resource_names: ["router", "deployment_b"] })).responses;
    const after = s.onRequest(req("endpoint", { version_info: "1", response_nonce: eds!.nonce, resource_names: ["router", "deployment_b"], error_detail: { message: "bad endpoint" } }));
    assert.deepEqual(after.responses, []);
    assert.deepEqual(s.heldRoutes(), ["a2a_routes"]);
  });

  it("a NACKed CDS never counts as an ACK: the route naming its new cluster stays held (R6)", () => {
    const s = new AdsStreamState(routed("1", ["router"]));
    const n = envoyLike(s, ["router"]);
    const [cds] = s.onSnapshot(routed("2", ["router", "deployment_b"]));
    s.onRequest(req("cluster", { version_info: "1", response_nonce: cds!.nonce, error_detail: { message: "bad" } }));
    const after = s.onRequest(req("endpoint", { version_info: "1", response_nonce: n.endpoint, resource_names: ["router", "deployment_b"] })).responses;
    assert.ok(!after.some((r) => r.kind === "route"));
    assert.deepEqual(s.heldRoutes(), ["a2a_routes"]);
  });

  it("keeps a cluster while an ACKed or unanswered route names it, drops it after a route without it is ACKed (R2)", () => {
    const s = new AdsStreamState(routed("1", ["router", "deployment_a"]));
    envoyLike(s, ["router", "deployment_a"]);
    const push = s.onSnapshot(routed("2", ["router"]));
    assert.deepEqual(push.map((r) => r.kind), ["route"], "the cluster stays: the client's routes still name it");
    const [cds] = s.onRequest(req("route", { version_info: push[0]!.version_info, response_nonce: push[0]!.nonce, resource_names: ["a2a_routes"] })).responses;
    assert.equal(cds!.kind, "cluster");
    assert.deepEqual(cds!.resources.map((r) => r.name), ["router"]);
  });

  it("a NACKed route keeps the clusters of the version the client still uses (R2, R6)", () => {
    const s = new AdsStreamState(routed("1", ["router", "deployment_a"]));
    envoyLike(s, ["router", "deployment_a"]);
    const [rds] = s.onSnapshot(routed("2", ["router"]));
    const { responses } = s.onRequest(req("route", { version_info: "1", response_nonce: rds!.nonce, resource_names: ["a2a_routes"], error_detail: { message: "no" } }));
    assert.deepEqual(responses, [], "deployment_a stays in CDS");
  });

  it("re-sends unchanged endpoints after a CDS change to an existing EDS cluster (R3)", () => {
    const v1 = routed("1", ["router"]);
    const s = new AdsStreamState(v1);
    envoyLike(s, ["router"]);
    const changedCluster: Snap = { ...v1, versions: { ...v1.versions, cluster: "2" }, resources: { ...v1.resources, cluster: [{ name: "router", payload: "cluster:router@2" }] } };
    const push = s.onSnapshot(changedCluster);
    assert.deepEqual(push.map((r) => [r.kind, r.version_info]), [["cluster", "2"], ["endpoint", "1"]]);
  });

  it("a reconnecting client keeps the clusters of the CDS version it reports until it ACKs routes on the new stream", () => {
    const history = new ClusterHistory<string>();
    const old = new AdsStreamState(routed("1", ["router", "deployment_a"]), { streamId: "1", history });
    envoyLike(old, ["router", "deployment_a"]);
    const fresh = new AdsStreamState(routed("2", ["router"]), { streamId: "2", history });
    const [cds] = fresh.onRequest(req("cluster", { version_info: "1" })).responses;
    assert.deepEqual(cds!.resources.map((r) => r.name), ["router", "deployment_a"], "kept: the client's routes may still name it");
    assert.notEqual(cds!.version_info, "2", "a stream-specific version: the content differs from the snapshot's");
  });
});

