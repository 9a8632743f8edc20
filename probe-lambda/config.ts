/**
 * The probe's configuration, read from environment variables by one pure function so
 * a bad value fails the first invocation (and the test suite) with the key's name.
 */
import { PROBE_ENV as E } from "../lib/env-contract";
import { boolean, hostPort, isUnset, SettingError, wholeNumber } from "../lib/settings";

export interface ProbeConfig {
  /** `host:port` of the public A2A endpoint (the NLB's 50051 listener in AWS). */
  readonly endpoint: string;
  /** Connect with TLS (the NLB's TLS listener) instead of plaintext. */
  readonly tls: boolean;
  readonly cloudMapNamespace: string;
  /**
   * The Cloud Map services to list: one, or every shard of a sharded registry (CLOUDMAP_SERVICE
   * comma-separated), each with its id when CLOUDMAP_SERVICE_ID gives one (ListInstances completes a full page).
   */
  readonly cloudMapServices: readonly { readonly service: string; readonly serviceId?: string }[];
  readonly metricsNamespace: string;
  /** Deadline of each Health call. */
  readonly timeoutMs: number;
  /** Health calls in flight at once. */
  readonly concurrency: number;
  /** Time kept back from the Lambda's limit for emitting metrics: no probe starts inside it. */
  readonly reserveMs: number;
  /** Secrets Manager secret id/ARN holding the bearer token for a router with authentication on. */
  readonly authTokenSecret: string | undefined;
  /** The A2A target group: its targets (the tasks) are probed directly. Unset: everything through the endpoint. */
  readonly targetGroupArn: string | undefined;
  /** Deployments also probed through the endpoint when the tasks carry the rest. */
  readonly endpointSample: number;
  /** Share (%) of failing deployments that makes a run a platform incident (the fleet alarm's threshold). */
  readonly platformPercent: number;
}

export const PROBE_DEFAULTS = {
  cloudMapNamespace: "pixell-runtime.local",
  cloudMapService: "agents",
  metricsNamespace: "Pixell/A2A",
  timeoutMs: 3000,
  concurrency: 64,
  reserveMs: 5000,
  endpointSample: 3,
  platformPercent: 25,
  /** The A2A port on each task (Envoy), when a target is listed without one. */
  taskPort: 50051,
} as const;

/** A configuration value a user set wrong; the message names the key, the value and what is accepted. */
export class ProbeConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProbeConfigError";
  }
}

/** Checks `host:port` (a bracketed IPv6 host is accepted) and returns it trimmed. */
export function parseEndpoint(key: string, raw: string | undefined): string {
  if (isUnset(raw)) {
    throw new ProbeConfigError(`${key} is not set: set it to the host:port of the A2A endpoint, e.g. my-nlb.elb.us-east-2.amazonaws.com:50051`);
  }
  probeSetting(() => hostPort(key, raw));
  return raw.trim();
}

/** A whole number in [min, max]; `undefined` or empty gives the default. */
export function parseIntSetting(key: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  return isUnset(raw) ? fallback : probeSetting(() => wholeNumber(key, raw, min, max));
}

export function parseBoolSetting(key: string, raw: string | undefined, fallback: boolean): boolean {
  return isUnset(raw) ? fallback : probeSetting(() => boolean(key, raw));
}

function probeSetting<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof SettingError) throw new ProbeConfigError(err.message);
    throw err;
  }
}

function nonEmpty(key: string, raw: string | undefined, fallback: string): string {
  if (raw === undefined) return fallback;
  const v = raw.trim();
  if (v === "") throw new ProbeConfigError(`${key} is set but empty: unset it to use the default ${JSON.stringify(fallback)}`);
  return v;
}

