import * as pulumi from "@pulumi/pulumi";
import { ALLOW_CLAIM_NAME, ALLOW_CLAIM_RULE, CALLER_AUTH_MODES, type CallerAuthMode } from "../lib/caller-auth";
import { AGENT_PORT_FIRST, AGENT_PORT_LAST } from "../lib/ports";
import { DEFAULT_ROUTER_DRAIN_MS, routerDrainMsRange } from "../lib/shutdown";
import { agentPortRangeProblem, certificateArnProblem, secretArnProblem, stackNameProblems } from "./config-checks";
import { probeScheduleProblem } from "./alarm-periods";
import { SCHEDULE_ACCEPTED } from "./schedule";
import { imagePin, isEcrImage } from "./image-reference";
import { admitsEveryone, isPrivateCidr, restPlacement } from "./reachability";
import { exposureProblems, exposureWarnings } from "./exposure";

/**
 * The stack's configuration: read once, validated once, one typed object.
 * `parseStackConfig` is pure (raw strings in, typed config or one error listing every bad key out),
 * so a bad value fails `pulumi preview` before any resource is declared.
 */

export type EnvoyMode = "router" | "xds";

/** NAT gateways of a new VPC: one per zone (a zone's loss cuts no other zone off) or one for all (cheaper). */
export const NAT_GATEWAY_MODES = ["perZone", "one"] as const;
export type NatGatewayMode = (typeof NAT_GATEWAY_MODES)[number];

export { CALLER_AUTH_MODES, type CallerAuthMode };

/**
 * Caller authentication in the router (router/auth, docs/security.md) and the probe's own credential.
 * A secret ARN left unset in bearer mode means "the stack creates the secret".
 */
export type CallerAuthConfig =
  | { readonly mode: "off" }
  | {
      readonly mode: "bearer";
      /** Existing secret holding the router's tokens document; unset: the stack creates one. */
      readonly tokensSecretArn?: string;
      /** Existing secret holding the probe's bearer token; unset: the stack creates one. */
      readonly probeTokenSecretArn?: string;
    }
  | {
      readonly mode: "jwt";
      readonly jwksUrl: string;
      readonly issuer: string;
      readonly audience?: string;
      readonly allowClaim?: string;
      /** Secret holding a long-lived JWT for the probe (the stack cannot mint one): required. */
      readonly probeTokenSecretArn: string;
    };

export interface NetworkConfig {
  /** Existing VPC id; when unset the stack builds a VPC. */
  readonly vpcId?: string;
  /** Existing public subnets (NLB when internet-facing). Required with `vpcId`. */
  readonly publicSubnetIds: readonly string[];
  /** Existing private subnets (tasks, internal NLB, probe). Required with `vpcId`. */
  readonly privateSubnetIds: readonly string[];
  /** CIDR of the new VPC (ignored with `vpcId`). */
  readonly vpcCidr: string;
  /** Zones of the new VPC (ignored with `vpcId`). */
  readonly availabilityZones: readonly string[];
  /** NAT gateways of the new VPC (only with a new VPC). */
  readonly natGateways: NatGatewayMode;
}

