/**
 * The benchmark's settings: `--quick` for CI, the full run by default, a few overrides.
 * Pure: argv in, validated settings out; a BenchUsageError names the bad flag.
 */
import { wholeNumber } from "../lib/settings";
import { parseArgs } from "node:util";

export class BenchUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BenchUsageError";
  }
}

export interface BenchOptions {
  readonly quick: boolean;
  /** Rounds of A B C D ...; every figure is the median over rounds. */
  readonly rounds: number;
  /** Seconds of each saturation run (h2load -D). */
  readonly saturationSeconds: number;
  /** Seconds of each concurrency-1 latency run (h2load -D). */
  readonly latencySeconds: number;
  /** Requests of the unmeasured warm-up run before each measured run. */
  readonly warmupRequests: number;
  /** h2load connections x streams per connection: the "c=64" load. */
  readonly connections: number;
  readonly streamsPerConnection: number;
  /** 1 MiB messages per server-streaming call. */
  readonly streamMessages: number;
  readonly streamMessageBytes: number;
  /** Registry sizes the router is measured at (lookup cost must not grow). */
  readonly registrySizes: readonly number[];
  readonly probe: { readonly deployments: number; readonly hungFraction: number; readonly timeoutMs: number; readonly concurrency: number } | undefined;
  /** Run the registry-lookup part (bench/registry-lookup.ts); `--no-registry` skips it. */
  readonly registry: boolean;
  /** Issue 17's rows (bench/open-streams.ts, bench/churn.ts); undefined with --no-streams. */
  readonly streams: { readonly idleSeconds: number; readonly unarySeconds: number; readonly churnSeconds: number } | undefined;
  /** Where the markdown table is written. */
  readonly out: string;
  /** When set, the main router runs with `node --cpu-prof` and writes its profile here. */
  readonly cpuProfDir: string | undefined;
}

export const BENCH_USAGE = "usage: npm run bench -- [--quick] [--rounds N] [--duration SECONDS] [--no-probe] [--no-registry] [--no-streams] [--churn-seconds S] [--out PATH] [--cpu-prof DIR]";

export const DEFAULT_OUT = "bench/results/latest.md";

function positiveInt(flag: string, raw: string | undefined, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  try {
    return wholeNumber(flag, raw, 1, max);
  } catch (err) {
    throw new BenchUsageError(`${(err as Error).message}\n${BENCH_USAGE}`);
  }
}

export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  let values: { quick?: boolean; rounds?: string; duration?: string; "no-probe"?: boolean; "no-registry"?: boolean; "no-streams"?: boolean; "churn-seconds"?: string; out?: string; "cpu-prof"?: string };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        quick: { type: "boolean" },
        rounds: { type: "string" },
        duration: { type: "string" },
        "no-probe": { type: "boolean" },
        "no-registry": { type: "boolean" },
        "no-streams": { type: "boolean" },
        "churn-seconds": { type: "string" },
        out: { type: "string" },
        "cpu-prof": { type: "string" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new BenchUsageError(`${(err as Error).message}\n${BENCH_USAGE}`);
  }
  const quick = values.quick === true;
  const saturationSeconds = positiveInt("--duration", values.duration, quick ? 2 : 10, 600);
  return {
    quick,
    rounds: positiveInt("--rounds", values.rounds, quick ? 1 : 3, 20),
    saturationSeconds,
    latencySeconds: quick ? Math.min(2, saturationSeconds) : Math.max(1, Math.round(saturationSeconds / 2)),
    warmupRequests: quick ? 2000 : 10000,
    connections: 4,
    streamsPerConnection: 16,
    streamMessages: quick ? 32 : 256,
    streamMessageBytes: 1024 * 1024,
    registrySizes: [1, 100, 10_000],
    probe: values["no-probe"] ? undefined : { deployments: 1000, hungFraction: 0.05, timeoutMs: 3000, concurrency: 64 },
    registry: values["no-registry"] !== true,
    streams: values["no-streams"] ? undefined : {
      idleSeconds: quick ? 3 : 10, unarySeconds: quick ? 3 : 10,
      churnSeconds: positiveInt("--churn-seconds", values["churn-seconds"], quick ? 5 : 30, 600),
    },
    out: values.out ?? DEFAULT_OUT,
    cpuProfDir: values["cpu-prof"],
  };
}
