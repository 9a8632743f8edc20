/**
 * The pixell-a2a stack: `pulumi up` deploys it, `pulumi preview` shows it on every pull request.
 * Read the config once, then build: network -> security groups -> NLB -> Cloud Map -> images ->
 * ECS service (PAR + router + Envoy) -> probe -> alarms and dashboard.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { configWarnings, loadStackConfig } from "./infra/config";
import { Network } from "./infra/network";
import { SecurityGroups } from "./infra/security-groups";
import { LoadBalancer } from "./infra/load-balancer";
import { ServiceDiscovery } from "./infra/service-discovery";
import { Images } from "./infra/images";
import { AgentService } from "./infra/agent-service";
import { Probe } from "./infra/probe";
import { probeCodeArchive } from "./infra/probe-code";
import { METRICS_NAMESPACE, Monitoring } from "./infra/monitoring";
import { CallerAuthSecrets, type RouterAuthInput } from "./infra/caller-auth";
import { REQUIRE_TLS_TAG } from "./infra/policy/policies";
import { ALLOW_ANONYMOUS_INTERNET_TAG } from "./infra/exposure";
import { A2A_PORT } from "./lib/ports";
import { probeSource, restPlacement } from "./infra/reachability";
import { ServiceAutoScaling } from "./infra/autoscaling";
import { RegistryCapacity } from "./infra/registry-capacity";
import { routerMetricDimensions } from "./infra/agent-service";
import { ROUTER_METRIC } from "./lib/router-metrics";
import { shardRegistryEntries, shardsOf } from "./infra/shards";

const config = loadStackConfig();
for (const warning of configWarnings(config)) void pulumi.log.warn(warning);
// With requireTls every resource carries pixell:requireTls=true: the policy pack's a2a-listener-tls
// policy reads it (a program cannot set Pulumi stack tags), so a preview fails if TLS goes away.
const tags: Record<string, string> = {
  project: "pixell-a2a",
  stack: pulumi.getStack(),
  ...(config.requireTls ? { [REQUIRE_TLS_TAG]: "true" } : {}),
  // The operator's explicit opt-in, for the policy pack's no-anonymous-internet-endpoint policy.
  ...(config.allowAnonymousInternet ? { [ALLOW_ANONYMOUS_INTERNET_TAG]: "true" } : {}),
};
const name = "a2a";
// The probe runs in the VPC's private subnets whatever the NLB's scheme; REST is never internet-facing
// (infra/reachability.ts, docs/decisions/0001-rest-endpoint-and-probe-network.md).
const probeInVpc = true;
const rest = restPlacement(config.internetFacing);

const network = new Network(name, { config: config.network, region: config.region, internetFacing: config.internetFacing, tags });
const probeFrom = probeSource({ internetFacing: config.internetFacing, existingVpc: config.network.vpcId !== undefined, probeEgressCidrs: config.probeEgressCidrs });
const probeEgressCidrs: pulumi.Input<string>[] = probeFrom.kind === "group"
  ? []
  : probeFrom.cidrs === "created" ? network.natPublicIps.map((ip) => pulumi.interpolate`${ip}/32`) : [...probeFrom.cidrs];

const securityGroups = new SecurityGroups(name, {
  vpcId: network.vpcId,
  allowedCidrs: config.allowedCidrs,
  restAllowedCidrs: config.restAllowedCidrs,
  agentPortFirst: config.agentPortFirst,
  agentPortLast: config.agentPortLast,
  probeInVpc,
  internetFacing: config.internetFacing,
  probeEgressCidrs,
  tags,
});

const loadBalancer = new LoadBalancer(name, {
  vpcId: network.vpcId,
  subnetIds: config.internetFacing ? network.publicSubnetIds : network.privateSubnetIds,
  securityGroupId: securityGroups.nlb.id,
  internal: !config.internetFacing,
  tlsCertificateArn: config.tlsCertificateArn,
  restOwnLoadBalancer: rest.ownLoadBalancer ? { subnetIds: network.privateSubnetIds, securityGroupId: securityGroups.rest!.id } : undefined,
  tags,
});

const discovery = new ServiceDiscovery(name, {
  vpcId: network.vpcId,
  namespace: config.cloudMapNamespace,
  service: config.cloudMapService,
  shards: config.scaling.shards,
  tags,
});
const shards = shardsOf(config.cloudMapService, config.scaling.shards);

const images = new Images(name, { repoRoot: __dirname, envoyMode: config.envoyMode, tags });

const cloudMap = {
  namespaceName: discovery.namespaceName,
  serviceName: discovery.serviceName,
  serviceId: discovery.service.id,
  serviceArn: discovery.service.arn,
  namespaceArn: discovery.namespace.arn,
  hostedZoneId: discovery.namespace.hostedZone,
};
const cloudMapShards = shards.map((shard, i) => ({ ...shard, serviceArn: discovery.services[i]!.arn }));

// Caller authentication: the secrets the router (bearer) and the probe read, created unless named in config.
// Off: nothing is declared, so an existing stack's preview shows no change.
const authSecrets = config.callerAuth.mode === "off"
  ? undefined
  : new CallerAuthSecrets(name, { auth: config.callerAuth, namePrefix: `${pulumi.getProject()}/${pulumi.getStack()}`, tags });
const routerAuth: RouterAuthInput = config.callerAuth.mode === "bearer"
  ? { mode: "bearer", tokensSecretArn: authSecrets!.routerTokensSecretArn! }
  : config.callerAuth.mode === "jwt"
    ? { mode: "jwt", jwksUrl: config.callerAuth.jwksUrl, issuer: config.callerAuth.issuer, audience: config.callerAuth.audience, allowClaim: config.callerAuth.allowClaim }
    : { mode: "off" };

const agents = new AgentService(name, {
  region: config.region,
  containers: {
    parImage: config.parImage,
    envoyMode: config.envoyMode,
    routerDrainMs: config.routerDrainMs,
    logLevel: config.logLevel,
    cloudMapNamespace: config.cloudMapNamespace,
    cloudMapService: config.cloudMapService,
    agentPortFirst: config.agentPortFirst,
    agentPortLast: config.agentPortLast,
  },
  routerAuth,
  parImageCredentials: config.parImageCredentials,
  routerImage: images.routerImageUri,
  envoyImage: images.envoyImageUri,
  cpu: config.cpu,
  memory: config.memory,
  desiredCount: config.desiredCount,
  healthCheckGracePeriodSeconds: config.healthCheckGracePeriodSeconds,
  logRetentionDays: config.logRetentionDays,
  subnetIds: network.privateSubnetIds,
  securityGroupId: securityGroups.tasks.id,
  a2aTargetGroupArn: loadBalancer.a2aTargetGroup.arn,
  restTargetGroupArn: loadBalancer.restTargetGroup.arn,
  cloudMap: { ...cloudMap, shards: cloudMapShards },
  autoScaled: config.scaling.autoScaling !== undefined,
  // The streams policy's metric; written only when that policy exists (an EMF line a minute per task).
  routerMetricsNamespace: config.scaling.autoScaling?.activeStreams === undefined ? undefined : METRICS_NAMESPACE,
  dependsOn: [loadBalancer.a2aListener, loadBalancer.restListener],
  tags,
});

// Application Auto Scaling per shard (infra/autoscaling.ts); none unless pixell-a2a:maxTasks is set.
const autoScaling = config.scaling.autoScaling;
if (autoScaling !== undefined) {
  shards.forEach((shard, i) => new ServiceAutoScaling(`${name}-scaling${shard.suffix}`, {
    clusterName: agents.cluster.name,
    serviceName: agents.services[i]!.name,
    config: autoScaling,
    streamsMetric: { namespace: METRICS_NAMESPACE, name: ROUTER_METRIC, dimensions: routerMetricDimensions(`${pulumi.getProject()}-${pulumi.getStack()}`, shard.cloudMapService) },
    tags,
  }));
}

const probe = new Probe(name, {
  code: probeCodeArchive(path.join(__dirname, ".tmp", "probe-lambda")),
  // With TLS the probe must use the name on the certificate; the NLB's own name would fail verification.
  endpoint: config.a2aDomainName !== undefined ? `${config.a2aDomainName}:${A2A_PORT}` : loadBalancer.a2aEndpoint,
  tls: config.tlsCertificateArn !== undefined,
  authTokenSecretArn: authSecrets?.probeTokenSecretArn,
  cloudMap: { ...cloudMap, shards: shards.map((shard, i) => ({ serviceName: shard.cloudMapService, serviceId: discovery.services[i]!.id, serviceArn: discovery.services[i]!.arn })) },
  metricsNamespace: METRICS_NAMESPACE,
  schedule: config.probeSchedule,
  timeoutMs: config.probeTimeoutMs,
  concurrency: config.probeConcurrency,
  lambdaTimeoutSeconds: config.probeLambdaTimeoutSeconds,
  memoryMb: config.probeMemoryMb,
  logLevel: config.logLevel,
  logRetentionDays: config.logRetentionDays,
  vpc: { subnetIds: network.privateSubnetIds, securityGroupId: securityGroups.probe!.id },
  // Every task checked directly from inside the VPC (DescribeTargetHealth lists them).
  a2aTargetGroupArn: loadBalancer.a2aTargetGroup.arn,
  platformPercent: config.alarmUnhealthyPercent,
  tags,
});

const monitoring = new Monitoring(name, {
  region: config.region,
  probeSchedule: config.probeSchedule,
  probeLambdaTimeoutSeconds: config.probeLambdaTimeoutSeconds,
  unhealthyPercent: config.alarmUnhealthyPercent,
  minDeploymentsProbed: config.alarmMinDeploymentsProbed,
  alarmEmail: config.alarmEmail,
  alarmHttpsEndpoint: config.alarmHttpsEndpoint,
  loadBalancerArnSuffix: loadBalancer.nlb.arnSuffix,
  a2aTargetGroupArnSuffix: loadBalancer.a2aTargetGroup.arnSuffix,
  restTargetGroupArnSuffix: loadBalancer.restTargetGroup.arnSuffix,
  restLoadBalancerArnSuffix: loadBalancer.restNlb.arnSuffix,
  clusterName: agents.cluster.name,
  serviceName: agents.service.name,
  probeFunctionName: probe.function.name,
  probeLogGroupName: probe.logGroup.name,
  routerLogGroupName: agents.logGroups.router.name,
  tags,
});

// How full each shard's Cloud Map service is, from the probe's RegisteredInstances (infra/registry-capacity.ts).
new RegistryCapacity(`${name}-registry`, {
  shards: shards.map((s) => s.cloudMapService),
  namespace: config.cloudMapNamespace,
  namespaceQuota: config.scaling.cloudMapNamespaceQuota,
  probeSchedule: config.probeSchedule,
  metricsNamespace: METRICS_NAMESPACE,
  alarmTopicArn: monitoring.topic.arn,
  tags,
});

export const a2aEndpoint = loadBalancer.a2aEndpoint;
/** PAR's REST API: an internal NLB, reachable from inside the VPC (and networks routed to it) only. */
export const restEndpoint = loadBalancer.restEndpoint;
export const dashboardUrl = monitoring.dashboardUrl;
export const alarmTopicArn = monitoring.topic.arn;
/** The one page for the platform and the probe (composite alarm); per-deployment alarms notify on their own. */
export const platformAlarmName = monitoring.platformAlarm.alarmName;
export const routerImageUri = images.routerImageUri;
export const envoyImageUri = images.envoyImageUri;
export const cloudMapNamespace = discovery.namespace.name;
export const cloudMapService = discovery.service.name;
export const clusterName = agents.cluster.name;
export const serviceName = agents.service.name;
/** Every shard's ECS service and Cloud Map service, shard 0 first. */
export const serviceNames = pulumi.all(agents.services.map((s) => s.name));
export const cloudMapServices = pulumi.output(discovery.serviceNames);
/** `npm run a2a -- check --registry "$(pulumi stack output registry)"` reads every shard. */
export const registry = pulumi.output(shardRegistryEntries(config.cloudMapNamespace, discovery.serviceNames));
export const probeFunctionName = probe.function.name;
export const vpcId = network.vpcId;
/** Where operators put the router's tokens document and the probe's token (callerAuth on). */
export const callerAuthTokensSecretArn = authSecrets?.routerTokensSecretArn;
export const probeAuthTokenSecretArn = authSecrets?.probeTokenSecretArn;
