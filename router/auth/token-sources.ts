/**
 * Where the bearer-token table comes from: a local file (re-read when it changes)
 * or an AWS Secrets Manager secret (re-read on an interval). Both keep the last
 * good table when a reload fails, and log the failure without the document.
 */
import { readFile } from "node:fs/promises";
import { watchFile, unwatchFile, type Stats } from "node:fs";
import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { Logger } from "../../lib/log";
import { secretsManagerSdk } from "./secrets-manager-sdk";
import { parseTokensDocument, type TokenTable } from "./tokens";

export interface TokenSource {
  readonly description: string;
  /** First load; rejects (with a message saying what to fix) when there is no usable table. */
  start(): Promise<void>;
  /** The current table; synchronous so the hot path never waits. */
  current(): TokenTable;
  close(): Promise<void>;
}

abstract class ReloadingTokenSource implements TokenSource {
  abstract readonly description: string;
  private table: TokenTable | undefined;
  private reloading: Promise<void> | undefined;

  constructor(protected readonly logger: Logger) {}

  protected abstract fetch(): Promise<string>;
  abstract close(): Promise<void>;

  async start(): Promise<void> {
    this.table = parseTokensDocument(await this.fetch(), this.description);
    this.logger.info({ source: this.description, tokens: this.table.size }, "auth tokens loaded");
  }

  current(): TokenTable {
    if (this.table === undefined) throw new Error(`${this.description}: start() has not completed`);
    return this.table;
  }

  /** Re-reads the document; on failure the previous table stays in force. Concurrent calls share one read. */
  reload(): Promise<void> {
    this.reloading ??= this.fetch()
      .then((text) => {
        this.table = parseTokensDocument(text, this.description);
        this.logger.info({ source: this.description, tokens: this.table.size }, "auth tokens reloaded");
      })
      .catch((err: unknown) => {
        // Our parse errors never quote the document; SDK errors carry no secret value.
        this.logger.warn({ source: this.description, err: String((err as Error)?.message ?? err) }, "auth tokens reload failed: keeping the last good tokens");
      })
      .finally(() => {
        this.reloading = undefined;
      });
    return this.reloading;
  }
}

export interface FileTokenSourceOptions {
  /** How often the file's metadata is polled for changes. Polling also survives editors and Kubernetes-style atomic renames. */
  readonly pollMs?: number;
}

/** Tokens from a local JSON file, re-read whenever its size or mtime changes. */
export class FileTokenSource extends ReloadingTokenSource {
  readonly description: string;
  private readonly onStat = (curr: Stats, prev: Stats): void => {
    if (curr.mtimeMs !== prev.mtimeMs || curr.size !== prev.size || curr.ino !== prev.ino) void this.reload();
  };

  constructor(private readonly path: string, logger: Logger, private readonly options: FileTokenSourceOptions = {}) {
    super(logger);
    this.description = `file:${path}`;
  }

  protected async fetch(): Promise<string> {
    try {
      return await readFile(this.path, "utf8");
    } catch (err) {
      throw new Error(`cannot read auth tokens file ${this.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}; check ROUTER_AUTH_TOKENS`);
    }
  }

  override async start(): Promise<void> {
    await super.start();
    watchFile(this.path, { persistent: false, interval: this.options.pollMs ?? 1000 }, this.onStat);
  }

  async close(): Promise<void> {
    unwatchFile(this.path, this.onStat);
  }
}

export interface SecretsManagerTokenSourceOptions {
  /** How often the secret is fetched again. Rotation takes effect within this interval. */
  readonly refreshMs?: number;
  /** Destroy the client on close (when this source made it). */
  readonly ownsClient?: boolean;
}

/** Tokens from a Secrets Manager secret (SecretString, or UTF-8 SecretBinary), refreshed on an interval. */
export class SecretsManagerTokenSource extends ReloadingTokenSource {
  readonly description: string;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly secretId: string,
    private readonly client: SecretsManagerClient,
    logger: Logger,
    private readonly options: SecretsManagerTokenSourceOptions = {},
  ) {
    super(logger);
    this.description = `secretsmanager:${secretId}`;
  }

  protected async fetch(): Promise<string> {
    const { GetSecretValueCommand } = secretsManagerSdk();
    let out;
    try {
      out = await this.client.send(new GetSecretValueCommand({ SecretId: this.secretId }));
    } catch (err) {
      const e = err as Error;
      throw new Error(`cannot read secret ${this.secretId} from Secrets Manager: ${e.name}: ${e.message}; check ROUTER_AUTH_TOKENS and the task role's secretsmanager:GetSecretValue permission`);
    }
    if (typeof out.SecretString === "string") return out.SecretString;
    if (out.SecretBinary) return Buffer.from(out.SecretBinary).toString("utf8");
    throw new Error(`secret ${this.secretId} has neither SecretString nor SecretBinary`);
  }

  override async start(): Promise<void> {
    await super.start();
    this.timer = setInterval(() => void this.reload(), this.options.refreshMs ?? 60_000);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.options.ownsClient) this.client.destroy();
  }
}
