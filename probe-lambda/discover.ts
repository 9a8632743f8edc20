/**
 * Step 1 of a run: the ids of every registered deployment, from Cloud Map in AWS
 * (PAR's contract: the instance id is the deployment id) or from the router's
 * registry file locally. Clients come in as parameters.
 */
import { readFile } from "node:fs/promises";
import {
  DiscoverInstancesCommand,
  paginateListInstances,
  type ServiceDiscoveryClient,
} from "@aws-sdk/client-servicediscovery";
import { parseRegistryFile } from "../registry/file";
import { silentLogger, type Logger } from "../lib/log";
import { isTimeout } from "./budget";

/** DiscoverInstances has no NextToken: this is the most one call returns (the API's maximum MaxResults). */
export const DISCOVER_MAX_RESULTS = 1000;

/** Listing the deployments failed; the run emits DiscoveryErrors = 1 and the invocation fails. */
export class DiscoveryError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DiscoveryError";
  }
}

export interface CloudMapTarget {
  readonly namespace: string;
  readonly service: string;
  /** When set, a full DiscoverInstances page is completed with the paginated ListInstances on this service. */
  readonly serviceId?: string | undefined;
}

export interface Discovery {
  /** Unique deployment ids, sorted. */
  readonly ids: string[];
  /** True when more deployments may exist than were listed (a full page and no way to page further). */
  readonly truncated: boolean;
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
 * Every instance of the Cloud Map service, whatever its health (an agent Cloud Map thinks
 * unhealthy is exactly the one to probe). DiscoverInstances returns at most 1000 instances
 * and cannot page; a full page falls back to ListInstances when the service id is known.
 * `signal` (the run's discovery deadline) abandons the calls, the SDK's retries included.
 */
export async function discoverFromCloudMap(sd: ServiceDiscoveryClient, target: CloudMapTarget, logger: Logger = silentLogger, signal?: AbortSignal): Promise<Discovery> {
  const where = `Cloud Map service ${target.namespace}/${target.service}`;
  const sendOptions = signal ? { abortSignal: signal } : {};
  let instanceIds: string[];
  try {
    const res = await sd.send(new DiscoverInstancesCommand({
      NamespaceName: target.namespace,
      ServiceName: target.service,
      HealthStatus: "ALL",
      MaxResults: DISCOVER_MAX_RESULTS,
    }), sendOptions);
    instanceIds = (res.Instances ?? []).flatMap((i) => (i.InstanceId ? [i.InstanceId] : []));
  } catch (err) {
    const hint = isTimeout(err, signal) ? NETWORK_HINT : "check that the namespace and service exist and that the probe's role may call servicediscovery:DiscoverInstances";
    throw new DiscoveryError(`DiscoverInstances on ${where} failed (${errorText(err)}): ${hint}`, { cause: err });
  }
  if (instanceIds.length < DISCOVER_MAX_RESULTS) return { ids: uniqueSorted(instanceIds), truncated: false };

  if (!target.serviceId) {
    logger.error({ namespace: target.namespace, service: target.service, listed: instanceIds.length },
      "DiscoverInstances returned a full page: deployments beyond it are not probed; set CLOUDMAP_SERVICE_ID to list them all with ListInstances");
    return { ids: uniqueSorted(instanceIds), truncated: true };
  }
  try {
    const all: string[] = [];
    for await (const page of paginateListInstances({ client: sd, pageSize: 100 }, { ServiceId: target.serviceId }, sendOptions)) {
      for (const i of page.Instances ?? []) if (i.Id) all.push(i.Id);
    }
    logger.info({ serviceId: target.serviceId, listed: all.length }, "DiscoverInstances page was full; listed every instance with ListInstances");
    return { ids: uniqueSorted(all), truncated: false };
  } catch (err) {
    const hint = isTimeout(err, signal) ? NETWORK_HINT : "check CLOUDMAP_SERVICE_ID and that the probe's role may call servicediscovery:ListInstances";
    throw new DiscoveryError(`ListInstances on ${where} (service id ${target.serviceId}) failed (${errorText(err)}): ${hint}`, { cause: err });
  }
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
