/**
 * The probe on a timer, for the local mode (`npm start`): run now, then every
 * `intervalMs` after the previous run ended (runs never overlap), each printed as tables:
 * per deployment, per task (the routers given as `tasks`) and the endpoint, as in AWS.
 */
import { discoverFromFile } from "./discover";
import { EMPTY_MEMORY } from "./memory";
import { createProbeClient } from "./probe";
import { formatProbeTable, runProbe, type MemoryCell, type ProbeSummary } from "./run";
import { targetsFromList } from "./targets";

export interface ProbeLoopOptions {
  /** `host:port` of the router (the local A2A endpoint). */
  readonly endpoint: string;
  /** The router's registry file. */
  readonly registryPath: string;
  /** `host:port` of each task (router) behind the endpoint; default: the endpoint itself, as one task. */
  readonly tasks?: readonly string[];
  /** Default 15 000. */
  readonly intervalMs?: number;
  /** Default 3000. */
  readonly timeoutMs?: number;
  /** Default 16. */
  readonly concurrency?: number;
  /** Receives each run's table (or error), e.g. `(t) => process.stdout.write(t)`. */
  readonly write: (text: string) => void;
  /** Called with each summary (tests, or a caller that wants data, not text). */
  readonly onSummary?: (summary: ProbeSummary) => void;
}

export interface ProbeLoop {
  /** Stops the timer, waits for a run in progress, closes the channel. */
  stop(): Promise<void>;
}

export function startProbeLoop(opts: ProbeLoopOptions): ProbeLoop {
  const client = createProbeClient(opts.endpoint);
  const targets = targetsFromList(opts.tasks ?? [opts.endpoint]);
  const memory: MemoryCell = { memory: EMPTY_MEMORY };
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let current: Promise<void> = Promise.resolve();

  const runOnce = async (): Promise<void> => {
    try {
      const summary = await runProbe({
        discover: () => discoverFromFile(opts.registryPath),
        discoverTargets: async () => ({ targets, skipped: [] }),
        taskClient: (t) => createProbeClient(t.id),
        memory,
        client,
        timeoutMs: opts.timeoutMs ?? 3000,
        concurrency: opts.concurrency ?? 16,
      });
      opts.onSummary?.(summary);
      opts.write(`\nprobe ${new Date().toISOString()}\n${formatProbeTable(summary)}\n`);
    } catch (err) {
      opts.write(`\nprobe ${new Date().toISOString()} failed: ${err instanceof Error ? err.message : String(err)}\n`);
    }
    if (!stopped) timer = setTimeout(() => { current = runOnce(); }, opts.intervalMs ?? 15_000);
  };
  current = runOnce();

  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current;
      client.close();
    },
  };
}
