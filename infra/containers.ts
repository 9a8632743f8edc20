import type * as aws from "@pulumi/aws";
import type { RouterAuthSettings } from "./caller-auth";
import { routerAuthEnvironment } from "./caller-auth";
import type { EnvoyMode } from "./config";
import { bootstrapOverride, ENVOY_NOFILE_LIMIT, overloadPlan } from "../envoy/overload";
import { A2A_PORT, ENVOY_ADMIN_SOCKET_DIR, ENVOY_READY_PORT, PAR_REST_PORT, ROUTER_ADMIN_PORT, ROUTER_PORT, XDS_SOCKET, XDS_SOCKET_DIR } from "../lib/ports";
import { checkedShutdownPlan, envoyStopTimeoutSeconds, routerStopTimeoutSeconds } from "../lib/shutdown";
import { shardRegistryEntries } from "./shards";
import { ENVOY_ENV, PAR_ENV, ROUTER_ENV as R, type EnvVar, type RouterEnvName } from "../lib/env-contract";

export { routerStopTimeoutSeconds } from "../lib/shutdown";

/**
 * The task's three containers as a pure function of their inputs (serialised to the task
 * definition's `containerDefinitions` JSON). Start order: PAR healthy -> router healthy -> Envoy,
 * so Envoy never accepts A2A traffic it cannot route.
 */

export interface ContainerInputs {
  readonly region: string;
  readonly parImage: string;
  readonly routerImage: string;
  readonly envoyImage: string;
  readonly logGroups: { readonly par: string; readonly router: string; readonly envoy: string };
  readonly envoyMode: EnvoyMode;
  readonly routerDrainMs: number;
  readonly logLevel: string;
  readonly cloudMapNamespace: string;
  /** The Cloud Map service this task's PAR registers into (its shard's). */
  readonly cloudMapService: string;
  /** Every shard's Cloud Map service, which the router reads; default: `cloudMapService` only. */
  readonly cloudMapShards?: readonly string[];
  /** The router's calls in flight as an EMF metric (router/emf.ts): auto scaling's custom metric. */
  readonly routerMetrics?: { readonly namespace: string; readonly dimensions: Readonly<Record<string, string>> };
  readonly agentPortFirst: number;
  readonly agentPortLast: number;
  /** The task's memory (MiB): Envoy's overload limits are sized from it (envoy/overload.ts). */
  readonly memory: number;
  /** Caller authentication in the router (ROUTER_AUTH*); absent or off: no keys, the router's default. */
  readonly routerAuth?: RouterAuthSettings;
  /** Secrets Manager secret with credentials for PAR's private registry (repositoryCredentials). */
  readonly parImageCredentialsSecretArn?: string;
}

/*
 * The shapes below are @pulumi/aws's ECS container types (aws.ecs.ContainerDefinition and its parts),
 * narrowed to plain values and to what this task uses: strict tsc checks every field name and value
 * against the provider's types, and tests read the values without unwrapping Inputs.
 */

export interface KeyValue extends aws.ecs.KeyValuePair { readonly name: string; readonly value: string }

export interface HealthCheck extends aws.ecs.HealthCheck {
  readonly command: string[];
  readonly interval: number;
  readonly timeout: number;
  readonly retries: number;
  readonly startPeriod: number;
}

export interface PortMapping extends aws.ecs.PortMapping {
  readonly containerPort?: number;
  readonly containerPortRange?: string;
  readonly protocol: "tcp";
  readonly name?: string;
}

export interface MountPoint extends aws.ecs.MountPoint {
  readonly sourceVolume: string;
  readonly containerPath: string;
  readonly readOnly: boolean;
}

export interface Ulimit extends aws.ecs.Ulimit {
  readonly softLimit: number;
  readonly hardLimit: number;
}

/** A task-level bind mount volume (ephemeral, Fargate's task storage): a name only. */
export interface TaskVolume { readonly name: string }