export interface StackConfig {
  readonly region: string;
  readonly network: NetworkConfig;
  readonly internetFacing: boolean;
  /** Client CIDRs allowed to reach the A2A listener (50051). */
  readonly allowedCidrs: readonly string[];
  /** Client CIDRs allowed to reach PAR's REST API listener (8080). */
  readonly restAllowedCidrs: readonly string[];
  /** TLS on the A2A listener when set (ACM certificate ARN); plain TCP otherwise. */
  readonly tlsCertificateArn?: string;
  /**
   * DNS name on the certificate that points at the NLB (a CNAME or alias the operator manages): the
   * probe connects to it, since a TLS client checks the name and the NLB's own name is not on the certificate.
   */
  readonly a2aDomainName?: string;
  /** Refuse a deploy without TLS on the A2A listener; tags every resource `pixell:requireTls=true` for the policy pack. */
  readonly requireTls: boolean;
  readonly callerAuth: CallerAuthConfig;
  /** The operator accepts an internet-facing, everyone-admitting A2A endpoint without caller auth (infra/exposure.ts). */
  readonly allowAnonymousInternet: boolean;
  readonly desiredCount: number;
  /** Fargate task CPU units and memory (MiB); a valid Fargate pair. */
  readonly cpu: number;
  readonly memory: number;
  readonly parImage: string;
  readonly agentPortFirst: number;
  readonly agentPortLast: number;
  readonly envoyMode: EnvoyMode;
  readonly routerDrainMs: number;
  readonly logLevel: string;
  readonly logRetentionDays: number;
  readonly healthCheckGracePeriodSeconds: number;
  readonly cloudMapNamespace: string;
  readonly cloudMapService: string;
  readonly probeSchedule: string;
  readonly probeTimeoutMs: number;
  readonly probeConcurrency: number;
  readonly probeLambdaTimeoutSeconds: number;
  readonly probeMemoryMb: number;
  readonly alarmEmail?: string;
  // --- Alerting (issue 15): kept together so parallel config changes merge cleanly.
  /** A pager's HTTPS webhook subscribed to the alarm topic beside the email. */
  readonly alarmHttpsEndpoint?: string;
  /** Share (%) of failing deployments that is one platform page instead of a page per deployment. */
  readonly alarmUnhealthyPercent: number;
  /** Fewest deployments a probe run must reach; fewer, or no probe data, pages. */
  readonly alarmMinDeploymentsProbed: number;
  // --- end alerting
  /** Registry credentials for a private, non-ECR PAR image (the task definition's repositoryCredentials). */
  readonly parImageCredentials?: { readonly secretArn: string; readonly kmsKeyArn?: string };
  /**
   * Existing VPC with an internet-facing NLB: the public addresses (/32) the private subnets' traffic
   * leaves from (their NAT gateways), admitted to 50051 for the probe. Empty otherwise.
   */
  readonly probeEgressCidrs: readonly string[];
}

/** Raw values as `pulumi config` holds them: strings (lists as JSON arrays or comma-separated). */
export type RawConfig = Readonly<Record<string, string | undefined>>;

/** Every key this stack reads from the `pixell-a2a` namespace (plus `aws:region`). */
export const CONFIG_KEYS = [
  "vpcId", "publicSubnetIds", "privateSubnetIds", "vpcCidr", "availabilityZones",
  "internetFacing", "allowedCidrs", "restAllowedCidrs", "tlsCertificateArn",
  "desiredCount", "cpu", "memory", "parImage", "agentPortFirst", "agentPortLast",
  "envoyMode", "routerDrainMs", "logLevel", "logRetentionDays", "healthCheckGracePeriodSeconds",
  "cloudMapNamespace", "cloudMapService",
  "probeSchedule", "probeTimeoutMs", "probeConcurrency", "probeLambdaTimeoutSeconds", "probeMemoryMb",
  "alarmEmail",
  "alarmHttpsEndpoint", "alarmUnhealthyPercent", "alarmMinDeploymentsProbed",
  "requireTls", "a2aDomainName", "callerAuth", "callerAuthTokensSecretArn", "callerAuthJwksUrl", "callerAuthIssuer",
  "callerAuthAudience", "callerAuthAllowClaim", "probeAuthTokenSecretArn",
  "natGateways", "probeEgressCidrs", "parImageCredentialsSecretArn", "parImageCredentialsKmsKeyArn",
  "allowAnonymousInternet",
] as const;

export const DEFAULT_REGION = "us-east-2";

/** Milliseconds the probe Lambda keeps back for PutMetricData (probe-lambda's PROBE_RESERVE_MS default). */
export const PROBE_RESERVE_MS = 5000;

/** CloudWatch Logs accepts only these retention periods (days). */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"] as const;

/** Fargate's valid task sizes: CPU units -> allowed memory (MiB). */
export function fargateMemoryOptions(cpu: number): number[] {
  const range = (from: number, to: number, step: number): number[] =>
    Array.from({ length: Math.floor((to - from) / step) + 1 }, (_, i) => from + i * step);
  switch (cpu) {
    case 256: return [512, 1024, 2048];
    case 512: return range(1024, 4096, 1024);
    case 1024: return range(2048, 8192, 1024);
    case 2048: return range(4096, 16384, 1024);
    case 4096: return range(8192, 30720, 1024);
    case 8192: return range(16384, 61440, 4096);
    case 16384: return range(32768, 122880, 8192);
    default: return [];
  }
}

