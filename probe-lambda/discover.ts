/**
 * Step 1 of a run: the ids of every registered deployment, from Cloud Map in AWS
 * (PAR's contract: the instance id is the deployment id) or from the router's
 * registry file locally. Clients come in as parameters.
 */
import { readFile } from "node:fs/promises";
import type { ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import { parseRegistryFile } from "../registry/file";
import { CloudMapListingError, listServices, type CloudMapServiceRef } from "../registry/cloudmap-listing";
import { silentLogger, type Logger } from "../lib/log";
import { isTimeout } from "./budget";

/** Listing the deployments failed; the run emits DiscoveryErrors = 1 and the invocation fails. */
export class DiscoveryError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DiscoveryError";
  }
}

/** One Cloud Map service (a shard) the probe lists. */
export type CloudMapTarget = CloudMapServiceRef;

/** How many instances one shard holds (every instance Cloud Map lists, valid id or not: the quota counts them all). */
export interface ShardCount {
  readonly service: string;
  readonly instances: number;
}

export interface Discovery {
  /** Unique deployment ids, sorted. */
  readonly ids: string[];
  /** True when more deployments may exist than were listed (a full page and no way to page further). */
  readonly truncated: boolean;
  /** Per Cloud Map service, in the order given (absent for a registry file): the RegisteredInstances metric. */
  readonly shards?: readonly ShardCount[];
}

function errorText(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

function uniqueSorted(ids: Iterable<string>): string[] {
  return [...new Set(ids)].sort();
}

/** What to check when a Cloud Map call timed out: the service answered nothing, so IAM is not the question. */
const NETWORK_HINT = "Cloud Map did not answer in time: check the probe's network path to servicediscovery (NAT or VPC endpoint) and the AWS Health Dashboard";

/**
 * Every instance of every shard, whatever its health (an agent Cloud Map thinks unhealthy is exactly the
 * one to probe): one DiscoverInstances per shard (router/registry/cloudmap-listing.ts), a full page
 * completed with ListInstances where the service id is known. `signal` (the run's discovery deadline)
 * abandons the calls, the SDK's retries included.
 */
export async function discoverFromCloudMap(sd: ServiceDiscoveryClient, targets: CloudMapTarget | readonly CloudMapTarget[], logger: Logger = silentLogger, signal?: AbortSignal): Promise<Discovery> {
  const refs: readonly CloudMapTarget[] = Array.isArray(targets) ? targets : [targets as CloudMapTarget];
  let listings;
  try {
    listings = await listServices(sd, refs, { signal });
  } catch (err) {
    const failed = err instanceof CloudMapListingError ? err : undefined;
    const hint = isTimeout(failed?.cause ?? err, signal) ? NETWORK_HINT
      : failed?.operation === "ListInstances" ? "check CLOUDMAP_SERVICE_ID and that the probe's role may call servicediscovery:ListInstances"
        : "check that the namespace and service exist and that the probe's role may call servicediscovery:DiscoverInstances";
    throw new DiscoveryError(`${err instanceof Error ? err.message : String(err)}: ${hint}`, { cause: err });
  }
  let truncated = false;
  const owner = new Map<string, string>();
  for (const l of listings) {
    if (l.paged) logger.info({ service: l.ref.service, serviceId: l.ref.serviceId, listed: l.instances.length }, "DiscoverInstances page was full; listed every instance with ListInstances");
    else if (l.full) {
      truncated = true;
      logger.error({ namespace: l.ref.namespace, service: l.ref.service, listed: l.instances.length },
        "DiscoverInstances returned a full page: the service is at Cloud Map's 1,000-instance quota; set CLOUDMAP_SERVICE_ID to list it with ListInstances too");
    }
    for (const i of l.instances) {
      const id = i.InstanceId;
      if (!id) continue;
      const first = owner.get(id);
      if (first === undefined) owner.set(id, l.ref.service);
      else if (first !== l.ref.service) logger.warn({ deploymentId: id, services: [first, l.ref.service] }, "deployment registered in two shards: probed once");
    }
  }
  return {
    ids: uniqueSorted(owner.keys()),
    truncated,
    shards: listings.map((l) => ({ service: l.ref.service, instances: l.instances.length })),
  };
}

/** The deployments of a router registry file (`{"deployments":[{"id":...}]}`), the local stand-in for Cloud Map. */
export async function discoverFromFile(path: string): Promise<Discovery> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new DiscoveryError(`cannot read registry file ${path} (${errorText(err)}): pass --registry file:PATH with an existing file`, { cause: err });
  }
  try {
    return { ids: uniqueSorted(parseRegistryFile(text).map((d) => d.id)), truncated: false };
  } catch (err) {
    throw new DiscoveryError(`registry file ${path} is not valid: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