export interface ContainerDefinition extends aws.ecs.ContainerDefinition {
  readonly name: "par" | "router" | "envoy";
  readonly image: string;
  readonly repositoryCredentials?: { readonly credentialsParameter: string };
  readonly essential: true;
  readonly portMappings: PortMapping[];
  readonly environment: KeyValue[];
  readonly healthCheck?: HealthCheck;
  readonly dependsOn?: { readonly containerName: string; readonly condition: "START" | "HEALTHY" }[];
  readonly stopTimeout: number;
  readonly readonlyRootFilesystem?: boolean;
  readonly ulimits?: Ulimit[];
  readonly mountPoints?: MountPoint[];
  readonly logConfiguration: {
    readonly logDriver: "awslogs";
    readonly options: Readonly<Record<string, string>>;
  };
}

/** PAR's /health check without assuming which HTTP client its image ships (curl, Python or wget). */
export const PAR_HEALTH_COMMAND = [
  "CMD-SHELL",
  `if command -v curl >/dev/null 2>&1; then curl -fsS -m 4 -o /dev/null http://127.0.0.1:${PAR_REST_PORT}/health; `
    + `elif command -v python3 >/dev/null 2>&1; then python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${PAR_REST_PORT}/health', timeout=4)"; `
    + `else wget -q -T 4 -O /dev/null http://127.0.0.1:${PAR_REST_PORT}/health; fi`,
] as const;

/** The router image has Node (no curl): fetch /readyz, exit 0 only on a 2xx. */
export const ROUTER_HEALTH_COMMAND = [
  "CMD",
  "node",
  "-e",
  `fetch('http://127.0.0.1:${ROUTER_ADMIN_PORT}/readyz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`,
] as const;

/** Local PAR first (its own agents), then every shard's Cloud Map service (agents on any task). */
export function routerRegistry(inputs: Pick<ContainerInputs, "cloudMapNamespace" | "cloudMapService" | "cloudMapShards">): string {
  const shards = inputs.cloudMapShards && inputs.cloudMapShards.length > 0 ? inputs.cloudMapShards : [inputs.cloudMapService];
  return `par:http://127.0.0.1:${PAR_REST_PORT},${shardRegistryEntries(inputs.cloudMapNamespace, shards)}`;
}

/**
 * The task's volumes for its Unix sockets (lib/ports.ts), each mounted only where it is needed:
 * PAR, and with it every agent, mounts none, so it cannot reach Envoy's admin or the xDS server.
 * Each image declares its socket directory as a VOLUME with its owner and mode, and ECS copies the
 * image's directory into the volume when the paths match ("the data in the VOLUME directive path is
 * copied to the data volume"; without that the directory is root's, 0755, and uid 101 could not
 * create the socket: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/bind-mounts.html).
 */
export const ENVOY_ADMIN_VOLUME = "envoy-admin";
export const XDS_VOLUME = "xds";

export function taskVolumes(envoyMode: EnvoyMode): TaskVolume[] {
  return [{ name: ENVOY_ADMIN_VOLUME }, ...(envoyMode === "xds" ? [{ name: XDS_VOLUME }] : [])];
}

function awslogs(inputs: ContainerInputs, group: string, prefix: string): ContainerDefinition["logConfiguration"] {
  return { logDriver: "awslogs", options: { "awslogs-group": group, "awslogs-region": inputs.region, "awslogs-stream-prefix": prefix } };
}

