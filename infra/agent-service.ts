import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { RouterAuthInput, RouterAuthSettings } from "./caller-auth";
import { containerDefinitions, taskVolumes, type ContainerInputs } from "./containers";
import { assumeRolePolicy, ECS_TASK_EXECUTION_POLICY_ARN, registryCredentialsPolicy, taskRolePolicy } from "./iam";
import { A2A_PORT, PAR_REST_PORT } from "../lib/ports";
import { CALLER_AUTH_TAG } from "./policy/policies";

/**
 * The ECS side: a cluster with Container Insights, one Fargate task definition (PAR, router,
 * Envoy) and the service behind both target groups, with the deployment circuit breaker rolling
 * a failed deploy back on its own.
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
  };
  /** Resources the service must wait for (the listeners: a target group must be attached first). */
  readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
  readonly tags?: Record<string, string>;
}

export class AgentService extends pulumi.ComponentResource {
  readonly cluster: aws.ecs.Cluster;
  readonly taskDefinition: aws.ecs.TaskDefinition;
  readonly service: aws.ecs.Service;
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

    const taskRole = new aws.iam.Role(`${name}-task`, {
      assumeRolePolicy: JSON.stringify(assumeRolePolicy("ecs-tasks.amazonaws.com")),
      tags: args.tags,
    }, parent);
    const taskPolicy = new aws.iam.RolePolicy(`${name}-task`, {
      role: taskRole.id,
      policy: pulumi.all([args.cloudMap.serviceArn, args.cloudMap.namespaceArn, args.cloudMap.hostedZoneId, resolvedAuth]).apply(([serviceArn, namespaceArn, hostedZoneId, auth]) =>
        JSON.stringify(taskRolePolicy(
          { namespaceName: args.cloudMap.namespaceName, serviceName: args.cloudMap.serviceName, serviceArn, namespaceArn, hostedZoneId },
          auth.mode === "bearer" ? auth.tokensSecretArn : undefined,
        ))),
    }, parent);

    const definitions = pulumi
      .all([args.routerImage, args.envoyImage, this.logGroups.par.name, this.logGroups.router.name, this.logGroups.envoy.name, resolvedAuth])
      .apply(([routerImage, envoyImage, par, router, envoy, auth]) =>
        JSON.stringify(containerDefinitions({ ...args.containers, memory: args.memory, region: args.region, routerImage, envoyImage, logGroups: { par, router, envoy }, routerAuth: auth, parImageCredentialsSecretArn: credentials?.secretArn })));

    this.taskDefinition = new aws.ecs.TaskDefinition(`${name}-task`, {
      family: `${pulumi.getProject()}-${pulumi.getStack()}`,
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

    this.service = new aws.ecs.Service(`${name}-service`, {
      cluster: this.cluster.arn,
      taskDefinition: this.taskDefinition.arn,
      launchType: "FARGATE",
      desiredCount: args.desiredCount,
      networkConfiguration: { subnets: args.subnetIds, securityGroups: [args.securityGroupId], assignPublicIp: false },
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
    }, { parent: this, dependsOn: [...(args.dependsOn ?? []), taskPolicy, ...(registryPolicy === undefined ? [] : [registryPolicy])] }); // the role's permissions first: a router that cannot read its tokens exits


    this.registerOutputs({ clusterName: this.cluster.name, serviceName: this.service.name });
  }
}
