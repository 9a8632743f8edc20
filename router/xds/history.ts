/**
 * The cluster sets the server sent recently, by the version string it sent them under. A client
 * that reconnects says in its first CDS request which version it applied (xds_protocol.rst, "ACK/NACK
 * and resource type instance version": "the client's initial request on the new stream should
 * indicate the most recent version seen by the client on the previous stream"); the new stream
 * looks that version up to keep every cluster the client's routes may still name.
 * Bounded: versions older than the last `limit` are forgotten (the stream then keeps nothing
 * extra, as after a router restart).
 */
import type { SnapshotResource } from "./resource";

export class ClusterHistory<T> {
  private readonly byVersion = new Map<string, ReadonlyMap<string, SnapshotResource<T>>>();

  constructor(private readonly limit = 16) {}

  set(version: string, clusters: ReadonlyMap<string, SnapshotResource<T>>): void {
    this.byVersion.delete(version);
    this.byVersion.set(version, clusters);
    while (this.byVersion.size > this.limit) this.byVersion.delete(this.byVersion.keys().next().value!);
  }

  get(version: string): ReadonlyMap<string, SnapshotResource<T>> | undefined {
    return this.byVersion.get(version);
  }
}
