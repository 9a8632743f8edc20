import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { RouterAuthInput, RouterAuthSettings } from "./caller-auth";
import { containerDefinitions, taskVolumes, type ContainerInputs } from "./containers";
import { assumeRolePolicy, ECS_TASK_EXECUTION_POLICY_ARN, registryCredentialsPolicy, taskRolePolicy } from "./iam";
import { A2A_PORT, PAR_REST_PORT } from "../lib/ports";
import { CALLER_AUTH_TAG } from "./policy/policies";
import { desiredCountOptions } from "./autoscaling";
import { shardFamily, type Shard } from "./shards";

/**
 * The ECS side: a cluster with Container Insights, one Fargate task definition (PAR, router,
 * Envoy) and the service behind both target groups, with the deployment circuit breaker rolling
 * a failed deploy back on its own. With registry shards (infra/shards.ts) there is one task definition,
 * task role and service per shard, all in the one cluster and behind the same two target groups; each
 * shard's PAR registers into its own Cloud Map service, and every router reads all of them.
 */

/** Deployment settings: new tasks start before old ones stop; a deploy that cannot get healthy rolls back. */
export const DEPLOYMENT = {
  minimumHealthyPercent: 100,
  maximumPercent: 200,
  circuitBreaker: { enable: true, rollback: true },
} as const;

export interface AgentServiceArgs {
  readonly containers: Omit<ContainerInputs, "routerImage" | "envoyImage" | "logGroups" | "region" | "routerAuth" | "parImageCredentialsSecretArn" | "memory">;
  /** Registry credentials for a private PAR image: the execution role gets read (and decrypt) on exactly these. */
  readonly parImageCredentials?: { readonly secretArn: string; readonly kmsKeyArn?: string };
  /** Caller authentication in the router; bearer mode grants the task role read on exactly the tokens secret. */
  readonly routerAuth?: RouterAuthInput;
  readonly region: string;
  readonly routerImage: pulumi.Input<string>;
  readonly envoyImage: pulumi.Input<string>;
  readonly cpu: number;
  readonly memory: number;
  readonly desiredCount: number;
  readonly healthCheckGracePeriodSeconds: number;
  readonly logRetentionDays: number;
  readonly subnetIds: pulumi.Input<pulumi.Input<string>[]>;
  readonly securityGroupId: pulumi.Input<string>;
  readonly a2aTargetGroupArn: pulumi.Input<string>;
  readonly restTargetGroupArn: pulumi.Input<string>;
  readonly cloudMap: {
    readonly namespaceName: string;
    readonly serviceName: string;
    readonly serviceArn: pulumi.Input<string>;
    readonly namespaceArn: pulumi.Input<string>;
    readonly hostedZoneId: pulumi.Input<string>;
    /** Every shard with its Cloud Map service's ARN, shard 0 first; default: one shard on `serviceName`. */
    readonly shards?: readonly (Shard & { readonly serviceArn: pulumi.Input<string> })[];
  };
  /** Application Auto Scaling manages the services' task counts: Pulumi leaves desiredCount alone after creation. */
  readonly autoScaled?: boolean;
  /** The routers write calls in flight as an EMF metric in this namespace (the streams scaling policy reads it). */
  readonly routerMetricsNamespace?: string;
  /** Resources the service must wait for (the listeners: a target group must be attached first). */
  readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
  readonly tags?: Record<string, string>;
}

/** The dimensions of a shard's RouterActiveStreams metric: the streams scaling policy names the same. */
export function routerMetricDimensions(stackPrefix: string, cloudMapService: string): Record<string, string> {
  return { Stack: stackPrefix, Shard: cloudMapService };
}

export class AgentService extends pulumi.ComponentResource {
  readonly cluster: aws.ecs.Cluster;
  /** Shard 0's task definition and service (the only ones without shards). */
  readonly taskDefinition: aws.ecs.TaskDefinition;
  readonly service: aws.ecs.Service;
  /** Every shard's service, shard 0 first. */
  readonly services: aws.ecs.Service[];
  readonly taskDefinitions: aws.ecs.TaskDefinition[];
  readonly logGroups: { par: aws.cloudwatch.LogGroup; router: aws.cloudwatch.LogGroup; envoy: aws.cloudwatch.LogGroup };

