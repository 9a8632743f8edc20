/**
 * The A2A client for PAC and other callers: calls an agent by deployment id.
 *
 * Every call carries `x-deployment-id`. When a resolver is configured (a registry source
 * such as the Cloud Map source) and it knows the deployment, the call goes straight to the
 * agent's task address (the internal path); otherwise it goes to the external endpoint
 * (the NLB, `PAR_A2A_ENDPOINT`), where Envoy and the router route it by the header.
 * One channel per address is kept and reused until `close()`.
 */
import { boolean, formatHostPort, hostPort, isUnset } from "../lib/settings";
import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import {
  agentServiceDefinition,
  AGENT_SERVICE_NAME,
  type ActionRequest,
  type ActionResult,
  type Capabilities,
  type Pong,
} from "../proto";
import { silentLogger, type Logger } from "../lib/log";
import { isValidDeploymentId, type Resolution } from "../registry/types";
import { checkHealth, STATUS_NAMES, type HealthCheckResult } from "../lib/health";

export const DEFAULT_A2A_ENDPOINT = "127.0.0.1:50051";
export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEPLOYMENT_ID_HEADER = "x-deployment-id";
export const DEFAULT_MAX_CHANNELS = 256;

/** Anything that can say where a deployment's agent listens: a `RegistrySource` fits. */
export interface DeploymentResolver {
  lookup(id: string): Resolution | Promise<Resolution>;
}

export interface A2AClientOptions {
  /** External endpoint `HOST:PORT`. Default: env PAR_A2A_ENDPOINT, else 127.0.0.1:50051. */
  readonly endpoint?: string;
  /** Internal path: when set and it resolves the id, calls go to the agent's task address directly. */
  readonly resolver?: DeploymentResolver;
  /**
   * Bearer token for a router with authentication on, sent as `authorization: Bearer <token>`
   * on calls to the external endpoint only (never to an agent directly: agents must not see
   * credentials). A function is called per call, so a rotated token is picked up.
   * Default: env PAR_A2A_TOKEN, else none.
   */
  readonly token?: string | (() => string);
  /** Default deadline per call, in ms. Default 10000. */
  readonly timeoutMs?: number;
  /**
   * Connect to the external endpoint with TLS (system CAs): for an NLB whose A2A listener
   * terminates TLS. Default: env PAR_A2A_TLS (`true`/`1`), else plaintext.
   */
  readonly tls?: boolean;
  /** Credentials for the external endpoint, overriding `tls` (e.g. `createSsl(myCa)`). Agents on the internal path are always plaintext. */
  readonly credentials?: grpc.ChannelCredentials;
  /** Extra grpc-js channel options, applied to every channel. */
  readonly channelOptions?: grpc.ChannelOptions;
  /**
   * Most channels kept open (one per address). Task addresses change as tasks are replaced, so
   * the least recently used channel is closed beyond this. Default 256.
   */
  readonly maxChannels?: number;
  readonly logger?: Logger;
}

export interface CallOptions {
  /** Deadline for this call in ms (overrides the client's default). */
  readonly timeoutMs?: number;
  /** Extra metadata to send (the deployment id header is always set by the client). */
  readonly metadata?: Record<string, string>;
  /**
   * The method has no side effects, so a call whose internal address is unreachable
   * (UNAVAILABLE) may be retried once through the external endpoint. True for Health,
   * Ping and DescribeCapabilities; false by default for `invoke` and `call`.
   */
  readonly idempotent?: boolean;
}

/** A failed call. Keeps the gRPC status so callers can branch on it. */
export class A2AError extends Error {
  /** gRPC status code, e.g. 5 for NOT_FOUND. */
  readonly code: number;
  /** Name of `code`, e.g. `NOT_FOUND`. */
  readonly codeName: string;
  /** The server's (or grpc-js's) status details. */
  readonly details: string;
  readonly deploymentId: string;
  readonly method: string;
  /** The address the call went to. */
  readonly address: string;
  /** Trailing metadata of the failed call, when there was any. */
  readonly metadata: grpc.Metadata | undefined;

  constructor(opts: { code: number; details: string; deploymentId: string; method: string; address: string; metadata?: grpc.Metadata }) {
    const codeName = STATUS_NAMES[opts.code] ?? String(opts.code);
    super(`${opts.method} on deployment ${opts.deploymentId} via ${opts.address} failed: ${codeName}: ${opts.details}`);
    this.name = "A2AError";
    this.code = opts.code;
    this.codeName = codeName;
    this.details = opts.details;
    this.deploymentId = opts.deploymentId;
    this.method = opts.method;
    this.address = opts.address;
    this.metadata = opts.metadata;
  }
}

/** Which way a call went, for callers that want to know (logs, the CLI's --json). */
export interface Route {
  readonly address: string;
  readonly path: "internal" | "external";
}

/** Validates a `HOST:PORT` endpoint; throws an Error saying what is expected. */
export function parseEndpoint(endpoint: string): { host: string; port: number } {
  const { host, port } = hostPort("endpoint", endpoint);
  return { host: host.includes(":") ? `[${host}]` : host, port };
}

