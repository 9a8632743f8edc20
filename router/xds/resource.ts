/** One xDS resource as the cache holds it: its name, its payload, and whether only clients that name it get it. */
export interface SnapshotResource<T> {
  readonly name: string;
  readonly namedOnly?: boolean;
  readonly payload: T;
}
