/**
 * `file:PATH`: a JSON registry `{"deployments":[{"id","host","port"}]}` re-read when it
 * changes. A broken file keeps the last good table, so a bad edit never takes routing down.
 */
import { promises as fs, watch, watchFile, unwatchFile, type FSWatcher, type Stats } from "node:fs";
import * as path from "node:path";
import type { Logger } from "../lib/log";
import { silentLogger } from "../lib/log";
import { ChangeListeners } from "./listeners";
import { isValidDeploymentId, type DeploymentRecord, type RegistrySource, type Resolution } from "./types";

/** Parses and validates a registry file's text. Throws an Error naming the first problem found. */
export function parseRegistryFile(text: string): DeploymentRecord[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`registry file is not valid JSON: ${(err as Error).message}`);
  }
  const list = (doc as { deployments?: unknown } | null)?.deployments;
  if (!Array.isArray(list)) throw new Error('registry file must be an object with a "deployments" array');
  const seen = new Set<string>();
  return list.map((entry: unknown, i): DeploymentRecord => {
    const e = (entry ?? {}) as { id?: unknown; host?: unknown; port?: unknown };
    const where = `deployments[${i}]`;
    if (typeof e.id !== "string" || !isValidDeploymentId(e.id)) {
      throw new Error(`${where}.id must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$, got ${JSON.stringify(e.id)}`);
    }
    if (seen.has(e.id)) throw new Error(`${where}.id ${JSON.stringify(e.id)} appears twice`);
    seen.add(e.id);
    const host = e.host ?? "127.0.0.1";
    if (typeof host !== "string" || host === "" || /[\s/]/.test(host)) {
      throw new Error(`${where}.host must be a host name or IP address, got ${JSON.stringify(e.host)}`);
    }
    if (typeof e.port !== "number" || !Number.isInteger(e.port) || e.port < 1 || e.port > 65535) {
      throw new Error(`${where}.port must be an integer from 1 to 65535, got ${JSON.stringify(e.port)}`);
    }
    return { id: e.id, host, port: e.port };
  });
}

export interface FileSourceOptions {
  readonly path: string;
  /** How often the file's mtime is checked. Polling survives editors' rename-on-save, which fs.watch misses. */
  readonly pollIntervalMs?: number;
  readonly logger?: Logger;
}

export class FileSource implements RegistrySource {
  readonly description: string;
  private table = new Map<string, DeploymentRecord>();
  private readonly listeners = new ChangeListeners();
  private readonly logger: Logger;
  private loadedAt: number | undefined;
  private dirWatcher: FSWatcher | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private readonly onStat = (curr: Stats, prev: Stats): void => {
    if (curr.mtimeMs !== prev.mtimeMs || curr.size !== prev.size || curr.ino !== prev.ino) this.scheduleReload();
  };

  constructor(private readonly opts: FileSourceOptions) {
    this.description = `file:${opts.path}`;
    this.logger = opts.logger ?? silentLogger;
  }

  async start(): Promise<void> {
    await this.reload();
    // inotify on the directory sees writes and rename-on-save at once; the stat poll is the fallback
    // for filesystems where it is silent (network mounts, some container volumes).
    try {
      const base = path.basename(this.opts.path);
      this.dirWatcher = watch(path.dirname(this.opts.path), { persistent: false }, (_event, name) => {
        if (name === null || name === base) this.scheduleReload();
      });
      this.dirWatcher.on("error", () => this.dirWatcher?.close());
    } catch {
      this.dirWatcher = undefined;
    }
    watchFile(this.opts.path, { interval: this.opts.pollIntervalMs ?? 250, persistent: false }, this.onStat);
  }

  lookup(id: string): Resolution {
    return this.table.get(id);
  }

  list(): DeploymentRecord[] {
    return [...this.table.values()];
  }

  onChange(listener: () => void): () => void {
    return this.listeners.add(listener);
  }

  snapshotAgeSeconds(): number | undefined {
    return this.loadedAt === undefined ? undefined : (Date.now() - this.loadedAt) / 1000;
  }

  async close(): Promise<void> {
    unwatchFile(this.opts.path, this.onStat);
    this.dirWatcher?.close();
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
  }

  /** Coalesces the several events one save produces into one read. */
  private scheduleReload(): void {
    if (this.reloadTimer) return;
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = undefined;
      void this.reload();
    }, 20);
  }

  private async reload(): Promise<void> {
    let records: DeploymentRecord[];
    try {
      records = parseRegistryFile(await fs.readFile(this.opts.path, "utf8"));
    } catch (err) {
      this.logger.error({ source: this.description, err: (err as Error).message, kept: this.table.size },
        "registry file could not be loaded; keeping the last good table");
      return;
    }
    this.table = new Map(records.map((r) => [r.id, r]));
    this.loadedAt = Date.now();
    this.logger.info({ source: this.description, deployments: records.length }, "registry file loaded");
    this.listeners.notify(this.logger);
  }
}
