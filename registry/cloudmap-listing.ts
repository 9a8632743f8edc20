/**
 * The one Cloud Map listing, used by the router's Cloud Map source (and so `a2a check`) and by the probe.
 *
 * What Cloud Map offers (AWS Cloud Map API Reference and service quotas):
 * - DiscoverInstances: MaxResults 1-1000 and no NextToken; it returns a randomized list, so a page
 *   smaller than the service is a random subset. Rate: 1,000/s steady, 2,000 burst per account and Region.
 * - DiscoverInstancesRevision: one number that moves when an instance registers or deregisters;
 *   its own quota, 3,000/s per account and Region.
 * - ListInstances: pages of at most 100 with NextToken, by service id (a control-plane call).
 * - A service holds at most 1,000 instances (not adjustable); a namespace 2,000 (adjustable).
 *
 * So one DiscoverInstances with MaxResults 1000 returns a whole service; past 1,000 deployments the
 * registry is split into services (shards, docs/decisions/registry-shards.md) and the listing covers
 * every shard. A full page is completed with ListInstances when the service id is known: that path only
 * matters if AWS ever let a service hold more than 1,000.
 */
import {
  DiscoverInstancesCommand,
  DiscoverInstancesRevisionCommand,
  paginateListInstances,
  type HttpInstanceSummary,
  type ServiceDiscoveryClient,
} from "@aws-sdk/client-servicediscovery";

/** DiscoverInstances' largest MaxResults (API_DiscoverInstances.html: valid range 1-1000). */
export const DISCOVER_MAX_RESULTS = 1000;
/** ListInstances' largest MaxResults (API_ListInstances.html: valid range 1-100). */
export const LIST_PAGE_SIZE = 100;
/** Instances one Cloud Map service may hold (cloud-map-limits.html: 1,000, not adjustable). */
export const INSTANCES_PER_SERVICE = 1000;

/** One Cloud Map service: a shard of the registry. */
export interface CloudMapServiceRef {
  readonly namespace: string;
  readonly service: string;
  /** The service id (`srv-...`): lets a full DiscoverInstances page be completed with ListInstances. */
  readonly serviceId?: string | undefined;
}

export interface ServiceListing {
  readonly ref: CloudMapServiceRef;
  /** Every instance listed, whatever its health. */
  readonly instances: HttpInstanceSummary[];
  /** InstancesRevision of the DiscoverInstances answer (ListInstances has none). */
  readonly revision: number | undefined;
  /** The DiscoverInstances page was full: the service is at its quota. */
  readonly full: boolean;
  /** A full page was completed with ListInstances. */
  readonly paged: boolean;
}

export interface ListingOptions {
  /** Abandons the calls, the SDK's retries included (the probe's deadline). */
  readonly signal?: AbortSignal | undefined;
}

/** Which Cloud Map call failed, on which service; the cause is the SDK's error. */
export class CloudMapListingError extends Error {
  constructor(readonly operation: "DiscoverInstances" | "DiscoverInstancesRevision" | "ListInstances", readonly ref: CloudMapServiceRef, cause: unknown) {
    super(`${operation} on Cloud Map service ${ref.namespace}/${ref.service}${operation === "ListInstances" ? ` (service id ${ref.serviceId})` : ""} failed (${errorText(cause)})`, { cause });
    this.name = "CloudMapListingError";
  }
}

function errorText(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

const sendOptions = (opts: ListingOptions): { abortSignal?: AbortSignal } => (opts.signal ? { abortSignal: opts.signal } : {});

/** The service's InstancesRevision: one cheap call that says whether a full listing is needed. */
export async function serviceRevision(sd: ServiceDiscoveryClient, ref: CloudMapServiceRef, opts: ListingOptions = {}): Promise<number | undefined> {
  try {
    const res = await sd.send(new DiscoverInstancesRevisionCommand({ NamespaceName: ref.namespace, ServiceName: ref.service }), sendOptions(opts));
    return res.InstancesRevision;
  } catch (err) {
    throw new CloudMapListingError("DiscoverInstancesRevision", ref, err);
  }
}

/**
 * Every instance of one service, whatever its health (HealthStatus ALL: an agent Cloud Map calls
 * unhealthy is exactly the one to route to or probe; see docs/client.md). One DiscoverInstances; a full
 * page is completed with ListInstances (NextToken) when the service id is known.
 */
export async function listService(sd: ServiceDiscoveryClient, ref: CloudMapServiceRef, opts: ListingOptions = {}): Promise<ServiceListing> {
  let instances: HttpInstanceSummary[];
  let revision: number | undefined;
  try {
    const res = await sd.send(new DiscoverInstancesCommand({
      NamespaceName: ref.namespace, ServiceName: ref.service, HealthStatus: "ALL", MaxResults: DISCOVER_MAX_RESULTS,
    }), sendOptions(opts));
    instances = res.Instances ?? [];
    revision = res.InstancesRevision;
  } catch (err) {
    throw new CloudMapListingError("DiscoverInstances", ref, err);
  }
  const full = instances.length >= DISCOVER_MAX_RESULTS;
  if (!full || !ref.serviceId) return { ref, instances, revision, full, paged: false };

  const all: HttpInstanceSummary[] = [];
  try {
    for await (const page of paginateListInstances({ client: sd, pageSize: LIST_PAGE_SIZE }, { ServiceId: ref.serviceId }, sendOptions(opts))) {
      for (const i of page.Instances ?? []) if (i.Id) all.push({ InstanceId: i.Id, NamespaceName: ref.namespace, ServiceName: ref.service, Attributes: i.Attributes ?? {} });
    }
  } catch (err) {
    throw new CloudMapListingError("ListInstances", ref, err);
  }
  return { ref, instances: all, revision, full, paged: true };
}

/** Every shard, listed concurrently (one DiscoverInstances each); the first failure rejects. */
export function listServices(sd: ServiceDiscoveryClient, refs: readonly CloudMapServiceRef[], opts: ListingOptions = {}): Promise<ServiceListing[]> {
  return Promise.all(refs.map((ref) => listService(sd, ref, opts)));
}
