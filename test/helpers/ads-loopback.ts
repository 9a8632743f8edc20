/**
 * The xDS server's cache and stream state (router/xds) wired to an `EnvoyAdsModel` in memory,
 * with the two directions of the stream as queues the caller delivers from one message at a
 * time, in any interleaving: what a real stream can do, without sockets or timers.
 */
import { DEFAULT_API_LISTENER, DEFAULT_ENVOY_INPUT } from "../../infra/envoy/config";
import { ClusterHistory } from "../../router/xds/history";
import { AdsStreamState, type AdsResponse } from "../../router/xds/protocol";
import { SnapshotCache, type AnyMessage } from "../../router/xds/snapshot";
import type { DeploymentRecord } from "../../router/registry/types";
import { EnvoyAdsModel, type WireRequest, type WireResponse } from "./envoy-ads-model";

export class AdsLoopback {
  readonly cache = new SnapshotCache({ apiListeners: [DEFAULT_API_LISTENER], envoy: DEFAULT_ENVOY_INPUT, versionPrefix: "t" });
  readonly history = new ClusterHistory<AnyMessage>();
  readonly model = new EnvoyAdsModel();
  stream!: AdsStreamState<AnyMessage>;
  toClient: WireResponse[] = [];
  toServer: WireRequest[] = [];
  /** Bytes of every DiscoveryResponse the server produced (resources only). */
  bytesSent = 0;
  private streams = 0;

  constructor(records: readonly DeploymentRecord[]) {
    const r = this.cache.build(records);
    if (!r.ok) throw new Error(r.problems.join("; "));
    this.connect();
  }

  /** A new stream: the model re-subscribes with what it has applied. */
  connect(): void {
    this.stream = new AdsStreamState(this.cache.snapshot()!, { streamId: String(++this.streams), history: this.history });
    this.toClient = [];
    this.toServer = this.model.connect();
  }

  /** A registry change: rebuild, and the stream's pushes are queued. */
  change(records: readonly DeploymentRecord[]): void {
    const r = this.cache.build(records);
    if (!r.ok) throw new Error(r.problems.join("; "));
    this.enqueue(this.stream.onSnapshot(r.snapshot));
  }

  deliverToServer(): boolean {
    const req = this.toServer.shift();
    if (!req) return false;
    this.enqueue(this.stream.onRequest(req).responses);
    return true;
  }

  deliverToClient(): boolean {
    const res = this.toClient.shift();
    if (!res) return false;
    this.toServer.push(...this.model.onResponse(res));
    return true;
  }

  /** Delivers everything, alternating directions, until both queues are empty. */
  settle(maxSteps = 10_000): void {
    for (let i = 0; i < maxSteps; i++) {
      const a = this.deliverToServer();
      const b = this.deliverToClient();
      if (!a && !b) return;
    }
    throw new Error("the stream did not settle");
  }

  private enqueue(responses: AdsResponse<AnyMessage>[]): void {
    for (const r of responses) {
      const resources = r.resources.map((x) => x.payload);
      for (const x of resources) this.bytesSent += x.value.length;
      this.toClient.push({ type_url: r.type_url, version_info: r.version_info, nonce: r.nonce, resources });
    }
  }
}
