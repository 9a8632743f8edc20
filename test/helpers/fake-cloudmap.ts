/**
 * A local Cloud Map endpoint over AWS JSON 1.1 (`Route53AutoNaming_v20170314.*`):
 * DiscoverInstances, DiscoverInstancesRevision and the paginated ListInstances, served
 * from mutable instance lists, one per service of one namespace (shards), requests counted
 * per operation. Used by the probe's, the router's and the CLI's tests and by bench/shards.ts.
 *
 * Faithful to AWS where a test could otherwise pass against a kinder model:
 * - DiscoverInstances takes MaxResults 1-1000 (default 100) and has no NextToken; it "returns a
 *   randomized list of instances" (https://docs.aws.amazon.com/cloud-map/latest/api/API_DiscoverInstances.html),
 *   so the order differs between calls and a page smaller than the service is a random subset.
 * - ListInstances pages with MaxResults 1-100 and NextToken (API_ListInstances.html).
 * - Quotas (https://docs.aws.amazon.com/cloud-map/latest/dg/cloud-map-limits.html): 1,000 instances per
 *   service, not adjustable; 2,000 per namespace, adjustable (`instancesPerNamespace` plays the raised
 *   quota). `setInstances` refuses more, as RegisterInstance would (ResourceLimitExceeded).
 *   `quotas: false` lifts both, for code paths that only matter if AWS ever raised the service quota.
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

/** Cloud Map's documented defaults (cloud-map-limits.html). */
export const CLOUDMAP_QUOTAS = { instancesPerService: 1000, instancesPerNamespace: 2000 } as const;

export interface FakeService {
  readonly name: string;
  readonly id: string;
  readonly revision: number;
  instances(): readonly FakeInstance[];
}

export interface FakeCloudMap extends FakeAwsServer {
  readonly namespace: string;
  /** The first service's name and id (the only one unless `services` was given). */
  readonly service: string;
  readonly serviceId: string;
  /** Every service, in the order given. */
  readonly services: readonly FakeService[];
  /** Current instances of a service (default: the first); change with `setInstances` (bumps its revision). */
  instances(service?: string): readonly FakeInstance[];
  /** Replaces a service's instances (default: the first). Throws as RegisterInstance would past a quota. */
  setInstances(instances: readonly FakeInstance[], service?: string): void;
  /** The first service's InstancesRevision. */
  readonly revision: number;
  revisionOf(service: string): number;
  /** A real SDK client pointed here (host prefix off: the `data-` prefix cannot go on 127.0.0.1). */
  client(maxAttempts?: number): ServiceDiscoveryClient;
}

export const CLOUDMAP_THROTTLING: FakeAwsError = { status: 400, type: "RequestLimitExceeded", message: "The operation can't be completed because you've reached the quota for the number of requests." };

export interface FakeCloudMapOptions {
  readonly namespace?: string;
  /** One service (the default `agents`). */
  readonly service?: string;
  readonly serviceId?: string;
  readonly instances?: readonly FakeInstance[];
  /** Several services (shards) instead of `service`/`serviceId`/`instances`. */
  readonly services?: readonly { readonly name: string; readonly id?: string; readonly instances?: readonly FakeInstance[] }[];
  /** The namespace's instance quota, as raised by a Service Quotas request (default 2,000). */
  readonly instancesPerNamespace?: number;
  /** false: no quota at all (default true). */
  readonly quotas?: boolean;
}

interface ServiceState { name: string; id: string; instances: readonly FakeInstance[]; revision: number }

