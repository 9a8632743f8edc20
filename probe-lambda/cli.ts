/**
 * `npm run probe -- --endpoint HOST:PORT --registry file:PATH [--tasks HOST:PORT,...]
 * [--metrics none|stdout|cloudwatch] [--timeout-ms N] [--concurrency N] [--namespace NS]`: one probe run from a terminal.
 * stdout: EMF lines (with `--metrics stdout`), then the JSON summary as the last line.
 * stderr: a table for people. Exit 0 all healthy, 1 some not, 2 usage or discovery error.
 * PROBE_AUTH_TOKEN (environment): bearer token for a router with authentication on.
 */
import { parseArgs } from "node:util";
import { createProbeAwsClients } from "./aws-clients";
import { parseEndpoint, parseIntSetting, ProbeConfigError, PROBE_DEFAULTS } from "./config";
import { discoverFromCloudMap, discoverFromFile, DiscoveryError, type Discovery } from "./discover";
import { buildEmfLines, putBatches } from "./metrics";
import { createProbeClient } from "./probe";
import { formatProbeTable, runProbe, type MetricSink } from "./run";
import { targetsFromList } from "./targets";

export const USAGE = "usage: npm run probe -- --endpoint HOST:PORT --registry file:PATH|cloudmap:NAMESPACE/SERVICE " +
  "[--tasks HOST:PORT,...] [--metrics none|stdout|cloudwatch] [--timeout-ms N] [--concurrency N] [--namespace METRICS_NAMESPACE] [--tls]";

export type RegistrySpec = { readonly kind: "file"; readonly path: string } | { readonly kind: "cloudmap"; readonly namespace: string; readonly service: string };

export interface ProbeCliOptions {
  readonly endpoint: string;
  readonly registry: RegistrySpec;
  readonly metrics: "none" | "stdout" | "cloudwatch";
  readonly timeoutMs: number;
  readonly concurrency: number;
  readonly namespace: string;
  readonly tls: boolean;
  /** Each task behind the endpoint, probed directly (plaintext); empty: everything through the endpoint. */
  readonly tasks: readonly string[];
}

export function parseRegistrySpec(raw: string): RegistrySpec {
  if (raw.startsWith("file:") && raw.length > 5) return { kind: "file", path: raw.slice(5) };
  const m = /^cloudmap:([^/]+)\/([^/]+)$/.exec(raw);
  if (m) return { kind: "cloudmap", namespace: m[1]!, service: m[2]! };
  throw new ProbeConfigError(`--registry ${JSON.stringify(raw)} is not accepted: expected file:PATH (the router's registry file) or cloudmap:NAMESPACE/SERVICE`);
}

/** Parses the command line; throws ProbeConfigError (exit 2) with what was wrong. */
export function parseProbeArgs(argv: readonly string[]): ProbeCliOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        endpoint: { type: "string" },
        registry: { type: "string" },
        metrics: { type: "string", default: "none" },
        "timeout-ms": { type: "string" },
        concurrency: { type: "string" },
        namespace: { type: "string", default: PROBE_DEFAULTS.metricsNamespace },
        tls: { type: "boolean", default: false },
        tasks: { type: "string" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new ProbeConfigError(err instanceof Error ? err.message : String(err));
  }
  if (values.registry === undefined) throw new ProbeConfigError("--registry is required: file:PATH or cloudmap:NAMESPACE/SERVICE");
  const metrics = values.metrics;
  if (metrics !== "none" && metrics !== "stdout" && metrics !== "cloudwatch") {
    throw new ProbeConfigError(`--metrics ${JSON.stringify(metrics)} is not accepted: expected none, stdout or cloudwatch`);
  }
  return {
    endpoint: parseEndpoint("--endpoint", values.endpoint),
    registry: parseRegistrySpec(values.registry),
    metrics,
    timeoutMs: parseIntSetting("--timeout-ms", values["timeout-ms"], PROBE_DEFAULTS.timeoutMs, 100, 60_000),
    concurrency: parseIntSetting("--concurrency", values.concurrency, PROBE_DEFAULTS.concurrency, 1, 1024),
    namespace: values.namespace,
    tls: values.tls,
    tasks: (values.tasks ?? "").split(",").map((t) => t.trim()).filter((t) => t !== "").map((t) => parseEndpoint("--tasks", t)),
  };
}

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