/** CloudWatch namespaces: 1-255 characters, no leading colon, not `AWS/...` (reserved). */
function metricsNamespace(raw: string | undefined): string {
  const v = nonEmpty("METRICS_NAMESPACE", raw, PROBE_DEFAULTS.metricsNamespace);
  if (v.length > 255 || v.startsWith(":") || v.startsWith("AWS/") || !/^[A-Za-z0-9.\-_/#:]+$/.test(v)) {
    throw new ProbeConfigError(
      `METRICS_NAMESPACE=${JSON.stringify(raw)} is not accepted: expected 1-255 of [A-Za-z0-9.-_/#:], not starting with ':' or 'AWS/' (default ${PROBE_DEFAULTS.metricsNamespace})`,
    );
  }
  return v;
}

/** CLOUDMAP_SERVICE (`agents` or `agents,agents-1,...`) with CLOUDMAP_SERVICE_ID (none, or one id per service, same order). */
export function parseCloudMapServices(rawServices: string | undefined, rawIds: string | undefined): { service: string; serviceId?: string }[] {
  const services = nonEmpty("CLOUDMAP_SERVICE", rawServices, PROBE_DEFAULTS.cloudMapService).split(",").map((x) => x.trim());
  const name = /^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,125}[A-Za-z0-9_])?$/;
  const bad = services.find((x) => !name.test(x));
  if (bad !== undefined) {
    throw new ProbeConfigError(`CLOUDMAP_SERVICE=${JSON.stringify(rawServices)} is not accepted: expected Cloud Map service names, comma-separated (e.g. agents or agents,agents-1), got ${JSON.stringify(bad)}`);
  }
  if (new Set(services).size !== services.length) throw new ProbeConfigError(`CLOUDMAP_SERVICE=${JSON.stringify(rawServices)} names a service twice: list each shard once`);
  const ids = rawIds?.trim() ? rawIds.split(",").map((x) => x.trim()) : [];
  if (ids.length > 0 && ids.length !== services.length) {
    throw new ProbeConfigError(`CLOUDMAP_SERVICE_ID=${JSON.stringify(rawIds)} is not accepted: expected one service id per CLOUDMAP_SERVICE entry (${services.length}, same order), or none`);
  }
  return services.map((service, i) => (ids[i] ? { service, serviceId: ids[i] } : { service }));
}

/** An elbv2 target group ARN (`arn:<partition>:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>`), or unset. */
function targetGroupArn(raw: string | undefined): string | undefined {
  const v = raw?.trim();
  if (v === undefined || v === "") return undefined;
  if (!/^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]+$/.test(v)) {
    throw new ProbeConfigError(`PROBE_TARGET_GROUP_ARN=${JSON.stringify(raw)} is not accepted: expected a target group ARN, arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID (unset it to probe through the endpoint only)`);
  }
  return v;
}

/** Reads the Lambda's environment. Throws ProbeConfigError naming the first bad key. */
export function readProbeConfig(env: Readonly<Record<string, string | undefined>>): ProbeConfig {
  return {
    endpoint: parseEndpoint(E.endpoint, env[E.endpoint]),
    tls: parseBoolSetting(E.tls, env[E.tls], false),
    cloudMapNamespace: nonEmpty(E.cloudMapNamespace, env[E.cloudMapNamespace], PROBE_DEFAULTS.cloudMapNamespace),
    cloudMapServices: parseCloudMapServices(env[E.cloudMapService], env[E.cloudMapServiceId]),
    metricsNamespace: metricsNamespace(env[E.metricsNamespace]),
    timeoutMs: parseIntSetting(E.timeoutMs, env[E.timeoutMs], PROBE_DEFAULTS.timeoutMs, 100, 60_000),
    concurrency: parseIntSetting(E.concurrency, env[E.concurrency], PROBE_DEFAULTS.concurrency, 1, 1024),
    reserveMs: parseIntSetting(E.reserveMs, env[E.reserveMs], PROBE_DEFAULTS.reserveMs, 0, 600_000),
    authTokenSecret: env[E.authTokenSecret]?.trim() || undefined,
    targetGroupArn: targetGroupArn(env[E.targetGroupArn]),
    endpointSample: parseIntSetting(E.endpointSample, env[E.endpointSample], PROBE_DEFAULTS.endpointSample, 0, 100),
    platformPercent: parseIntSetting(E.platformPercent, env[E.platformPercent], PROBE_DEFAULTS.platformPercent, 1, 100),
  };
}
