/**
 * Registry source backed by AWS Cloud Map (`cloudmap:NAMESPACE/SERVICE`).
 *
 * PAR registers one instance per deployment: instance id = deployment id, attributes
 * AWS_INSTANCE_IPV4 (the task's address) and AWS_INSTANCE_PORT (the agent's port).
 * The source keeps an in-memory snapshot so `lookup` never waits on the network:
 * every poll asks the cheap `DiscoverInstancesRevision` and only fetches the full list
 * (cloudmap-listing.ts) when the revision moved. When Cloud Map errors, the last good
 * snapshot keeps serving; `lastError` and `snapshotAgeSeconds()` say how stale it is.
 * A sharded registry is one source per shard (`cloudmap:NS/agents,cloudmap:NS/agents-1`):
 * one DiscoverInstancesRevision per shard per poll, and each shard's age and error of its own.
 */
import { ServiceDiscoveryClient, type HttpInstanceSummary } from "@aws-sdk/client-servicediscovery";
import { silentLogger, type Logger } from "../lib/log";
import type { SourceSpec } from "./chain";
import { isValidDeploymentId, type DeploymentRecord, type RegistrySource, type Resolution } from "./types";
import { ChangeListeners } from "./listeners";
import { CloudMapListingError, INSTANCES_PER_SERVICE, listService, serviceRevision, type CloudMapServiceRef } from "./cloudmap-listing";

export const DEFAULT_CLOUDMAP_POLL_INTERVAL_MS = 5000;

export interface CloudMapSourceOptions {
  /** Cloud Map namespace name (PAR's default is `pixell-runtime.local`). */
  readonly namespace: string;
  /** Cloud Map service name inside the namespace (PAR's default is `agents`). */
  readonly service: string;
  /** The SDK client; injected so tests (and callers with their own credentials) control it. */
  readonly client: ServiceDiscoveryClient;
  /** How often to ask DiscoverInstancesRevision. Default 5000 ms. */
  readonly pollIntervalMs?: number;
  readonly logger?: Logger;
}

/** Why an instance was left out of the snapshot, for logs. */
export interface SkippedInstance {
  readonly instanceId: string;
  readonly reason: string;
}

/**
 * Turns Cloud Map instance summaries into deployment records. Pure: instances with an
 * id that is not a valid deployment id, or without a usable IPv4 address and port, are
 * returned in `skipped` with the reason instead of being routed to.
 */
export function instancesToRecords(instances: readonly HttpInstanceSummary[]): { records: DeploymentRecord[]; skipped: SkippedInstance[] } {
  const records: DeploymentRecord[] = [];
  const skipped: SkippedInstance[] = [];
  const seen = new Set<string>();
  for (const inst of instances) {
    const id = inst.InstanceId ?? "";
    const attrs = inst.Attributes ?? {};
    const ip = attrs.AWS_INSTANCE_IPV4;
    const portText = attrs.AWS_INSTANCE_PORT;
    const port = portText !== undefined && /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
    let reason: string | undefined;
    if (!isValidDeploymentId(id)) reason = "instance id is not a valid deployment id";
    else if (seen.has(id)) reason = "duplicate instance id";
    else if (ip === undefined || !isIPv4(ip)) reason = `AWS_INSTANCE_IPV4 ${JSON.stringify(ip ?? null)} is not an IPv4 address`;
    else if (!(port >= 1 && port <= 65535)) reason = `AWS_INSTANCE_PORT ${JSON.stringify(portText ?? null)} is not a port (1-65535)`;
    if (reason) {
      skipped.push({ instanceId: id.slice(0, 64), reason });
      continue;
    }
    seen.add(id);
    records.push({ id, host: ip!, port });
  }
  records.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { records, skipped };
}

function isIPv4(s: string): boolean {
  const parts = s.split(".");
  return parts.length === 4 && parts.every((p) => /^[0-9]{1,3}$/.test(p) && Number(p) <= 255);
}

/** Parses the `NAMESPACE/SERVICE` part of a `cloudmap:` registry spec. Throws an Error naming the problem. */
export function parseCloudMapSpec(spec: string): { namespace: string; service: string } {
  const rest = spec.startsWith("cloudmap:") ? spec.slice("cloudmap:".length) : spec;
  const slash = rest.lastIndexOf("/");
  const namespace = slash > 0 ? rest.slice(0, slash) : "";
  const service = slash > 0 ? rest.slice(slash + 1) : "";
  if (!namespace || !service) {
    throw new Error(`invalid Cloud Map registry ${JSON.stringify(spec)}: expected cloudmap:NAMESPACE/SERVICE, e.g. cloudmap:pixell-runtime.local/agents`);
  }
  return { namespace, service };
}

function sameRecords(a: readonly DeploymentRecord[], b: readonly DeploymentRecord[]): boolean {
  return a.length === b.length && a.every((r, i) => r.id === b[i]!.id && r.host === b[i]!.host && r.port === b[i]!.port);
}