export function containerDefinitions(inputs: ContainerInputs): ContainerDefinition[] {
  // Throws when routerDrainMs breaks the shutdown order (lib/shutdown.ts), so no such task definition is declared.
  const plan = checkedShutdownPlan(inputs.routerDrainMs);
  const stopTimeout = routerStopTimeoutSeconds(inputs.routerDrainMs, plan);
  const routerEnv: EnvVar<RouterEnvName>[] = [
    { name: R.listen, value: `0.0.0.0:${ROUTER_PORT}` },
    // Loopback only: its clients are this container's health check and Envoy's router health check
    // (and a metrics scraper, which would run as a sidecar). Nothing outside the task needs it.
    { name: R.admin, value: `127.0.0.1:${ROUTER_ADMIN_PORT}` },
    { name: R.registry, value: routerRegistry(inputs) },
    { name: R.drainMs, value: String(inputs.routerDrainMs) },
    { name: R.logLevel, value: inputs.logLevel },
    ...routerAuthEnvironment(inputs.routerAuth ?? { mode: "off" }),
  ];
  // Option B: Envoy takes its clusters over ADS from the router, on a Unix socket only the two mount.
  const xds = inputs.envoyMode === "xds";
  if (xds) routerEnv.push({ name: R.xds, value: `unix:${XDS_SOCKET}` });
  const xdsMount = (readOnly: boolean): MountPoint[] => (xds ? [{ sourceVolume: XDS_VOLUME, containerPath: XDS_SOCKET_DIR, readOnly }] : []);
  if (inputs.routerMetrics !== undefined) {
    routerEnv.push(
      { name: R.emfNamespace, value: inputs.routerMetrics.namespace },
      { name: R.emfDimensions, value: Object.entries(inputs.routerMetrics.dimensions).map(([k, v]) => `${k}=${v}`).join(",") },
    );
  }

  return [
    {
      name: "par",
      image: inputs.parImage,
      ...(inputs.parImageCredentialsSecretArn === undefined ? {} : { repositoryCredentials: { credentialsParameter: inputs.parImageCredentialsSecretArn } }),
      essential: true,
      portMappings: [
        { containerPort: PAR_REST_PORT, protocol: "tcp", name: "par-rest" },
        { containerPortRange: `${inputs.agentPortFirst}-${inputs.agentPortLast}`, protocol: "tcp" },
      ],
      environment: [
        { name: PAR_ENV.cloudMapNamespace, value: inputs.cloudMapNamespace },
        { name: PAR_ENV.cloudMapService, value: inputs.cloudMapService },
        { name: PAR_ENV.region, value: inputs.region },
      ],
      healthCheck: { command: [...PAR_HEALTH_COMMAND], interval: 10, timeout: 5, retries: 3, startPeriod: 60 },
      stopTimeout,
      logConfiguration: awslogs(inputs, inputs.logGroups.par, "par"),
    },
    {
      name: "router",
      image: inputs.routerImage,
      essential: true,
      portMappings: [
        { containerPort: ROUTER_PORT, protocol: "tcp", name: "router-grpc" },
      ],
      environment: routerEnv,
      healthCheck: { command: [...ROUTER_HEALTH_COMMAND], interval: 10, timeout: 5, retries: 3, startPeriod: 15 },
      dependsOn: [{ containerName: "par", condition: "HEALTHY" }],
      stopTimeout,
      readonlyRootFilesystem: true,
      // The router creates the xDS socket, so its mount is writable.
      ...(xds ? { mountPoints: xdsMount(false) } : {}),
      logConfiguration: awslogs(inputs, inputs.logGroups.router, "router"),
    },
    {
      // No container health check: the NLB's A2A target group checks Envoy's readiness listener,
      // which already fails when the router is not ready.
      name: "envoy",
      image: inputs.envoyImage,
      essential: true,
      portMappings: [
        { containerPort: A2A_PORT, protocol: "tcp", name: "a2a" },
        { containerPort: ENVOY_READY_PORT, protocol: "tcp", name: "envoy-ready" },
      ],
      environment: [
        // The entrypoint fails Envoy's readiness on SIGTERM, then drains this long before stopping Envoy.
        { name: ENVOY_ENV.drainSeconds, value: String(plan.envoyDrainSeconds) },
        // Overload limits for this task size, merged into the baked bootstrap (--config-yaml).
        { name: ENVOY_ENV.bootstrapOverride, value: bootstrapOverride(overloadPlan(inputs.memory)) },
      ],
      dependsOn: [{ containerName: "router", condition: "HEALTHY" }],
      stopTimeout: envoyStopTimeoutSeconds(plan),
      ulimits: [{ name: "nofile", softLimit: ENVOY_NOFILE_LIMIT, hardLimit: ENVOY_NOFILE_LIMIT }],
      // Envoy connects to the xDS socket (connect() needs no writable mount) and owns its admin socket.
      mountPoints: [{ sourceVolume: ENVOY_ADMIN_VOLUME, containerPath: ENVOY_ADMIN_SOCKET_DIR, readOnly: false }, ...xdsMount(true)],
      logConfiguration: awslogs(inputs, inputs.logGroups.envoy, "envoy"),
    },
  ];
}
