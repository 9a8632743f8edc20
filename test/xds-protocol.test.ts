import { strict as assert } from "node:assert";
import { TYPE_URLS, type ResourceKind } from "../infra/envoy/config";
import { AdsStreamState, nextVersions, PUSH_ORDER, type AdsRequest, type VersionedSnapshot } from "../router/xds/protocol";

type Snap = VersionedSnapshot<string>;

function snap(version: string, names: Partial<Record<ResourceKind, string[]>>, namedOnly: string[] = []): Snap {
  const resources = {} as Record<ResourceKind, { name: string; namedOnly?: boolean; payload: string }[]>;
  const versions = {} as Record<ResourceKind, string>;
  for (const kind of PUSH_ORDER) {
    resources[kind] = (names[kind] ?? []).map((n) => ({ name: n, namedOnly: namedOnly.includes(n) || undefined, payload: `${kind}:${n}@${version}` }));
    versions[kind] = version;
  }
  return { versions, resources };
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

  it("ignores a request carrying a stale nonce (one that is not the last sent for its type)", () => {
    const s = new AdsStreamState(v1);
    const [first] = s.onRequest(req("cluster")).responses;
    s.onSnapshot(snap("2", { cluster: ["router"] }));
    const stale = s.onRequest(req("cluster", { version_info: "1", response_nonce: first!.nonce, error_detail: { message: "old" } }));
    assert.deepEqual(stale.events, [{ kind: "stale", type: "cluster", nonce: first!.nonce }]);
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
    const onlyRoutes: Snap = { versions: { ...v2.versions, route: "3" }, resources: v2.resources };
    assert.deepEqual(s.onSnapshot(onlyRoutes).map((r) => r.kind), ["route"]);
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
