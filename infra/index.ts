/**
 * The Pulumi stack's building blocks (the root index.ts assembles them). Each component has its
 * decisions as pure exported functions next to it, tested without Pulumi.
 */
export { loadStackConfig, parseStackConfig, configWarnings, ConfigError, type StackConfig, type CallerAuthConfig } from "./config";
export { CallerAuthSecrets, routerAuthEnvironment } from "./caller-auth";
export { Network, planSubnets } from "./network";
export { SecurityGroups, securityGroupRules } from "./security-groups";
export { LoadBalancer, a2aListenerSpec, a2aTargetGroupSpec, restTargetGroupSpec } from "./load-balancer";
export { ServiceDiscovery } from "./service-discovery";
export { Images, imageBuildSpecs } from "./images";
export { AgentService } from "./agent-service";
export { containerDefinitions } from "./containers";
export { assumeRolePolicy, taskRolePolicy, probeRolePolicy, readSecretStatement } from "./iam";
export { Probe, probeEnvironment } from "./probe";
export { probeCodeArchive } from "./probe-code";
export { Monitoring, METRICS_NAMESPACE } from "./monitoring";
export { alarmPlan, contributorWindow } from "./alarm-plan";
export { dashboardBody, dashboardUrl } from "./dashboard";
export { monthlyCost, previousDesignMetricsCost } from "./cost";
export { bundleRouter } from "./bundle-router";