function errorText(err: unknown): string {
  // The source's description already names the service: keep Cloud Map's own error.
  if (err instanceof CloudMapListingError) return errorText(err.cause);
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

export class CloudMapSource implements RegistrySource {
  readonly description: string;
  /** The last Cloud Map error, cleared by the next successful poll. */
  lastError: string | undefined;

  private readonly namespace: string;
  private readonly service: string;
  private readonly client: ServiceDiscoveryClient;
  private readonly pollIntervalMs: number;
  private readonly log: Logger;
  private readonly listeners = new ChangeListeners();
  private byId = new Map<string, DeploymentRecord>();
  private records: DeploymentRecord[] = [];
  private revision: number | undefined;
  /** performance.now() of the last poll that confirmed the snapshot with Cloud Map. */
  private confirmedAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private closed = false;
  private warnedFull = false;

  constructor(opts: CloudMapSourceOptions) {
    if (!opts.namespace || !opts.service) throw new Error("CloudMapSource needs a namespace and a service name");
    const interval = opts.pollIntervalMs ?? DEFAULT_CLOUDMAP_POLL_INTERVAL_MS;
    if (!Number.isFinite(interval) || interval < 100) {
      throw new Error(`Cloud Map poll interval ${interval} ms is too short: use at least 100 ms (default ${DEFAULT_CLOUDMAP_POLL_INTERVAL_MS})`);
    }
    this.namespace = opts.namespace;
    this.service = opts.service;
    this.client = opts.client;
    this.pollIntervalMs = interval;
    this.description = `cloudmap:${opts.namespace}/${opts.service}`;
    this.log = (opts.logger ?? silentLogger).child({ source: this.description });
  }

  /** Loads the first snapshot, then polls. Resolves even when Cloud Map is unreachable (the source starts empty). */
  async start(): Promise<void> {
    await this.refresh();
    this.schedule();
  }

  lookup(id: string): Resolution {
    // Never loaded: "not registered" would be a lie, so the router answers UNAVAILABLE instead of NOT_FOUND.
    if (this.revision === undefined && this.lastError !== undefined) {
      throw new Error(`${this.description} has not answered yet (${this.lastError})`);
    }
    const r = this.byId.get(id);
    return r ? { host: r.host, port: r.port } : undefined;
  }

  list(): DeploymentRecord[] {
    return [...this.records];
  }

  onChange(listener: () => void): () => void {
    return this.listeners.add(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }

  /** Seconds since Cloud Map last confirmed the snapshot; Infinity before the first successful poll. */
  snapshotAgeSeconds(): number {
    return this.confirmedAt === undefined ? Infinity : (performance.now() - this.confirmedAt) / 1000;
  }

  /** The InstancesRevision the snapshot was taken at (undefined before the first successful fetch). */
  snapshotRevision(): number | undefined {
    return this.revision;
  }

  /**
   * One poll: revision check, and a full fetch only when the revision moved. Never rejects.
   * Concurrent callers share the poll in flight. Exposed for tests and for a forced refresh.
   */
  refresh(): Promise<void> {
    if (!this.inFlight) {
      this.inFlight = this.poll().finally(() => { this.inFlight = undefined; });
    }
    return this.inFlight;
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      void this.refresh().then(() => this.schedule());
    }, this.pollIntervalMs);
    // The poll timer alone must not keep a process alive (CLI, tests).
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    const ref: CloudMapServiceRef = { namespace: this.namespace, service: this.service };
    try {
      if (this.revision !== undefined && (await serviceRevision(this.client, ref)) === this.revision) {
        this.confirm();
        return;
      }
      const listing = await listService(this.client, ref);
      const { records, skipped } = instancesToRecords(listing.instances);
      for (const s of skipped) this.log.warn({ instanceId: s.instanceId, reason: s.reason }, "skipping Cloud Map instance");
      if (listing.full && !this.warnedFull) {
        // The quota is not adjustable: PAR's next RegisterInstance into this service fails.
        this.warnedFull = true;
        this.log.error({ instances: listing.instances.length, quota: INSTANCES_PER_SERVICE },
          "Cloud Map service is at its 1,000-instance quota: new deployments on this shard cannot register; add a shard (pixell-a2a:shards, docs/infra.md)");
      } else if (!listing.full) {
        this.warnedFull = false;
      }
      if (this.closed) return;
      const changed = !sameRecords(records, this.records);
      this.records = records;
      this.byId = new Map(records.map((r) => [r.id, r]));
      this.revision = listing.revision;
      this.confirm();
      if (changed) {
        this.log.info({ deployments: records.length, revision: this.revision }, "Cloud Map snapshot updated");
        this.listeners.notify(this.log);
      }
    } catch (err) {
      this.lastError = errorText(err);
      this.log.error(
        { err: this.lastError, deployments: this.records.length, snapshotAgeSeconds: this.snapshotAgeSeconds() },
        "Cloud Map poll failed; serving the last good snapshot",
      );
    }
  }

  private confirm(): void {
    this.confirmedAt = performance.now();
    this.lastError = undefined;
  }
}

/**
 * A `sourceFactory` for `startRouter` that builds the `cloudmap:` entries of a registry spec.
 * Without a client it makes one from the environment (region and credentials from the
 * task role, as every AWS SDK client does); one client is shared by every entry.
 */
export function cloudMapSourceFactory(opts: { client?: ServiceDiscoveryClient; pollIntervalMs?: number } = {}): (spec: SourceSpec, logger: Logger) => CloudMapSource | undefined {
  let client = opts.client;
  return (spec, logger) => {
    if (spec.kind !== "cloudmap") return undefined;
    client ??= createServiceDiscoveryClient(process.env);
    return new CloudMapSource({ namespace: spec.namespace, service: spec.service, client, pollIntervalMs: opts.pollIntervalMs, logger });
  };
}

/**
 * A Cloud Map client configured from the environment. With an endpoint override
 * (AWS_ENDPOINT_URL_SERVICEDISCOVERY or AWS_ENDPOINT_URL, e.g. LocalStack or a test fake) the
 * `data-` host prefix of DiscoverInstances is turned off: it only exists on AWS's own endpoint.
 */
export function createServiceDiscoveryClient(env: NodeJS.ProcessEnv): ServiceDiscoveryClient {
  const overridden = Boolean(env.AWS_ENDPOINT_URL_SERVICEDISCOVERY || env.AWS_ENDPOINT_URL);
  return new ServiceDiscoveryClient({ disableHostPrefix: overridden });
}