/** Fisher-Yates: DiscoverInstances answers in a random order. */
function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export async function startFakeCloudMap(opts: FakeCloudMapOptions = {}): Promise<FakeCloudMap> {
  const namespace = opts.namespace ?? "pixell-runtime.local";
  const quotas = opts.quotas ?? true;
  const perNamespace = opts.instancesPerNamespace ?? CLOUDMAP_QUOTAS.instancesPerNamespace;
  const specs = opts.services ?? [{ name: opts.service ?? "agents", id: opts.serviceId ?? "srv-fake0000000000001", instances: opts.instances ?? [] }];
  if (specs.length === 0) throw new Error("fake Cloud Map needs at least one service");
  const services: ServiceState[] = specs.map((s, i) => ({ name: s.name, id: s.id ?? `srv-fake${String(i + 1).padStart(13, "0")}`, instances: [], revision: 1 }));
  const byName = new Map(services.map((s) => [s.name, s]));
  const named = (service: string | undefined): ServiceState => {
    const s = service === undefined ? services[0]! : byName.get(service);
    if (!s) throw new Error(`fake Cloud Map has no service ${service}`);
    return s;
  };
  const setInstances = (next: readonly FakeInstance[], service?: string): void => {
    const s = named(service);
    if (quotas) {
      if (next.length > CLOUDMAP_QUOTAS.instancesPerService) {
        throw new Error(`ResourceLimitExceeded: service ${s.name} would hold ${next.length} instances; Cloud Map allows ${CLOUDMAP_QUOTAS.instancesPerService} per service (not adjustable)`);
      }
      const total = services.reduce((sum, o) => sum + (o === s ? next.length : o.instances.length), 0);
      if (total > perNamespace) throw new Error(`ResourceLimitExceeded: namespace ${namespace} would hold ${total} instances; its quota is ${perNamespace}`);
    }
    s.instances = [...next];
    s.revision++;
  };
  for (const [i, spec] of specs.entries()) {
    if (spec.instances && spec.instances.length > 0) {
      setInstances(spec.instances, services[i]!.name);
      services[i]!.revision = 1;
    }
  }

  const attributes = (i: FakeInstance): Record<string, string> => ({ AWS_INSTANCE_IPV4: i.ipv4, AWS_INSTANCE_PORT: String(i.port), ...i.attributes });
  const serviceOf = (body: Record<string, unknown>): ServiceState | FakeAwsError => {
    if (body.NamespaceName !== namespace) return { status: 400, type: "NamespaceNotFound", message: `Namespace ${String(body.NamespaceName)} not found.` };
    const s = byName.get(String(body.ServiceName));
    return s ?? { status: 400, type: "ServiceNotFound", message: `Service ${String(body.ServiceName)} not found.` };
  };
  const maxResults = (body: Record<string, unknown>, max: number): number | FakeAwsError => {
    const n = body.MaxResults === undefined ? 100 : Number(body.MaxResults);
    if (!Number.isInteger(n) || n < 1 || n > max) return { status: 400, type: "InvalidInput", message: `MaxResults must be 1-${max}` };
    return n;
  };

  const server = await startFakeAwsJsonServer("application/x-amz-json-1.1", (operation, body) => {
    switch (operation) {
      case "DiscoverInstances": {
        const s = serviceOf(body);
        if ("status" in s) return { error: s };
        if (body.NextToken !== undefined) return { error: { status: 400, type: "SerializationException", message: "DiscoverInstances has no NextToken member" } };
        const max = maxResults(body, 1000);
        if (typeof max !== "number") return { error: max };
        const filter = String(body.HealthStatus ?? "HEALTHY");
        const healthy = s.instances.filter((i) => (i.health ?? "HEALTHY") === "HEALTHY");
        const selected = filter === "ALL" ? s.instances
          : filter === "UNHEALTHY" ? s.instances.filter((i) => i.health === "UNHEALTHY")
          : filter === "HEALTHY_OR_ELSE_ALL" ? (healthy.length > 0 ? healthy : s.instances)
          : healthy;
        return {
          body: {
            Instances: shuffled(selected).slice(0, max).map((i) => ({ InstanceId: i.id, NamespaceName: namespace, ServiceName: s.name, HealthStatus: i.health ?? "HEALTHY", Attributes: attributes(i) })),
            InstancesRevision: s.revision,
          },
        };
      }
      case "DiscoverInstancesRevision": {
        const s = serviceOf(body);
        return "status" in s ? { error: s } : { body: { InstancesRevision: s.revision } };
      }
      case "ListInstances": {
        const s = services.find((x) => x.id === body.ServiceId);
        if (!s) return { error: { status: 400, type: "ServiceNotFound", message: `Service ${String(body.ServiceId)} not found.` } };
        const max = maxResults(body, 100);
        if (typeof max !== "number") return { error: max };
        const from = body.NextToken === undefined ? 0 : Number(body.NextToken);
        const page = s.instances.slice(from, from + max);
        const next = from + max < s.instances.length ? String(from + max) : undefined;
        return { body: { Instances: page.map((i) => ({ Id: i.id, Attributes: attributes(i) })), ...(next ? { NextToken: next } : {}) } };
      }
      default:
        return { error: { status: 400, type: "UnknownOperationException", message: `fake Cloud Map does not serve ${operation}` } };
    }
  });

  const views: FakeService[] = services.map((s) => ({
    name: s.name,
    id: s.id,
    get revision() { return s.revision; },
    instances: () => s.instances,
  }));
  return {
    ...server,
    namespace,
    service: services[0]!.name,
    serviceId: services[0]!.id,
    services: views,
    instances: (service) => named(service).instances,
    setInstances,
    get revision() { return services[0]!.revision; },
    revisionOf: (service) => named(service).revision,
    client: (maxAttempts = 1) => new ServiceDiscoveryClient({ ...FAKE_AWS_CLIENT_CONFIG, endpoint: server.url, maxAttempts, disableHostPrefix: true }),
  };
}
