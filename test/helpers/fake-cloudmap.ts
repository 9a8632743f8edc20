/**
 * A local Cloud Map endpoint over AWS JSON 1.1 (`Route53AutoNaming_v20170314.*`):
 * DiscoverInstances, DiscoverInstancesRevision and the paginated ListInstances, served
 * from a mutable instance list, requests counted per operation. Used by the probe's
 * tests and reusable by the router's Cloud Map source.
 */
import { ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import { FAKE_AWS_CLIENT_CONFIG, startFakeAwsJsonServer, type FakeAwsError, type FakeAwsServer } from "../../fixtures/fake-aws";

export interface FakeInstance {
  readonly id: string;
  readonly ipv4: string;
  readonly port: number;
  readonly health?: "HEALTHY" | "UNHEALTHY" | "UNKNOWN";
  /** Extra attributes beside AWS_INSTANCE_IPV4 / AWS_INSTANCE_PORT. */
  readonly attributes?: Record<string, string>;
}

export interface FakeCloudMap extends FakeAwsServer {
  readonly namespace: string;
  readonly service: string;
  readonly serviceId: string;
  /** Current instances; change with `setInstances` (bumps the revision). */
  instances(): readonly FakeInstance[];
  setInstances(instances: readonly FakeInstance[]): void;
  readonly revision: number;
  /** A real SDK client pointed here (host prefix off: the `data-` prefix cannot go on 127.0.0.1). */
  client(maxAttempts?: number): ServiceDiscoveryClient;
}

export const CLOUDMAP_THROTTLING: FakeAwsError = { status: 400, type: "RequestLimitExceeded", message: "The operation can't be completed because you've reached the quota for the number of requests." };

export interface FakeCloudMapOptions {
  readonly namespace?: string;
  readonly service?: string;
  readonly serviceId?: string;
  readonly instances?: readonly FakeInstance[];
}

export async function startFakeCloudMap(opts: FakeCloudMapOptions = {}): Promise<FakeCloudMap> {
  const namespace = opts.namespace ?? "pixell-runtime.local";
  const service = opts.service ?? "agents";
  const serviceId = opts.serviceId ?? "srv-fake0000000000001";
  let instances: readonly FakeInstance[] = opts.instances ?? [];
  let revision = 1;

  const attributes = (i: FakeInstance): Record<string, string> => ({ AWS_INSTANCE_IPV4: i.ipv4, AWS_INSTANCE_PORT: String(i.port), ...i.attributes });
  const wrongService = (body: Record<string, unknown>): FakeAwsError | undefined => {
    if (body.NamespaceName !== namespace) return { status: 400, type: "NamespaceNotFound", message: `Namespace ${String(body.NamespaceName)} not found.` };
    if (body.ServiceName !== service) return { status: 400, type: "ServiceNotFound", message: `Service ${String(body.ServiceName)} not found.` };
    return undefined;
  };
  const maxResults = (body: Record<string, unknown>, max: number): number | FakeAwsError => {
    const n = body.MaxResults === undefined ? 100 : Number(body.MaxResults);
    if (!Number.isInteger(n) || n < 1 || n > max) return { status: 400, type: "InvalidInput", message: `MaxResults must be 1-${max}` };
    return n;
  };

  const server = await startFakeAwsJsonServer("application/x-amz-json-1.1", (operation, body) => {
    switch (operation) {
      case "DiscoverInstances": {
        const bad = wrongService(body);
        if (bad) return { error: bad };
        const max = maxResults(body, 1000);
        if (typeof max !== "number") return { error: max };
        const filter = String(body.HealthStatus ?? "HEALTHY");
        const healthy = instances.filter((i) => (i.health ?? "HEALTHY") === "HEALTHY");
        const selected = filter === "ALL" ? instances
          : filter === "UNHEALTHY" ? instances.filter((i) => i.health === "UNHEALTHY")
          : filter === "HEALTHY_OR_ELSE_ALL" ? (healthy.length > 0 ? healthy : instances)
          : healthy;
        return {
          body: {
            Instances: selected.slice(0, max).map((i) => ({ InstanceId: i.id, NamespaceName: namespace, ServiceName: service, HealthStatus: i.health ?? "HEALTHY", Attributes: attributes(i) })),
            InstancesRevision: revision,
          },
        };
      }
      case "DiscoverInstancesRevision": {
        const bad = wrongService(body);
        return bad ? { error: bad } : { body: { InstancesRevision: revision } };
      }
      case "ListInstances": {
        if (body.ServiceId !== serviceId) return { error: { status: 400, type: "ServiceNotFound", message: `Service ${String(body.ServiceId)} not found.` } };
        const max = maxResults(body, 100);
        if (typeof max !== "number") return { error: max };
        const from = body.NextToken === undefined ? 0 : Number(body.NextToken);
        const page = instances.slice(from, from + max);
        const next = from + max < instances.length ? String(from + max) : undefined;
        return { body: { Instances: page.map((i) => ({ Id: i.id, Attributes: attributes(i) })), ...(next ? { NextToken: next } : {}) } };
      }
      default:
        return { error: { status: 400, type: "UnknownOperationException", message: `fake Cloud Map does not serve ${operation}` } };
    }
  });

  return {
    ...server,
    namespace,
    service,
    serviceId,
    instances: () => instances,
    setInstances: (next) => { instances = [...next]; revision++; },
    get revision() { return revision; },
    client: (maxAttempts = 1) => new ServiceDiscoveryClient({ ...FAKE_AWS_CLIENT_CONFIG, endpoint: server.url, maxAttempts, disableHostPrefix: true }),
  };
}
