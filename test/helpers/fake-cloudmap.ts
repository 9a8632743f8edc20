/**
 * A local stand-in for Cloud Map's data plane (DiscoverInstances, DiscoverInstancesRevision)
 * speaking the AWS JSON 1.1 protocol, so tests drive the real @aws-sdk/client-servicediscovery.
 * The instance list is mutable; like Cloud Map, registering or deregistering an instance bumps
 * the revision and a health change does not.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";

export type FakeHealth = "HEALTHY" | "UNHEALTHY" | "UNKNOWN";

export interface FakeInstance {
  readonly namespace: string;
  readonly service: string;
  readonly id: string;
  readonly attributes: Record<string, string>;
  health: FakeHealth;
}

export type CloudMapOperation = "DiscoverInstances" | "DiscoverInstancesRevision";

export interface FakeCloudMap {
  readonly endpoint: string;
  readonly instances: FakeInstance[];
  /** Requests received, by operation. */
  readonly requests: Record<CloudMapOperation, number>;
  /** The request bodies received, newest last. */
  readonly bodies: Array<{ operation: string; body: Record<string, unknown> }>;
  revision: number;
  /** When set, every request is answered with this HTTP status and a ServiceUnavailable error. */
  failWith: number | undefined;
  /** Adds (or replaces) an instance with the given address and bumps the revision. */
  register(namespace: string, service: string, id: string, ip: string, port: number | string, health?: FakeHealth): void;
  /** Removes an instance and bumps the revision. */
  deregister(id: string): void;
  /** A real SDK client pointed at this server (no retries, dummy credentials). */
  client(): ServiceDiscoveryClient;
  close(): Promise<void>;
}

const TARGET_PREFIX = "Route53AutoNaming_v20170314.";

export async function startFakeCloudMap(): Promise<FakeCloudMap> {
  const clients: ServiceDiscoveryClient[] = [];
  const fake: Omit<FakeCloudMap, "endpoint" | "close"> = {
    instances: [],
    requests: { DiscoverInstances: 0, DiscoverInstancesRevision: 0 },
    bodies: [],
    revision: 1,
    failWith: undefined,
    register(namespace, service, id, ip, port, health = "HEALTHY") {
      const i = this.instances.findIndex((x) => x.id === id && x.namespace === namespace && x.service === service);
      const inst: FakeInstance = { namespace, service, id, attributes: { AWS_INSTANCE_IPV4: ip, AWS_INSTANCE_PORT: String(port) }, health };
      if (i >= 0) this.instances[i] = inst;
      else this.instances.push(inst);
      this.revision++;
    },
    deregister(id) {
      const i = this.instances.findIndex((x) => x.id === id);
      if (i >= 0) this.instances.splice(i, 1);
      this.revision++;
    },
    client() {
      const c = new ServiceDiscoveryClient({
        region: "us-east-1",
        endpoint: server.endpoint,
        // The real operations prepend "data-" to the host name; a loopback address has none to prefix.
        disableHostPrefix: true,
        credentials: { accessKeyId: "AKIDTEST", secretAccessKey: "test-secret" },
        maxAttempts: 1,
      });
      clients.push(c);
      return c;
    },
  };

  const reply = (res: http.ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/x-amz-json-1.1", "content-length": Buffer.byteLength(text) });
    res.end(text);
  };

  const httpServer = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const target = String(req.headers["x-amz-target"] ?? "");
      const operation = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : target;
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Record<string, unknown>;
      } catch {
        reply(res, 400, { __type: "SerializationException", message: "body is not JSON" });
        return;
      }
      fake.bodies.push({ operation, body });
      if (operation === "DiscoverInstances" || operation === "DiscoverInstancesRevision") fake.requests[operation]++;
      if (fake.failWith !== undefined) {
        reply(res, fake.failWith, { __type: "ServiceUnavailableException", message: "fake Cloud Map is down" });
        return;
      }
      const ns = body.NamespaceName;
      const svc = body.ServiceName;
      const matching = fake.instances.filter((x) => x.namespace === ns && x.service === svc);
      if (operation === "DiscoverInstancesRevision") {
        reply(res, 200, { InstancesRevision: fake.revision });
      } else if (operation === "DiscoverInstances") {
        const filter = (body.HealthStatus as string | undefined) ?? "HEALTHY";
        let selected = filter === "ALL" ? matching : matching.filter((x) => x.health === filter);
        if (filter === "HEALTHY_OR_ELSE_ALL") {
          const healthy = matching.filter((x) => x.health === "HEALTHY");
          selected = healthy.length > 0 ? healthy : matching;
        }
        const max = typeof body.MaxResults === "number" ? body.MaxResults : 100;
        reply(res, 200, {
          Instances: selected.slice(0, max).map((x) => ({
            InstanceId: x.id, NamespaceName: x.namespace, ServiceName: x.service, HealthStatus: x.health, Attributes: x.attributes,
          })),
          InstancesRevision: fake.revision,
        });
      } else {
        reply(res, 400, { __type: "UnknownOperationException", message: `unknown operation ${target}` });
      }
    });
  });

  await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  const server = Object.assign(fake, {
    endpoint: `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`,
    close: async () => {
      for (const c of clients) c.destroy();
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    },
  });
  return server;
}