const processIo: CliIo = {
  stdout: (t) => { process.stdout.write(t); },
  stderr: (t) => { process.stderr.write(t); },
};

/** Runs the command; resolves to the exit status. AWS clients use the default credential chain. */
export async function main(argv: readonly string[], io: CliIo = processIo, env: Readonly<Record<string, string | undefined>> = process.env): Promise<number> {
  let opts: ProbeCliOptions;
  try {
    opts = parseProbeArgs(argv);
  } catch (err) {
    io.stderr(`${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    return 2;
  }
  const registry = opts.registry;
  // The same bounded clients as the Lambda (aws-clients.ts): a hung AWS call fails the command instead of holding it.
  const aws = registry.kind === "cloudmap" || opts.metrics === "cloudwatch"
    ? createProbeAwsClients({ disableHostPrefix: Boolean(env.AWS_ENDPOINT_URL_SERVICEDISCOVERY ?? env.AWS_ENDPOINT_URL) })
    : undefined;
  const sd = registry.kind === "cloudmap" ? aws?.serviceDiscovery : undefined;
  const cw = opts.metrics === "cloudwatch" ? aws?.cloudWatch : undefined;
  const discover = (): Promise<Discovery> => (registry.kind === "file"
    ? discoverFromFile(registry.path)
    : discoverFromCloudMap(sd!, { namespace: registry.namespace, service: registry.service }));
  const sink: MetricSink | undefined = opts.metrics === "stdout"
    ? async (batches) => { for (const line of buildEmfLines(batches)) io.stdout(line + "\n"); }
    : cw
      ? async (batches) => {
        const put = await putBatches(cw, batches);
        for (const f of put.failed) io.stderr(`PutMetricData failed after ${f.attempts} attempts (${f.error}): ${f.lost.length} metric data lost\n`);
      }
      : undefined;

  // From the environment, not a flag: a token on the command line ends up in shell history and `ps`.
  const client = createProbeClient(opts.endpoint, { tls: opts.tls, bearerToken: env.PROBE_AUTH_TOKEN?.trim() || undefined });
  try {
    const summary = await runProbe({
      discover, client, timeoutMs: opts.timeoutMs, concurrency: opts.concurrency, metricsNamespace: opts.namespace,
      ...(opts.tasks.length === 0 ? {} : {
        discoverTargets: async () => ({ targets: targetsFromList(opts.tasks), skipped: [] }),
        taskClient: (t) => createProbeClient(t.id, { bearerToken: env.PROBE_AUTH_TOKEN?.trim() || undefined }),
      }),
      ...(sink ? { sink } : {}),
    });
    io.stderr(formatProbeTable(summary) + "\n");
    io.stdout(JSON.stringify({
      probed: summary.probed, healthy: summary.healthy, unhealthy: summary.unhealthy, notProbed: summary.notProbed, truncated: summary.truncated, durationMs: summary.durationMs,
      results: summary.results.map((r) => ({ deploymentId: r.deploymentId, ok: r.ok, code: r.code, codeName: r.codeName, message: r.message, latencyMs: r.latencyMs, via: r.via })),
      tasks: summary.tasks, endpoint: summary.endpoint, platformIncident: summary.platformIncident,
    }) + "\n");
    const allGood = summary.unhealthy === 0 && summary.notProbed === 0 && !summary.truncated && summary.endpoint.reachable && summary.tasks.every((t) => t.healthy);
    return allGood ? 0 : 1;
  } catch (err) {
    if (err instanceof DiscoveryError) {
      io.stderr(`probe failed: ${err.message}\n`);
      return 2;
    }
    throw err;
  } finally {
    client.close();
    aws?.destroy();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err: unknown) => {
    process.stderr.write(`probe crashed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 2;
  });
}
