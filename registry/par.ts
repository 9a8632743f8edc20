/**
 * `par:URL`: PAR's REST API as it exists today, `GET {URL}/deployments/{id}/health`
 * answering 200 `{"status","healthy","ports":{"a2a":N}}` or 404. There is no list call,
 * so ids are looked up on a miss and cached. Hits and misses are cached for a short time,
 * one lookup per id is in flight at a time (a burst of calls shares it), and a stale hit
 * keeps routing while PAR is unreachable.
 */
import { LRUCache } from "lru-cache";
import type { Logger } from "../lib/log";
import { silentLogger } from "../lib/log";
import { ChangeListeners } from "./listeners";
import type { DeploymentRecord, RegistrySource, Resolution, Target } from "./types";

export interface ParSourceOptions {
  /** PAR's base URL, e.g. `http://127.0.0.1:8080`. Agents live where PAR lives, so its host is the agents' host. */
  readonly url: string;
  /** How long a found deployment is used before it is looked up again (served stale while refreshing). */
  readonly ttlMs?: number;
  /** How long "not found" is remembered. */
  readonly negativeTtlMs?: number;
  /** Per-request timeout for PAR. */
  readonly requestTimeoutMs?: number;
  /** Bound on cached ids, so a flood of unknown ids cannot grow memory. */
  readonly maxEntries?: number;
  readonly logger?: Logger;
  /** Injected for tests; defaults to the global fetch. */
  readonly fetch?: typeof fetch;
}

interface Entry {
  target: Target | undefined;
  expires: number;
}

/** What PAR's health answer means for routing: the agent's A2A port, or undefined when it has none. */
export function targetFromParHealth(body: unknown, host: string): Target | undefined {
  const port = (body as { ports?: { a2a?: unknown } } | null)?.ports?.a2a;
  return typeof port === "number" && Number.isInteger(port) && port > 0 && port < 65536 ? { host, port } : undefined;
}

export class ParSource implements RegistrySource {
  readonly description: string;
  private readonly base: string;
  private readonly host: string;
  /** Looked-up ids, bounded at maxEntries: the least recently used is evicted first (O(1), synchronous). */
  private readonly cache: LRUCache<string, Entry>;
  private readonly inflight = new Map<string, Promise<Resolution>>();
  private readonly listeners = new ChangeListeners();
  private readonly ttlMs: number;
  private readonly negativeTtlMs: number;
  private readonly timeoutMs: number;
  private readonly logger: Logger;
  private readonly fetchFn: typeof fetch;
  private lastSuccess: number | undefined;

  constructor(opts: ParSourceOptions) {
    const url = new URL(opts.url);
    this.base = url.toString().replace(/\/+$/, "");
    this.host = url.hostname.replace(/^\[|\]$/g, "");
    this.description = `par:${this.base}`;
    this.ttlMs = opts.ttlMs ?? 5000;
    this.negativeTtlMs = opts.negativeTtlMs ?? 1000;
    this.timeoutMs = opts.requestTimeoutMs ?? 2000;
    this.cache = new LRUCache({ max: opts.maxEntries ?? 10_000 });
    this.logger = opts.logger ?? silentLogger;
    this.fetchFn = opts.fetch ?? fetch;
  }

  async start(): Promise<void> {
    // Nothing to preload: PAR has no list call.
  }

  lookup(id: string): Resolution | Promise<Resolution> {
    const entry = this.cache.get(id);
    if (entry) {
      if (entry.expires > Date.now()) return entry.target;
      // Stale hit: answer now, refresh in the background.
      if (entry.target) {
        void this.fetchOnce(id).catch(() => undefined);
        return entry.target;
      }
    }
    return this.fetchOnce(id);
  }

  list(): DeploymentRecord[] {
    const out: DeploymentRecord[] = [];
    for (const [id, e] of this.cache.entries()) if (e.target) out.push({ id, ...e.target });
    return out;
  }

  onChange(listener: () => void): () => void {
    return this.listeners.add(listener);
  }

  snapshotAgeSeconds(): number | undefined {
    return this.lastSuccess === undefined ? undefined : (Date.now() - this.lastSuccess) / 1000;
  }

  async close(): Promise<void> {
    this.cache.clear();
  }

  private fetchOnce(id: string): Promise<Resolution> {
    let p = this.inflight.get(id);
    if (!p) {
      p = this.fetchFromPar(id).finally(() => this.inflight.delete(id));
      this.inflight.set(id, p);
    }
    return p;
  }

  private async fetchFromPar(id: string): Promise<Resolution> {
    const url = `${this.base}/deployments/${encodeURIComponent(id)}/health`;
    let target: Target | undefined;
    try {
      const res = await this.fetchFn(url, { signal: AbortSignal.timeout(this.timeoutMs) });
      if (res.status === 404) {
        await res.body?.cancel();
        target = undefined;
      } else if (res.ok) {
        target = targetFromParHealth(await res.json(), this.host);
        if (!target) this.logger.warn({ source: this.description, deploymentId: id }, "PAR knows the deployment but reports no a2a port");
      } else {
        await res.body?.cancel();
        throw new Error(`PAR answered HTTP ${res.status}`);
      }
    } catch (err) {
      const stale = this.cache.peek(id);
      this.logger.warn({ source: this.description, deploymentId: id, err: (err as Error).message, servingStale: Boolean(stale?.target) },
        "PAR lookup failed");
      if (stale?.target) return stale.target;
      throw new Error(`PAR API at ${this.base} could not be asked about ${id}: ${(err as Error).message}`);
    }
    this.lastSuccess = Date.now();
    this.remember(id, target);
    return target;
  }

  private remember(id: string, target: Target | undefined): void {
    const before = this.cache.peek(id)?.target;
    this.cache.set(id, { target, expires: Date.now() + (target ? this.ttlMs : this.negativeTtlMs) });
    if (before?.host !== target?.host || before?.port !== target?.port) this.listeners.notify(this.logger);
  }
}
