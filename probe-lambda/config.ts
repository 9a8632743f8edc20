/**
 * The probe's configuration, read from environment variables by one pure function so
 * a bad value fails the first invocation (and the test suite) with the key's name.
 */

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
}

export const PROBE_DEFAULTS = {
  cloudMapNamespace: "pixell-runtime.local",
  cloudMapService: "agents",
  metricsNamespace: "Pixell/A2A",
  timeoutMs: 3000,
  concurrency: 64,
  reserveMs: 5000,
} as const;

/** A configuration value a user set wrong; the message names the key, the value and what is accepted. */
export class ProbeConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProbeConfigError";
  }
}

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** Checks `host:port` (a bracketed IPv6 host is accepted) and returns it unchanged. */
export function parseEndpoint(key: string, raw: string | undefined): string {
  if (raw === undefined || raw.trim() === "") {
    throw new ProbeConfigError(`${key} is not set: set it to the host:port of the A2A endpoint, e.g. my-nlb.elb.us-east-2.amazonaws.com:50051`);
  }
  const value = raw.trim();
  const m = HOST_PORT.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new ProbeConfigError(`${key}=${JSON.stringify(raw)} is not host:port: expected e.g. 127.0.0.1:50051 (port 1-65535)`);
  }
  return value;
}

/** A whole number in [min, max]; `undefined` or empty gives the default. */
export function parseIntSetting(key: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw.trim() === "") return fallback;
  const n = Number(raw.trim());
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ProbeConfigError(`${key}=${JSON.stringify(raw)} is not accepted: expected a whole number from ${min} to ${max} (default ${fallback})`);
  }
  return n;
}

export function parseBoolSetting(key: string, raw: string | undefined, fallback: boolean): boolean {
  if (raw === undefined || raw.trim() === "") return fallback;
  const v = raw.trim().toLowerCase();
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw new ProbeConfigError(`${key}=${JSON.stringify(raw)} is not accepted: expected true or false (default ${fallback})`);
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

/** Reads the Lambda's environment. Throws ProbeConfigError naming the first bad key. */
export function readProbeConfig(env: Readonly<Record<string, string | undefined>>): ProbeConfig {
  return {
    endpoint: parseEndpoint("PROBE_ENDPOINT", env.PROBE_ENDPOINT),
    tls: parseBoolSetting("PROBE_TLS", env.PROBE_TLS, false),
    cloudMapNamespace: nonEmpty("CLOUDMAP_NAMESPACE", env.CLOUDMAP_NAMESPACE, PROBE_DEFAULTS.cloudMapNamespace),
    cloudMapServices: parseCloudMapServices(env.CLOUDMAP_SERVICE, env.CLOUDMAP_SERVICE_ID),
    metricsNamespace: metricsNamespace(env.METRICS_NAMESPACE),
    timeoutMs: parseIntSetting("PROBE_TIMEOUT_MS", env.PROBE_TIMEOUT_MS, PROBE_DEFAULTS.timeoutMs, 100, 60_000),
    concurrency: parseIntSetting("PROBE_CONCURRENCY", env.PROBE_CONCURRENCY, PROBE_DEFAULTS.concurrency, 1, 1024),
    reserveMs: parseIntSetting("PROBE_RESERVE_MS", env.PROBE_RESERVE_MS, PROBE_DEFAULTS.reserveMs, 0, 600_000),
    authTokenSecret: env.PROBE_AUTH_TOKEN_SECRET?.trim() || undefined,
  };
}