/** Full method path for a short AgentService method name (`Invoke`) or a full path (`/pkg.Svc/Method`). */
export function methodPath(method: string): string {
  if (method.startsWith("/")) {
    if (!/^\/[A-Za-z0-9_.]+\/[A-Za-z0-9_]+$/.test(method)) {
      throw new Error(`invalid method path ${JSON.stringify(method)}: expected /package.Service/Method`);
    }
    return method;
  }
  if (!/^[A-Za-z0-9_]+$/.test(method)) throw new Error(`invalid method name ${JSON.stringify(method)}: expected e.g. Invoke or /pixell.agent.AgentService/Invoke`);
  return `/${AGENT_SERVICE_NAME}/${method}`;
}

/** The outcome of a Health call plus the way it went. */
export type HealthReport = HealthCheckResult & Route;

type Codec = { serialize: (v: unknown) => Buffer; deserialize: (b: Buffer) => unknown };

const IDENTITY: Codec = { serialize: (v) => v as Buffer, deserialize: (b) => b };

function codecFor(method: "Ping" | "DescribeCapabilities" | "Invoke"): Codec {
  const def = agentServiceDefinition()[method]!;
  return {
    serialize: def.requestSerialize as (v: unknown) => Buffer,
    deserialize: def.responseDeserialize as (b: Buffer) => unknown,
  };
}

export class A2AClient {
  readonly endpoint: string;
  private readonly resolver: DeploymentResolver | undefined;
  private readonly timeoutMs: number;
  /** For the external endpoint; internal (agent) addresses are task-internal plaintext ports. */
  private readonly credentials: grpc.ChannelCredentials;
  private readonly channelOptions: grpc.ChannelOptions;
  private readonly maxChannels: number;
  private readonly token: (() => string) | undefined;
  private readonly log: Logger;
  private readonly channels = new Map<string, grpc.Client>();
  private closed = false;

  constructor(opts: A2AClientOptions = {}) {
    this.endpoint = opts.endpoint ?? process.env.PAR_A2A_ENDPOINT ?? DEFAULT_A2A_ENDPOINT;
    parseEndpoint(this.endpoint);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new Error(`invalid timeout ${timeoutMs} ms: expected a positive number of milliseconds`);
    this.timeoutMs = timeoutMs;
    this.resolver = opts.resolver;
    const tls = opts.tls ?? parseTlsSetting(process.env.PAR_A2A_TLS);
    this.credentials = opts.credentials ?? (tls ? grpc.credentials.createSsl() : grpc.credentials.createInsecure());
    this.channelOptions = opts.channelOptions ?? {};
    const token = opts.token ?? (process.env.PAR_A2A_TOKEN || undefined);
    // An empty string means no token (an unset variable passed through as "").
    this.token = typeof token === "string" ? (token === "" ? undefined : () => token) : token;
    this.maxChannels = opts.maxChannels ?? DEFAULT_MAX_CHANNELS;
    if (!Number.isInteger(this.maxChannels) || this.maxChannels < 1) throw new Error(`invalid maxChannels ${this.maxChannels}: expected a whole number of at least 1`);
    this.log = (opts.logger ?? silentLogger).child({ component: "a2a-client" });
  }

  /**
   * Health, as data: resolves with `ok`, the gRPC code and the latency whatever the agent
   * answered (a failed health check is an answer, not an exception). Rejects only for an
   * invalid deployment id or a closed client.
   */
  async health(deploymentId: string, opts?: Pick<CallOptions, "timeoutMs">): Promise<HealthReport> {
    this.checkCallable(deploymentId, "Health");
    const timeoutMs = opts?.timeoutMs ?? this.timeoutMs;
    const started = Date.now();
    const route = await this.route(deploymentId);
    const result = await checkHealth(this.channel(route.address), deploymentId, timeoutMs);
    const remainingMs = timeoutMs - (Date.now() - started);
    if (result.code === grpc.status.UNAVAILABLE && route.path === "internal" && remainingMs > 0) {
      this.log.warn({ deploymentId, address: route.address }, "internal address unavailable; retrying Health through the external endpoint");
      const external = await checkHealth(this.channel(this.endpoint), deploymentId, remainingMs);
      return { ...external, address: this.endpoint, path: "external" };
    }
    return { ...result, ...route };
  }

  ping(deploymentId: string, opts?: CallOptions): Promise<Pong> {
    return this.unary("Ping", codecFor("Ping"), deploymentId, {}, { idempotent: true, ...opts }) as Promise<Pong>;
  }

  describeCapabilities(deploymentId: string, opts?: CallOptions): Promise<Capabilities> {
    return this.unary("DescribeCapabilities", codecFor("DescribeCapabilities"), deploymentId, {}, { idempotent: true, ...opts }) as Promise<Capabilities>;
  }

