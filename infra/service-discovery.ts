import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";

/**
 * Cloud Map: the private DNS namespace and the service PAR registers its agents into.
 * Custom health checks: PAR marks each agent instance healthy or not (UpdateInstanceCustomHealthStatus),
 * so the router and the probe only see agents PAR vouches for.
 */

export interface ServiceDiscoveryArgs {
  readonly vpcId: pulumi.Input<string>;
  readonly namespace: string;
  readonly service: string;
  readonly tags?: Record<string, string>;
}

export class ServiceDiscovery extends pulumi.ComponentResource {
  readonly namespace: aws.servicediscovery.PrivateDnsNamespace;
  readonly service: aws.servicediscovery.Service;
  readonly namespaceName: string;
  readonly serviceName: string;

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
    this.service = new aws.servicediscovery.Service(`${name}-agents`, {
      name: args.service,
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
    }, { parent: this });
    this.registerOutputs({ namespaceId: this.namespace.id, serviceId: this.service.id });
  }
}