  constructor(name: string, args: AgentServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pixell:a2a:AgentService", name, {}, opts);
    const parent = { parent: this };

    this.cluster = new aws.ecs.Cluster(`${name}-cluster`, {
      settings: [{ name: "containerInsights", value: "enabled" }],
      tags: args.tags,
    }, parent);

    const logGroup = (container: string): aws.cloudwatch.LogGroup =>
      new aws.cloudwatch.LogGroup(`${name}-${container}`, {
        name: `/ecs/${pulumi.getProject()}-${pulumi.getStack()}/${container}`,
        retentionInDays: args.logRetentionDays,
        tags: args.tags,
      }, parent);
    this.logGroups = { par: logGroup("par"), router: logGroup("router"), envoy: logGroup("envoy") };

    const executionRole = new aws.iam.Role(`${name}-execution`, {
      assumeRolePolicy: JSON.stringify(assumeRolePolicy("ecs-tasks.amazonaws.com")),
      tags: args.tags,
    }, parent);
    new aws.iam.RolePolicyAttachment(`${name}-execution`, { role: executionRole.name, policyArn: ECS_TASK_EXECUTION_POLICY_ARN }, parent);
    const credentials = args.parImageCredentials;
    const registryPolicy = credentials === undefined ? undefined : new aws.iam.RolePolicy(`${name}-execution-registry`, {
      role: executionRole.id,
      policy: JSON.stringify(registryCredentialsPolicy(credentials.secretArn, credentials.kmsKeyArn)),
    }, parent);

    const routerAuth = args.routerAuth ?? { mode: "off" };
    // The tokens secret's ARN is an Output when the stack creates the secret: resolve it once for both uses.
    const tokensSecretArn = pulumi.output(routerAuth.mode === "bearer" ? routerAuth.tokensSecretArn : "");
    const resolvedAuth = tokensSecretArn.apply((arn): RouterAuthSettings => (routerAuth.mode === "bearer" ? { mode: "bearer", tokensSecretArn: arn } : routerAuth));

    const shards = args.cloudMap.shards ?? [{ index: 0, cloudMapService: args.cloudMap.serviceName, suffix: "", serviceArn: args.cloudMap.serviceArn }];
    const everyShard = pulumi.all(shards.map((sh) => pulumi.output(sh.serviceArn)))
      .apply((arns) => shards.map((sh, i) => ({ serviceName: sh.cloudMapService, serviceArn: arns[i]! })));
    const stackPrefix = `${pulumi.getProject()}-${pulumi.getStack()}`;

    this.taskDefinitions = [];
    this.services = [];
    for (const shard of shards) {
      // Shard 0 keeps the one-shard stack's logical names: adding shards replaces nothing.
      const taskRole = new aws.iam.Role(`${name}-task${shard.suffix}`, {
        assumeRolePolicy: JSON.stringify(assumeRolePolicy("ecs-tasks.amazonaws.com")),
        tags: args.tags,
      }, parent);
      // PAR registers into its own shard's service only; the router discovers every shard.
      const taskPolicy = new aws.iam.RolePolicy(`${name}-task${shard.suffix}`, {
        role: taskRole.id,
        policy: pulumi.all([shard.serviceArn, args.cloudMap.namespaceArn, args.cloudMap.hostedZoneId, resolvedAuth, everyShard]).apply(([serviceArn, namespaceArn, hostedZoneId, auth, discover]) =>
          JSON.stringify(taskRolePolicy(
            { namespaceName: args.cloudMap.namespaceName, serviceName: shard.cloudMapService, serviceArn, namespaceArn, hostedZoneId, discover },
            auth.mode === "bearer" ? auth.tokensSecretArn : undefined,
          ))),
      }, parent);

      const routerMetrics = args.routerMetricsNamespace === undefined ? undefined
        : { namespace: args.routerMetricsNamespace, dimensions: routerMetricDimensions(stackPrefix, shard.cloudMapService) };
      const definitions = pulumi
        .all([args.routerImage, args.envoyImage, this.logGroups.par.name, this.logGroups.router.name, this.logGroups.envoy.name, resolvedAuth])
        .apply(([routerImage, envoyImage, par, router, envoy, auth]) =>
          JSON.stringify(containerDefinitions({
            ...args.containers, cloudMapService: shard.cloudMapService, cloudMapShards: shards.map((sh) => sh.cloudMapService), routerMetrics,
            memory: args.memory, region: args.region, routerImage, envoyImage, logGroups: { par, router, envoy }, routerAuth: auth, parImageCredentialsSecretArn: credentials?.secretArn,
          })));

      const taskDefinition = new aws.ecs.TaskDefinition(`${name}-task${shard.suffix}`, {
        family: shardFamily(stackPrefix, shard),
        cpu: String(args.cpu),
        memory: String(args.memory),
        networkMode: "awsvpc",
        requiresCompatibilities: ["FARGATE"],
        runtimePlatform: { operatingSystemFamily: "LINUX", cpuArchitecture: "X86_64" },
        executionRoleArn: executionRole.arn,
        taskRoleArn: taskRole.arn,
        containerDefinitions: definitions,
        // The Unix sockets' volumes (infra/containers.ts): which containers mount each is the trust boundary.
        volumes: taskVolumes(args.containers.envoyMode),
        // The router's caller-auth mode, readable by the policy pack while containerDefinitions is
        // still unknown in a preview (it waits for the images' digests).
        tags: { ...args.tags, [CALLER_AUTH_TAG]: routerAuth.mode },
      }, parent);

      const service = new aws.ecs.Service(`${name}-service${shard.suffix}`, {
        cluster: this.cluster.arn,
        taskDefinition: taskDefinition.arn,
        launchType: "FARGATE",
        desiredCount: args.desiredCount,
        networkConfiguration: { subnets: args.subnetIds, securityGroups: [args.securityGroupId], assignPublicIp: false },
        // Every shard behind the same target groups: a call or a deploy may land on any task of any shard.
        loadBalancers: [
          { targetGroupArn: args.a2aTargetGroupArn, containerName: "envoy", containerPort: A2A_PORT },
          { targetGroupArn: args.restTargetGroupArn, containerName: "par", containerPort: PAR_REST_PORT },
        ],
        // ECS ignores failing NLB checks this long after a task starts: PAR's start period (60 s), the
        // router's first passing check, then two passing NLB checks 10 s apart: 120 s by default.
        healthCheckGracePeriodSeconds: args.healthCheckGracePeriodSeconds,
        deploymentCircuitBreaker: DEPLOYMENT.circuitBreaker,
        deploymentMinimumHealthyPercent: DEPLOYMENT.minimumHealthyPercent,
        deploymentMaximumPercent: DEPLOYMENT.maximumPercent,
        // `pulumi up` fails (after the circuit breaker has rolled back) instead of reporting success early.
        waitForSteadyState: true,
        propagateTags: "SERVICE",
        tags: args.tags,
      }, {
        parent: this,
        // the role's permissions first: a router that cannot read its tokens exits
        dependsOn: [...(args.dependsOn ?? []), taskPolicy, ...(registryPolicy === undefined ? [] : [registryPolicy])],
        ...desiredCountOptions(args.autoScaled ?? false),
      });
      this.taskDefinitions.push(taskDefinition);
      this.services.push(service);
    }
    this.taskDefinition = this.taskDefinitions[0]!;
    this.service = this.services[0]!;

    this.registerOutputs({ clusterName: this.cluster.name, serviceName: this.service.name, serviceNames: this.services.map((x) => x.name) });
  }
}