  /** Invoke an action. `requestId` defaults to a random UUID so the agent's logs can be joined with yours. */
  invoke(deploymentId: string, request: { action: string; parameters?: Record<string, string>; requestId?: string }, opts?: CallOptions): Promise<ActionResult> {
    const req: ActionRequest = { action: request.action, parameters: request.parameters ?? {}, requestId: request.requestId ?? randomUUID() };
    return this.unary("Invoke", codecFor("Invoke"), deploymentId, req, opts ?? {}) as Promise<ActionResult>;
  }

  /** Any unary method, bytes in and bytes out: for agent methods this client has no types for. */
  call(deploymentId: string, method: string, request: Buffer, opts?: CallOptions): Promise<Buffer> {
    return this.unary(methodPath(method), IDENTITY, deploymentId, request, opts ?? {}) as Promise<Buffer>;
  }

  /** Where a call for `deploymentId` would go now. Never rejects: a resolver failure means the external path. */
  async route(deploymentId: string): Promise<Route> {
    if (this.resolver) {
      try {
        const target = await this.resolver.lookup(deploymentId);
        if (target) return { address: formatHostPort(target.host, target.port), path: "internal" };
      } catch (err) {
        this.log.warn({ deploymentId, err: err instanceof Error ? err.message : String(err) }, "resolver failed; using the external endpoint");
      }
    }
    return { address: this.endpoint, path: "external" };
  }

  /** Closes every channel. Calls after this reject with "A2AClient is closed". */
  close(): void {
    this.closed = true;
    for (const c of this.channels.values()) c.close();
    this.channels.clear();
  }

  /** Number of open channels (one per address used so far). */
  get channelCount(): number {
    return this.channels.size;
  }

  private channel(address: string): grpc.Client {
    let c = this.channels.get(address);
    if (c) {
      // Map order is recency order: move this address to the end.
      this.channels.delete(address);
    } else {
      // The token rides only on the external endpoint's channel, added by an interceptor so the
      // shared checkHealth and every other call carry it without knowing about it.
      const external = address === this.endpoint;
      const interceptors = external && this.token ? [bearerInterceptor(this.token)] : [];
      const credentials = external ? this.credentials : grpc.credentials.createInsecure();
      c = new grpc.Client(address, credentials, { ...this.channelOptions, interceptors });
      for (const [oldest, channel] of this.channels) {
        if (this.channels.size < this.maxChannels) break;
        channel.close();
        this.channels.delete(oldest);
      }
    }
    this.channels.set(address, c);
    return c;
  }

  /** Fails fast, before any I/O, on a closed client or an id no router would accept. */
  private checkCallable(deploymentId: string, method: string): void {
    if (this.closed) throw new Error("A2AClient is closed: create a new one");
    if (!isValidDeploymentId(deploymentId)) {
      throw new A2AError({
        code: grpc.status.INVALID_ARGUMENT,
        details: `invalid deployment id ${JSON.stringify(deploymentId.slice(0, 64))}: expected 1-128 characters of [A-Za-z0-9._-], starting with a letter or digit`,
        deploymentId, method, address: "(not sent)",
      });
    }
  }

  private async unary(method: string, codec: Codec, deploymentId: string, request: unknown, opts: CallOptions): Promise<unknown> {
    this.checkCallable(deploymentId, method);
    const path = method.startsWith("/") ? method : `/${AGENT_SERVICE_NAME}/${method}`;
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const deadline = Date.now() + timeoutMs;
    const route = await this.route(deploymentId);
    try {
      return await this.send(route.address, path, codec, deploymentId, request, opts, deadline);
    } catch (err) {
      // A stale internal address (task gone, Cloud Map not yet updated): the external path can still route it.
      if (err instanceof A2AError && err.code === grpc.status.UNAVAILABLE && route.path === "internal" && opts.idempotent && Date.now() < deadline) {
        this.log.warn({ deploymentId, address: route.address, method: path }, "internal address unavailable; retrying through the external endpoint");
        return this.send(this.endpoint, path, codec, deploymentId, request, opts, deadline);
      }
      throw err;
    }
  }

  private send(address: string, path: string, codec: Codec, deploymentId: string, request: unknown, opts: CallOptions, deadline: number): Promise<unknown> {
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(opts.metadata ?? {})) metadata.set(k, v);
    metadata.set(DEPLOYMENT_ID_HEADER, deploymentId);
    return new Promise((resolve, reject) => {
      this.channel(address).makeUnaryRequest<unknown, unknown>(path, codec.serialize, codec.deserialize, request, metadata, { deadline }, (err, res) => {
        if (err) {
          reject(new A2AError({ code: err.code ?? grpc.status.UNKNOWN, details: err.details ?? err.message, deploymentId, method: path, address, metadata: err.metadata }));
        } else {
          resolve(res);
        }
      });
    });
  }
}

/** `PAR_A2A_TLS`: true/1 or false/0 (unset or empty: false). Throws naming the variable otherwise. */
export function parseTlsSetting(value: string | undefined, name = "PAR_A2A_TLS"): boolean {
  return isUnset(value) ? false : boolean(name, value);
}

function bearerInterceptor(token: () => string): grpc.Interceptor {
  return (options, nextCall) => new grpc.InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      metadata.set("authorization", `Bearer ${token()}`);
      next(metadata, listener);
    },
  });
}