/** Thrown for bad configuration: one line per problem, each naming key, value and what is accepted. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid stack configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const REGION = /^[a-z]{2}(-gov)?-[a-z]+-\d$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const SERVICE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;
// A container image reference: [registry/]repository[:tag][@digest], no spaces.
const IMAGE = /^[a-z0-9]+([._-][a-z0-9]+)*(:\d+)?(\/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/;

export function isCidr(value: string): boolean {
  const m = CIDR.exec(value);
  if (!m) return false;
  const octets = m.slice(1, 5).map(Number);
  return octets.every((o) => o <= 255) && Number(m[5]) <= 32;
}

/**
 * Validate raw config into a StackConfig. Collects every problem before throwing,
 * so one `pulumi preview` shows all of them.
 */
export function parseStackConfig(raw: RawConfig, region: string = DEFAULT_REGION): StackConfig {
  const problems: string[] = [];
  const bad = (key: string, value: string, accepted: string): void => {
    problems.push(`pixell-a2a:${key} = ${JSON.stringify(value)} is not valid: expected ${accepted}`);
  };
  const str = (key: string): string | undefined => {
    const v = raw[key]?.trim();
    return v === undefined || v === "" ? undefined : v;
  };
  const int = (key: string, def: number, min: number, max: number): number => {
    const v = str(key);
    if (v === undefined) return def;
    const n = Number(v);
    if (!/^-?\d+$/.test(v) || n < min || n > max) {
      bad(key, v, `an integer from ${min} to ${max}`);
      return def;
    }
    return n;
  };
  const bool = (key: string, def: boolean): boolean => {
    const v = str(key);
    if (v === undefined) return def;
    if (v === "true" || v === "false") return v === "true";
    bad(key, v, "true or false");
    return def;
  };
  const list = (key: string, def: readonly string[]): readonly string[] => {
    const v = str(key);
    if (v === undefined) return def;
    if (v.startsWith("[")) {
      try {
        const parsed: unknown = JSON.parse(v);
        if (Array.isArray(parsed) && parsed.every((x) => typeof x === "string")) return parsed.map((x: string) => x.trim());
      } catch {
        // Reported below as not a list.
      }
      bad(key, v, "a list of strings (a YAML list or comma-separated)");
      return def;
    }
    return v.split(",").map((x) => x.trim()).filter((x) => x !== "");
  };
  const oneOf = <T extends string>(key: string, def: T, allowed: readonly T[]): T => {
    const v = str(key);
    if (v === undefined) return def;
    if ((allowed as readonly string[]).includes(v)) return v as T;
    bad(key, v, `one of ${allowed.join(", ")}`);
    return def;
  };
  const matching = (key: string, pattern: RegExp, accepted: string, def?: string): string | undefined => {
    const v = str(key);
    if (v === undefined) return def;
    if (!pattern.test(v)) bad(key, v, accepted);
    return v;
  };

  if (!REGION.test(region)) problems.push(`aws:region = ${JSON.stringify(region)} is not valid: expected an AWS region such as us-east-2`);

  // Network: an existing VPC brings its own subnets; a new one needs a CIDR and at least two zones.
  const vpcId = matching("vpcId", /^vpc-[0-9a-f]{8,17}$/, "a VPC id such as vpc-0123456789abcdef0");
  const publicSubnetIds = list("publicSubnetIds", []);
  const privateSubnetIds = list("privateSubnetIds", []);
  for (const [key, ids] of [["publicSubnetIds", publicSubnetIds], ["privateSubnetIds", privateSubnetIds]] as const) {
    for (const id of ids) if (!/^subnet-[0-9a-f]{8,17}$/.test(id)) bad(key, id, "subnet ids such as subnet-0123456789abcdef0");
  }
  const internetFacing = bool("internetFacing", true);
  if (vpcId !== undefined) {
    if (privateSubnetIds.length < 2) problems.push(`pixell-a2a:privateSubnetIds must list at least two subnets in different zones when pixell-a2a:vpcId is set (got ${privateSubnetIds.length})`);
    if (internetFacing && publicSubnetIds.length < 2) problems.push(`pixell-a2a:publicSubnetIds must list at least two public subnets when pixell-a2a:vpcId is set and pixell-a2a:internetFacing is true (got ${publicSubnetIds.length}); or set internetFacing: false`);
  } else if (publicSubnetIds.length + privateSubnetIds.length > 0) {
    problems.push("pixell-a2a:publicSubnetIds/privateSubnetIds are only used with an existing VPC: set pixell-a2a:vpcId too, or remove them to let the stack build a VPC");
  }
  const vpcCidr = str("vpcCidr") ?? "10.0.0.0/16";
  if (!isCidr(vpcCidr) || Number(vpcCidr.split("/")[1]) > 20) bad("vpcCidr", vpcCidr, "an IPv4 CIDR from /16 to /20, e.g. 10.0.0.0/16");
  const availabilityZones = list("availabilityZones", [`${region}a`, `${region}b`]);
  if (availabilityZones.length < 2 || availabilityZones.length > 4 || new Set(availabilityZones).size !== availabilityZones.length
      || !availabilityZones.every((az) => az.startsWith(region))) {
    bad("availabilityZones", availabilityZones.join(","), `2 to 4 distinct zones of ${region}, e.g. ${region}a,${region}b`);
  }

  const allowedCidrs = list("allowedCidrs", ["0.0.0.0/0"]);
  // PAR's REST API is an operator interface: by default only the new VPC reaches it; with an existing
  // VPC the stack does not know its CIDR, so the operator names the clients.
  const restAllowedCidrs = list("restAllowedCidrs", vpcId === undefined ? [vpcCidr] : []);
  for (const [key, cidrs] of [["allowedCidrs", allowedCidrs], ["restAllowedCidrs", restAllowedCidrs]] as const) {
    if (cidrs.length === 0) problems.push(`pixell-a2a:${key} must list at least one IPv4 CIDR such as 10.0.0.0/16${vpcId !== undefined ? " (required with pixell-a2a:vpcId)" : ""}`);
    for (const c of cidrs) if (!isCidr(c)) bad(key, c, "IPv4 CIDRs such as 203.0.113.0/24");
  }

  const cpu = int("cpu", 1024, 256, 16384);
  const memory = int("memory", 2048, 512, 122880);
  const memoryOptions = fargateMemoryOptions(cpu);
  if (memoryOptions.length === 0) bad("cpu", String(cpu), "a Fargate CPU size: 256, 512, 1024, 2048, 4096, 8192 or 16384");
  else if (!memoryOptions.includes(memory)) bad("memory", String(memory), `a Fargate memory size for cpu ${cpu}: ${memoryOptions[0]} to ${memoryOptions[memoryOptions.length - 1]} MiB in steps of ${memoryOptions.length > 1 ? memoryOptions[1]! - memoryOptions[0]! : 0}`);

  const parImage = str("parImage");
  if (parImage === undefined) problems.push("pixell-a2a:parImage is required: the PAR container image, e.g. 123456789012.dkr.ecr.us-east-2.amazonaws.com/pixell-agent-runtime:1.4.2");
  else if (!IMAGE.test(parImage)) bad("parImage", parImage, "a container image reference such as registry/repository:tag");
  else if (imagePin(parImage) === "latest" || imagePin(parImage) === "untagged") {
    bad("parImage", parImage, `an image pinned to a release tag or a digest, e.g. ${parImage.replace(/:latest$/, "")}:1.4.2 or ${parImage.replace(/:latest$/, "")}@sha256:<digest> (\`docker buildx imagetools inspect IMAGE\` prints it): ECS resolves a tag when each task starts, so with ${imagePin(parImage) === "latest" ? ":latest" : "no tag (:latest)"} \`pulumi up\` sees no change when PAR is rebuilt and tasks end up running different PAR builds`);
  }

  const natGateways = oneOf<NatGatewayMode>("natGateways", "perZone", NAT_GATEWAY_MODES);
  if (vpcId !== undefined && str("natGateways") !== undefined) {
    problems.push(`pixell-a2a:natGateways = ${JSON.stringify(natGateways)} is only used when the stack builds the VPC: remove it (pixell-a2a:vpcId is set, and that VPC's NAT is yours to manage)`);
  }
  const probeEgressCidrs = list("probeEgressCidrs", []);
  for (const c of probeEgressCidrs) if (!isCidr(c)) bad("probeEgressCidrs", c, "IPv4 CIDRs such as 198.51.100.7/32 (your NAT gateways' Elastic IPs)");
  if (probeEgressCidrs.length > 0 && (vpcId === undefined || !internetFacing)) {
    problems.push(`pixell-a2a:probeEgressCidrs is only used with an existing VPC (pixell-a2a:vpcId) and an internet-facing NLB: ${vpcId === undefined ? "the stack admits its own NAT gateways' addresses" : "an internal NLB admits the probe by its security group"}; remove it`);
  }
  const credentialsSecretArn = str("parImageCredentialsSecretArn");
  if (credentialsSecretArn !== undefined) {
    const problem = secretArnProblem(credentialsSecretArn, region);
    if (problem !== undefined) bad("parImageCredentialsSecretArn", credentialsSecretArn, `${problem} (a secret holding {"username":…,"password":…} for the PAR image's registry)`);
  }
  const credentialsKmsKeyArn = matching("parImageCredentialsKmsKeyArn", KMS_KEY_ARN, "a KMS key ARN, arn:aws:kms:<region>:<account>:key/<key id> (the customer-managed key the credentials secret is encrypted with)");
  if (credentialsKmsKeyArn !== undefined && credentialsSecretArn === undefined) {
    problems.push("pixell-a2a:parImageCredentialsKmsKeyArn is only used with pixell-a2a:parImageCredentialsSecretArn: set the secret too, or remove the key ARN");
  }
  if (credentialsSecretArn !== undefined && parImage !== undefined && isEcrImage(parImage)) {
    problems.push(`pixell-a2a:parImageCredentialsSecretArn is set but pixell-a2a:parImage = ${JSON.stringify(parImage)} is in Amazon ECR, which ECS pulls with the task execution role (registry credentials are for registries outside AWS): remove parImageCredentialsSecretArn`);
  }

  const agentPortFirst = int("agentPortFirst", AGENT_PORT_FIRST, 1024, 65535);
  const agentPortLast = int("agentPortLast", AGENT_PORT_LAST, 1024, 65535);
  const portProblem = agentPortRangeProblem(agentPortFirst, agentPortLast);
  if (portProblem !== undefined) bad("agentPortLast", String(agentPortLast), portProblem);

  const probeTimeoutMs = int("probeTimeoutMs", 3000, 100, 60000);
  const probeLambdaTimeoutSeconds = int("probeLambdaTimeoutSeconds", 30, 3, 900);
  // The probe keeps PROBE_RESERVE_MS (5 s) of its time for emitting metrics and starts no call inside it.
  if (probeLambdaTimeoutSeconds * 1000 < probeTimeoutMs + PROBE_RESERVE_MS + 1000) {
    bad("probeLambdaTimeoutSeconds", String(probeLambdaTimeoutSeconds), `at least ${Math.ceil((probeTimeoutMs + PROBE_RESERVE_MS + 1000) / 1000)} s: probeTimeoutMs (${probeTimeoutMs} ms) plus the probe's 5 s reserved for metrics plus 1 s`);
  }

  const tlsCertificateArn = str("tlsCertificateArn");
  const certificateProblem = tlsCertificateArn === undefined ? undefined : certificateArnProblem(tlsCertificateArn, region);
  if (certificateProblem !== undefined) bad("tlsCertificateArn", tlsCertificateArn!, certificateProblem);
  const requireTls = bool("requireTls", false);
  const a2aDomainName = matching("a2aDomainName", DNS_NAME, "a lower-case DNS name on the certificate, e.g. a2a.example.com");
  if (a2aDomainName !== undefined && tlsCertificateArn === undefined) {
    problems.push(`pixell-a2a:a2aDomainName = ${JSON.stringify(a2aDomainName)} is only used with TLS: set pixell-a2a:tlsCertificateArn too, or remove a2aDomainName`);
  }
  if (requireTls && tlsCertificateArn === undefined) {
    problems.push("pixell-a2a:requireTls is true but pixell-a2a:tlsCertificateArn is not set: the A2A listener would be plain TCP. Set tlsCertificateArn to an ACM certificate ARN (the NLB then terminates TLS on 50051), or set requireTls to false");
  }
  const envoyMode = oneOf<EnvoyMode>("envoyMode", "router", ["router", "xds"]);
  const callerAuth = parseCallerAuth(region, envoyMode, problems, { str, oneOf, bad });
  // Secure by default (infra/exposure.ts): no anonymous internet endpoint unless asked for by name.
  const allowAnonymousInternet = bool("allowAnonymousInternet", false);
  problems.push(...exposureProblems({ internetFacing, allowedCidrs, callerAuth: callerAuth.mode }, allowAnonymousInternet));

  const config: StackConfig = {
    region,
    network: { vpcId, publicSubnetIds, privateSubnetIds, vpcCidr, availabilityZones, natGateways },
    internetFacing,
    allowedCidrs,
    restAllowedCidrs,
    tlsCertificateArn,
    a2aDomainName,
    requireTls,
    callerAuth,
    allowAnonymousInternet,
    desiredCount: int("desiredCount", 2, 1, 100),
    cpu,
    memory,
    parImage: parImage ?? "",
    agentPortFirst,
    agentPortLast,
    envoyMode,
    // At least Envoy's drain, at most what Fargate's 120 s stop timeout leaves (lib/shutdown.ts).
    routerDrainMs: int("routerDrainMs", DEFAULT_ROUTER_DRAIN_MS, routerDrainMsRange().min, routerDrainMsRange().max),
    logLevel: oneOf("logLevel", "info", LOG_LEVELS),
    logRetentionDays: ((): number => {
      const days = int("logRetentionDays", 30, 1, 3653);
      if (!(LOG_RETENTION_DAYS as readonly number[]).includes(days)) bad("logRetentionDays", String(days), `one of ${LOG_RETENTION_DAYS.join(", ")}`);
      return days;
    })(),
    healthCheckGracePeriodSeconds: int("healthCheckGracePeriodSeconds", 120, 0, 2147483647),
    cloudMapNamespace: matching("cloudMapNamespace", DNS_NAME, "a lower-case DNS name such as pixell-runtime.local", "pixell-runtime.local")!,
    cloudMapService: matching("cloudMapService", SERVICE_NAME, "a lower-case DNS label such as agents", "agents")!,
    probeSchedule: ((): string => {
      const schedule = str("probeSchedule") ?? "rate(1 minute)";
      const problem = probeScheduleProblem(schedule);
      if (problem !== undefined) bad("probeSchedule", schedule, `${SCHEDULE_ACCEPTED} (${problem})`);
      return schedule;
    })(),
    probeTimeoutMs,
    probeConcurrency: int("probeConcurrency", 64, 1, 1024),
    probeLambdaTimeoutSeconds,
    probeMemoryMb: int("probeMemoryMb", 256, 128, 10240),
    alarmEmail: matching("alarmEmail", EMAIL, "an email address"),
    ...alertingConfig(str, int, bad),
    parImageCredentials: credentialsSecretArn === undefined ? undefined : { secretArn: credentialsSecretArn, kmsKeyArn: credentialsKmsKeyArn },
    probeEgressCidrs,
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/**
 * The alerting keys (issue 15). An HTTPS endpoint is what SNS's https protocol delivers to
 * (https://docs.aws.amazon.com/sns/latest/dg/sns-http-https-endpoint-as-subscriber.html): an
 * absolute https:// URL; SNS refuses plain http for the https protocol.
 */
function alertingConfig(
  str: (key: string) => string | undefined,
  int: (key: string, def: number, min: number, max: number) => number,
  bad: (key: string, value: string, accepted: string) => void,
): Pick<StackConfig, "alarmHttpsEndpoint" | "alarmUnhealthyPercent" | "alarmMinDeploymentsProbed"> {
  const https = str("alarmHttpsEndpoint");
  if (https !== undefined) {
    let ok = false;
    try {
      const u = new URL(https);
      ok = u.protocol === "https:" && u.hostname !== "" && !/\s/.test(https);
    } catch {
      ok = false;
    }
    if (!ok) bad("alarmHttpsEndpoint", https, "an https:// URL of a pager's webhook that confirms SNS subscriptions itself (PagerDuty, Opsgenie, ...)");
  }
  return {
    ...(https === undefined ? {} : { alarmHttpsEndpoint: https }),
    alarmUnhealthyPercent: int("alarmUnhealthyPercent", 25, 1, 100),
    alarmMinDeploymentsProbed: int("alarmMinDeploymentsProbed", 1, 1, 1_000_000),
  };
}

interface ParseHelpers {
  str(key: string): string | undefined;
  oneOf<T extends string>(key: string, def: T, allowed: readonly T[]): T;
  bad(key: string, value: string, accepted: string): void;
}

const BEARER_KEYS = ["callerAuthTokensSecretArn"] as const;
const JWT_KEYS = ["callerAuthJwksUrl", "callerAuthIssuer", "callerAuthAudience", "callerAuthAllowClaim"] as const;

/**
 * The callerAuth* keys and probeAuthTokenSecretArn. Keys of another mode are refused (as the router
 * refuses ROUTER_AUTH_* keys of the other mode), so a half-switched configuration cannot pass silently.
 */
function parseCallerAuth(region: string, envoyMode: EnvoyMode, problems: string[], h: ParseHelpers): CallerAuthConfig {
  const mode = h.oneOf<CallerAuthMode>("callerAuth", "off", CALLER_AUTH_MODES);
  const secretArn = (key: string): string | undefined => {
    const v = h.str(key);
    if (v === undefined) return undefined;
    const problem = secretArnProblem(v, region);
    if (problem !== undefined) h.bad(key, v, problem);
    return v;
  };
  const misplaced = (keys: readonly string[], why: string): void => {
    for (const key of keys) {
      const v = h.str(key);
      if (v !== undefined) problems.push(`pixell-a2a:${key} = ${JSON.stringify(v)} is not used ${why}: remove it, or set pixell-a2a:callerAuth accordingly`);
    }
  };

  if (mode === "off") {
    misplaced([...BEARER_KEYS, ...JWT_KEYS, "probeAuthTokenSecretArn"], "when pixell-a2a:callerAuth is off");
    return { mode };
  }
  if (envoyMode === "xds") {
    problems.push(`pixell-a2a:callerAuth = "${mode}" cannot be combined with pixell-a2a:envoyMode = "xds": in xds mode Envoy sends calls for known deployments straight to the agents, so they would never pass the router's authentication. Use envoyMode: router (every call goes through the router), or callerAuth: off`);
  }
  const probeTokenSecretArn = secretArn("probeAuthTokenSecretArn");
  if (mode === "bearer") {
    misplaced(JWT_KEYS, "when pixell-a2a:callerAuth is bearer");
    return { mode, tokensSecretArn: secretArn("callerAuthTokensSecretArn"), probeTokenSecretArn };
  }

  misplaced(BEARER_KEYS, "when pixell-a2a:callerAuth is jwt");
  const jwksUrl = h.str("callerAuthJwksUrl");
  if (jwksUrl === undefined) {
    problems.push("pixell-a2a:callerAuthJwksUrl is required when pixell-a2a:callerAuth is jwt: the https URL of your identity provider's JWKS, e.g. https://idp.example.com/.well-known/jwks.json");
  } else if (!isHttpsUrl(jwksUrl)) {
    h.bad("callerAuthJwksUrl", jwksUrl, "an https URL (keys fetched over plain http could be swapped in transit), e.g. https://idp.example.com/.well-known/jwks.json");
  }
  const issuer = h.str("callerAuthIssuer");
  if (issuer === undefined) problems.push("pixell-a2a:callerAuthIssuer is required when pixell-a2a:callerAuth is jwt: the exact `iss` your tokens carry, e.g. https://idp.example.com/");
  const allowClaim = h.str("callerAuthAllowClaim");
  if (allowClaim !== undefined && !ALLOW_CLAIM_NAME.test(allowClaim)) h.bad("callerAuthAllowClaim", allowClaim, ALLOW_CLAIM_RULE);
  if (probeTokenSecretArn === undefined) {
    problems.push("pixell-a2a:probeAuthTokenSecretArn is required when pixell-a2a:callerAuth is jwt: the probe calls Health through the router, which then accepts only JWTs, and the stack cannot mint one. Store a long-lived JWT from your identity provider (with the allow claim [\"*\"]) in a Secrets Manager secret, set its ARN here, and renew the secret before the token expires (the probe reads it on every run)");
  }
  return { mode, jwksUrl: jwksUrl ?? "", issuer: issuer ?? "", audience: h.str("callerAuthAudience"), allowClaim, probeTokenSecretArn: probeTokenSecretArn ?? "" };
}

function isHttpsUrl(value: string): boolean {
  try {
    return new URL(value).protocol === "https:";
  } catch {
    return false;
  }
}

/**
 * Valid but risky combinations, shown by `pulumi preview` as warnings (pure: config in, messages out).
 */
export function configWarnings(config: StackConfig): string[] {
  const warnings: string[] = exposureWarnings({ internetFacing: config.internetFacing, allowedCidrs: config.allowedCidrs, callerAuth: config.callerAuth.mode });
  if (config.callerAuth.mode !== "off" && config.tlsCertificateArn === undefined) {
    warnings.push(`pixell-a2a:callerAuth is ${config.callerAuth.mode} but the A2A listener is plain TCP: callers' tokens cross the network in clear text${config.internetFacing ? " (the NLB is internet-facing)" : ""}. Set pixell-a2a:tlsCertificateArn and pixell-a2a:requireTls: true`);
  }
  if (config.tlsCertificateArn !== undefined && config.a2aDomainName === undefined) {
    warnings.push("pixell-a2a:tlsCertificateArn is set without pixell-a2a:a2aDomainName: the probe connects to the NLB's own DNS name, which the certificate does not name, so its TLS handshakes fail and every deployment reads unhealthy. Point a DNS name on the certificate at the NLB and set a2aDomainName to it");
  }
  warnings.push(...reachabilityWarnings(config));
  return warnings;
}

/** Where an allowed client, or the probe, would be refused although the config looks right. */
function reachabilityWarnings(config: StackConfig): string[] {
  const warnings: string[] = [];
  if (config.network.vpcId !== undefined && config.internetFacing && !admitsEveryone(config.allowedCidrs) && config.probeEgressCidrs.length === 0) {
    warnings.push("pixell-a2a:allowedCidrs does not admit every address and pixell-a2a:probeEgressCidrs is not set: the probe runs in your private subnets and reaches the internet-facing NLB from their NAT gateways' public addresses, which the NLB refuses unless allowedCidrs covers them, so every deployment would read unhealthy. Set probeEgressCidrs to those addresses as /32s (`aws ec2 describe-nat-gateways --filter Name=vpc-id,Values=<vpcId> --query 'NatGateways[].NatGatewayAddresses[].PublicIp'`)");
  }
  if (restPlacement(config.internetFacing).internal) {
    const publicRest = config.restAllowedCidrs.filter((c) => !isPrivateCidr(c));
    if (publicRest.length > 0) {
      warnings.push(`pixell-a2a:restAllowedCidrs lists ${publicRest.join(", ")}, outside private address space: PAR's REST API is on an internal NLB, reachable only from the VPC and networks routed to it (peering, Transit Gateway, VPN, Direct Connect), so these are admitted only if such a network carries them`);
    }
  }
  return warnings;
}

/** Read the stack's config from Pulumi (the `pixell-a2a` namespace and `aws:region`) and validate it. */
export function loadStackConfig(): StackConfig {
  const stackConfig = new pulumi.Config("pixell-a2a");
  const raw: Record<string, string | undefined> = {};
  for (const key of CONFIG_KEYS) raw[key] = stackConfig.get(key);
  const unknown = unknownKeys(Object.keys(rawProjectConfig()));
  if (unknown.length > 0) throw new ConfigError(unknown.map((k) => `pixell-a2a:${k} is not a key this stack reads (a typo?): known keys are ${CONFIG_KEYS.join(", ")}`));
  const names = stackNameProblems(pulumi.getProject(), pulumi.getStack());
  if (names.length > 0) throw new ConfigError(names);
  return parseStackConfig(raw, new pulumi.Config("aws").get("region") ?? DEFAULT_REGION);
}

/** Keys set under `pixell-a2a:` that this stack does not read. */
export function unknownKeys(keys: readonly string[]): string[] {
  return keys.filter((k) => !(CONFIG_KEYS as readonly string[]).includes(k));
}

/** The `pixell-a2a:*` keys present in the stack's config (without the namespace). */
function rawProjectConfig(): Record<string, string> {
  const all = pulumi.runtime.allConfig();
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(all)) if (k.startsWith("pixell-a2a:")) out[k.slice("pixell-a2a:".length)] = v;
  return out;
}
