/**
 * The router's configuration: flags first, then environment variables, then defaults.
 * Pure: takes argv and env, returns a validated config or throws a ConfigError naming the key.
 */
import { parseArgs } from "node:util";
import { parseRegistrySpec } from "./registry/chain";
import { AUTH_ENV_FLAGS, AuthConfigError, parseAuthConfig, type AuthConfig } from "./auth";
import { namespaceProblem, parseDimensions, type EmfSettings } from "./emf";

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface RouterConfig {
  readonly listen: HostPort;
  readonly admin: HostPort;
  readonly registry: string;
  readonly drainMs: number;
  readonly maxHops: number;
  readonly idleTimeoutMs: number;
  /** How often each cloudmap: source asks DiscoverInstancesRevision. */
  readonly cloudMapPollMs: number;
  readonly xds: HostPort | undefined;
  readonly logLevel: string;
  /** Caller authentication (ROUTER_AUTH*); off unless set. */
  readonly auth: AuthConfig;
  readonly engine: RouterEngine;
  /** Calls in flight as an EMF metric on stdout (for auto scaling); undefined: off. */
  readonly emf: EmfSettings | undefined;
}

/** How the router forwards calls: `frames` relays HTTP/2 frames between raw sockets, `http2` uses Node's http2 module. */
export type RouterEngine = "frames" | "http2";
export const ROUTER_ENGINES: readonly RouterEngine[] = ["frames", "http2"];
export const DEFAULT_ENGINE: RouterEngine = "frames";

/**
 * Both engines fail the calls waiting on an agent connection that is not accepted in this long: a
 * task that is gone drops the SYN (no RST in a VPC), and the kernel's SYN retries take about two minutes.
 */
export const UPSTREAM_CONNECT_TIMEOUT_MS = 3000;

/** Every setting: flag name, environment variable, default. The README's table mirrors this. */
export const ROUTER_SETTINGS = {
  listen: { env: "ROUTER_LISTEN", default: "0.0.0.0:50052" },
  admin: { env: "ROUTER_ADMIN", default: "0.0.0.0:9902" },
  registry: { env: "ROUTER_REGISTRY", default: undefined },
  "drain-ms": { env: "ROUTER_DRAIN_MS", default: "20000" },
  "max-hops": { env: "ROUTER_MAX_HOPS", default: "3" },
  "idle-timeout-ms": { env: "ROUTER_IDLE_TIMEOUT_MS", default: "300000" },
  "cloudmap-poll-ms": { env: "ROUTER_CLOUDMAP_POLL_MS", default: "5000" },
  xds: { env: "ROUTER_XDS", default: undefined },
  "log-level": { env: "LOG_LEVEL", default: "info" },
  engine: { env: "ROUTER_ENGINE", default: DEFAULT_ENGINE },
  "emf-namespace": { env: "ROUTER_EMF_NAMESPACE", default: undefined },
  "emf-dimensions": { env: "ROUTER_EMF_DIMENSIONS", default: undefined },
  "emf-interval-ms": { env: "ROUTER_EMF_INTERVAL_MS", default: "60000" },
} as const;

/** Parses `host:port` or `[v6]:port`; port 0 means "any free port". */
export function parseHostPort(value: string, key: string): HostPort {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ConfigError(`${key} must be HOST:PORT (for example 0.0.0.0:50052 or [::1]:50052), got ${JSON.stringify(value)}`);
  return { host: m[1] ?? m[2]!, port };
}

function intSetting(value: string, key: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw new ConfigError(`${key} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

export function parseRouterConfig(argv: readonly string[], env: NodeJS.ProcessEnv): RouterConfig {
  let values: Record<string, string | undefined>;
  try {
    const options = Object.fromEntries([...Object.keys(ROUTER_SETTINGS), ...Object.values(AUTH_ENV_FLAGS)].map((k) => [k, { type: "string" as const }]));
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values as Record<string, string | undefined>;
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}. Flags: ${Object.keys(ROUTER_SETTINGS).map((k) => `--${k}`).join(" ")}`);
  }
  const get = (k: keyof typeof ROUTER_SETTINGS): string | undefined => {
    const s = ROUTER_SETTINGS[k];
    return values[k] ?? (env[s.env] !== undefined && env[s.env] !== "" ? env[s.env] : s.default);
  };
  const name = (k: keyof typeof ROUTER_SETTINGS): string => `--${k} (${ROUTER_SETTINGS[k].env})`;

  const registry = get("registry");
  if (registry === undefined) throw new ConfigError(`${name("registry")} is required: file:PATH, par:URL or cloudmap:NAMESPACE/SERVICE, comma-separated`);
  try {
    parseRegistrySpec(registry);
  } catch (err) {
    throw new ConfigError(`${name("registry")}: ${(err as Error).message}`);
  }
  const logLevel = get("log-level")!;
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`${name("log-level")} must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(logLevel)}`);
  const xds = get("xds");
  let auth: AuthConfig;
  try {
    auth = parseAuthConfig(env, values);
  } catch (err) {
    if (err instanceof AuthConfigError) throw new ConfigError(err.message);
    throw err;
  }
  const engine = get("engine")!;
  if (!(ROUTER_ENGINES as readonly string[]).includes(engine)) throw new ConfigError(`${name("engine")} must be one of ${ROUTER_ENGINES.join(", ")}, got ${JSON.stringify(engine)}`);
  const emfNamespace = get("emf-namespace");
  const emfDimensions = get("emf-dimensions");
  let emf: EmfSettings | undefined;
  if (emfNamespace === undefined) {
    if (emfDimensions !== undefined) throw new ConfigError(`${name("emf-dimensions")} is only used with ${name("emf-namespace")}: set the namespace too, or remove it`);
  } else {
    const problem = namespaceProblem(emfNamespace);
    if (problem) throw new ConfigError(`${name("emf-namespace")}: ${problem}`);
    let dimensions: Record<string, string>;
    try {
      dimensions = parseDimensions(emfDimensions ?? "");
    } catch (err) {
      throw new ConfigError(`${name("emf-dimensions")} (required with ${name("emf-namespace")}): ${(err as Error).message}, e.g. Stack=pixell-a2a-dev,Shard=agents`);
    }
    emf = { namespace: emfNamespace, dimensions, intervalMs: intSetting(get("emf-interval-ms")!, name("emf-interval-ms"), 1000, 3_600_000) };
  }
  return {
    listen: parseHostPort(get("listen")!, name("listen")),
    admin: parseHostPort(get("admin")!, name("admin")),
    registry,
    drainMs: intSetting(get("drain-ms")!, name("drain-ms"), 0, 3_600_000),
    maxHops: intSetting(get("max-hops")!, name("max-hops"), 1, 16),
    idleTimeoutMs: intSetting(get("idle-timeout-ms")!, name("idle-timeout-ms"), 1000, 86_400_000),
    cloudMapPollMs: intSetting(get("cloudmap-poll-ms")!, name("cloudmap-poll-ms"), 100, 3_600_000),
    xds: xds === undefined ? undefined : parseHostPort(xds, name("xds")),
    logLevel,
    auth,
    engine: engine as RouterEngine,
    emf,
  };
}
