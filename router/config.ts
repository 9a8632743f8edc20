/**
 * The router's configuration: flags first, then environment variables, then defaults.
 * Pure: takes argv and env, returns a validated config or throws a ConfigError naming the key.
 */
import { ROUTER_ENV } from "../lib/env-contract";
import { parseArgs } from "node:util";
import { hostPort, oneOf, SettingError, wholeNumber, type HostPort } from "../lib/settings";
import { parseRegistrySpec } from "../registry/chain";
import { AUTH_ENV_FLAGS, AuthConfigError, parseAuthConfig, type AuthConfig } from "./auth";
import { namespaceProblem, parseDimensions, type EmfSettings } from "./emf";
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_KEEPALIVE, type KeepaliveOptions } from "./keepalive";

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export type { HostPort };

/** Where the xDS server listens: TCP, or a Unix socket (what the task uses: only containers that mount it can connect). */
export type XdsListen = HostPort | { readonly socketPath: string };

export interface RouterConfig {
  readonly listen: HostPort;
  readonly admin: HostPort;
  readonly registry: string;
  readonly drainMs: number;
  readonly maxHops: number;
  readonly idleTimeoutMs: number;
  /** PING keepalive on agent connections (router/keepalive.ts); intervalMs 0: off. */
  readonly agentKeepalive: KeepaliveOptions;
  readonly agentConnectTimeoutMs: number;
  /** How often each cloudmap: source asks DiscoverInstancesRevision. */
  readonly cloudMapPollMs: number;
  readonly xds: XdsListen | undefined;
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

/** Every setting: flag name, environment variable, default. The README's table mirrors this. */
export const ROUTER_SETTINGS = {
  listen: { env: ROUTER_ENV.listen, default: "0.0.0.0:50052" },
  // Loopback: its clients are the container health check, Envoy and a sidecar scraper (docs/security.md).
  admin: { env: ROUTER_ENV.admin, default: "127.0.0.1:9902" },
  registry: { env: ROUTER_ENV.registry, default: undefined },
  "drain-ms": { env: ROUTER_ENV.drainMs, default: "20000" },
  "max-hops": { env: ROUTER_ENV.maxHops, default: "3" },
  "idle-timeout-ms": { env: ROUTER_ENV.idleTimeoutMs, default: "300000" },
  "agent-keepalive-ms": { env: ROUTER_ENV.agentKeepaliveMs, default: String(DEFAULT_KEEPALIVE.intervalMs) },
  "agent-keepalive-timeout-ms": { env: ROUTER_ENV.agentKeepaliveTimeoutMs, default: String(DEFAULT_KEEPALIVE.timeoutMs) },
  "agent-connect-timeout-ms": { env: ROUTER_ENV.agentConnectTimeoutMs, default: String(DEFAULT_CONNECT_TIMEOUT_MS) },
  "cloudmap-poll-ms": { env: ROUTER_ENV.cloudMapPollMs, default: "5000" },
  xds: { env: ROUTER_ENV.xds, default: undefined },
  "log-level": { env: ROUTER_ENV.logLevel, default: "info" },
  engine: { env: ROUTER_ENV.engine, default: DEFAULT_ENGINE },
  "emf-namespace": { env: ROUTER_ENV.emfNamespace, default: undefined },
  "emf-dimensions": { env: ROUTER_ENV.emfDimensions, default: undefined },
  "emf-interval-ms": { env: ROUTER_ENV.emfIntervalMs, default: "60000" },
} as const;

/** Parses `host:port` or `[v6]:port`; port 0 means "any free port". */
export function parseHostPort(value: string, key: string): HostPort {
  return asConfigError(() => hostPort(key, value, 0));
}

/**
 * `HOST:PORT`, or `unix:/absolute/path` for a Unix socket. Linux caps socket paths at 107 bytes
 * (unix(7)); a path must be a file, since an abstract `@name` is open to every process in the
 * network namespace.
 */
export function parseXdsListen(value: string, key: string): XdsListen {
  if (!value.startsWith("unix:")) return parseHostPort(value, key);
  const socketPath = value.slice("unix:".length);
  if (!socketPath.startsWith("/") || Buffer.byteLength(socketPath) > 107) {
    throw new ConfigError(`${key} must be HOST:PORT or unix:/ABSOLUTE/PATH of at most 107 bytes (for example unix:/var/run/pixell-xds/xds.sock), got ${JSON.stringify(value)}`);
  }
  return { socketPath };
}

function intSetting(value: string, key: string, min: number, max: number): number {
  return asConfigError(() => wholeNumber(key, value, min, max));
}

function asConfigError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof SettingError) throw new ConfigError(err.message);
    throw err;
  }
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
  asConfigError(() => oneOf(name("log-level"), logLevel, LOG_LEVELS));
  const xds = get("xds");
  let auth: AuthConfig;
  try {
    auth = parseAuthConfig(env, values);
  } catch (err) {
    if (err instanceof AuthConfigError) throw new ConfigError(err.message);
    throw err;
  }
  const keepaliveMs = get("agent-keepalive-ms")!;
  // 0 turns the keepalive off; below a second the PINGs would only add load.
  const intervalMs = asConfigError(() => {
    if (keepaliveMs.trim() === "0") return 0;
    try {
      return wholeNumber(name("agent-keepalive-ms"), keepaliveMs, 1000, 3_600_000);
    } catch {
      throw new SettingError(name("agent-keepalive-ms"), keepaliveMs, "0 (off) or a whole number from 1000 to 3600000");
    }
  });
  const agentKeepalive: KeepaliveOptions = {
    intervalMs,
    timeoutMs: intSetting(get("agent-keepalive-timeout-ms")!, name("agent-keepalive-timeout-ms"), 1000, 600_000),
  };
  const engine = get("engine")!;
  asConfigError(() => oneOf(name("engine"), engine, ROUTER_ENGINES));
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
    agentKeepalive,
    agentConnectTimeoutMs: intSetting(get("agent-connect-timeout-ms")!, name("agent-connect-timeout-ms"), 100, 600_000),
    cloudMapPollMs: intSetting(get("cloudmap-poll-ms")!, name("cloudmap-poll-ms"), 100, 3_600_000),
    xds: xds === undefined ? undefined : parseXdsListen(xds, name("xds")),
    logLevel,
    auth,
    engine: engine as RouterEngine,
    emf,
  };
}
