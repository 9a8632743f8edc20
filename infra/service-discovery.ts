import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { shardsOf } from "./shards";

/**
 * Cloud Map: the private DNS namespace and the service PAR registers its agents into.
 * Custom health checks: PAR marks each agent instance healthy or not (UpdateInstanceCustomHealthStatus),
 * so the router and the probe only see agents PAR vouches for.
 * One service per registry shard (infra/shards.ts): `agents`, `agents-1`, ... in the one namespace.
 */

export interface ServiceDiscoveryArgs {
  readonly vpcId: pulumi.Input<string>;
  readonly namespace: string;
  readonly service: string;
  /** Registry shards (default 1): one Cloud Map service each. */
  readonly shards?: number;
  readonly tags?: Record<string, string>;
}

export class ServiceDiscovery extends pulumi.ComponentResource {
  readonly namespace: aws.servicediscovery.PrivateDnsNamespace;
  /** Shard 0's service (the only one without shards). */
  readonly service: aws.servicediscovery.Service;
  /** Every shard's service, shard 0 first. */
  readonly services: aws.servicediscovery.Service[];
  readonly namespaceName: string;
  readonly serviceName: string;
  /** Every shard's service name, shard 0 first. */
  readonly serviceNames: string[];

  constructor(name: string, args: ServiceDiscoveryArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pixell:a2a:ServiceDiscovery", name, {}, opts);
    this.namespaceName = args.namespace;
    this.serviceName = args.service;
    this.namespace = new aws.servicediscovery.PrivateDnsNamespace(`${name}-ns`, {
      name: args.namespace,
      vpc: args.vpcId,
      description: "Pixell Agent Runtime: agents' gRPC endpoints",
      tags: args.tags,
    }, { parent: this });
    const shards = shardsOf(args.service, args.shards ?? 1);
    this.serviceNames = shards.map((s) => s.cloudMapService);
    this.services = shards.map((shard) => new aws.servicediscovery.Service(`${name}-agents${shard.suffix}`, {
      name: shard.cloudMapService,
      namespaceId: this.namespace.id,
      // SRV records carry each agent's port (agents share the task's IP on different ports).
      dnsConfig: {
        namespaceId: this.namespace.id,
        routingPolicy: "MULTIVALUE",
        dnsRecords: [{ type: "SRV", ttl: 10 }],
      },
      healthCheckCustomConfig: {},
      // Agents come and go with PAR; deleting the service must not be blocked by leftover instances.
      forceDestroy: true,
      tags: args.tags,
    }, { parent: this }));
    this.service = this.services[0]!;
    this.registerOutputs({ namespaceId: this.namespace.id, serviceId: this.service.id, serviceIds: this.services.map((s) => s.id) });
  }
}
