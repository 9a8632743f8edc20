/**
 * The results as markdown: absolute figures, the same figures as ratios to direct and to
 * HAProxy (only ratios from one run compare across these shared machines), the router's
 * targets, the probe, the machine and the exact commands. Pure: figures in, text out.
 */
import { ratio } from "./stats";
import { renderChurn, renderOpenStreams, type ChurnFigures, type OpenStreamsFigures } from "./streams-report";

export type PathKind = "direct" | "router" | "nginx" | "haproxy";

/** Medians over the rounds for one path. NaN means "not measured on this path". */
export interface PathFigures {
  readonly name: string;
  readonly kind: PathKind;
  /** Registered deployments (router paths). */
  readonly registrySize?: number;
  readonly requestsPerSecond: number;
  readonly c1P50Us: number;
  readonly c1P99Us: number;
  readonly c64P50Us: number;
  readonly c64P99Us: number;
  /** CPU (user + system) of the proxy's processes per request, µs; the agent's for direct. */
  readonly cpuUsPerRequest: number;
  /** The user-space part of cpuUsPerRequest (utime; the rest is the kernel's, stime), µs. */
  readonly userUsPerRequest: number;
  /** Peak resident set (VmHWM) of the proxy's processes over the whole run (streaming included), MiB; the agent's for direct. */
  readonly peakRssMiB: number;
  /** Peak resident set over a c=64 run alone (the highest round), MiB. */
  readonly c64PeakRssMiB: number;
  /** RssAnon (private memory, no mapped files) at the end of a c=64 run (the highest round), MiB. */
  readonly c64AnonMiB: number;
  readonly streamMBps: number;
  /** Requests h2load counted as failed, errored or timed out, summed over all runs. */
  readonly errors: number;
}

export interface ProbeFigures {
  readonly label: string;
  readonly deployments: number;
  readonly hung: number;
  readonly timeoutMs: number;
  readonly concurrency: number;
  readonly wallMs: number;
  readonly healthy: number;
  readonly unhealthy: number;
  readonly putMetricDataRequests: number;
  readonly metricData: number;
}

export interface ReportInput {
  readonly title: string;
  readonly when: Date;
  readonly machine: readonly string[];
  readonly settings: readonly string[];
  readonly paths: readonly PathFigures[];
  /** Undefined when the probe part was skipped; the reason then. */
  readonly probe: readonly ProbeFigures[] | string;
  /** bench/registry-lookup-report.ts's table, or why the part was skipped; absent: no section. */
  readonly registryLookups?: string;
  /** Issue 17's rows; a string is why they were skipped; absent: not part of this report. */
  readonly openStreams?: OpenStreamsFigures | string;
  readonly churn?: ChurnFigures | string;
  readonly commands: readonly string[];
  /** Generated config files, shown in full (the temp dir is removed after the run). */
  readonly files: readonly { readonly name: string; readonly text: string }[];
}

const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n) ? n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }) : "–";
const fmtRatio = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(2)}×` : "–");

/** Latency the path adds at concurrency 1 over direct (p50, µs). */
export function addedLatencyUs(path: PathFigures, direct: PathFigures | undefined): number {
  return direct ? path.c1P50Us - direct.c1P50Us : NaN;
}

/** Issue 17's memory goal for the router under the c=64 load. */
export const PEAK_RSS_GOAL_MIB = 64;

export interface TargetCheck {
  readonly target: string;
  readonly router: number;
  readonly reference: number;
  readonly met: boolean | undefined;
}

/**
 * The router's targets in this run. Issue 7: CPU per request at or below nginx's, throughput at or
 * above nginx's, added p50 latency at c=1 within 2x HAProxy's. Issue 17: CPU per request at or below
 * HAProxy's, 1 MiB streaming at or above HAProxy's, peak RSS under the c=64 load at most 64 MiB.
 */
export function targetChecks(paths: readonly PathFigures[]): TargetCheck[] {
  const find = (kind: PathKind): PathFigures | undefined => paths.find((p) => p.kind === kind && p.registrySize === undefined) ?? paths.find((p) => p.kind === kind);
  const router = find("router");
  const nginx = find("nginx");
  const haproxy = find("haproxy");
  const direct = find("direct");
  if (!router || !nginx || !haproxy) return [];
  const check = (target: string, r: number, ref: number, ok: (r: number, ref: number) => boolean): TargetCheck =>
    ({ target, router: r, reference: ref, met: Number.isFinite(r) && Number.isFinite(ref) ? ok(r, ref) : undefined });
  return [
    check("CPU per request (µs) ≤ nginx's", router.cpuUsPerRequest, nginx.cpuUsPerRequest, (r, ref) => r <= ref),
    check("requests/s at c=64 ≥ nginx's", router.requestsPerSecond, nginx.requestsPerSecond, (r, ref) => r >= ref),
    check("added p50 latency at c=1 (µs) ≤ 2 × HAProxy's", addedLatencyUs(router, direct), 2 * addedLatencyUs(haproxy, direct), (r, ref) => r <= ref),
    check("CPU per request (µs) ≤ HAProxy's", router.cpuUsPerRequest, haproxy.cpuUsPerRequest, (r, ref) => r <= ref),
    check("1 MiB streaming (MB/s) ≥ HAProxy's", router.streamMBps, haproxy.streamMBps, (r, ref) => r >= ref),
    check("peak RSS under c=64 (MiB) ≤ 64", router.c64PeakRssMiB, PEAK_RSS_GOAL_MIB, (r, ref) => r <= ref),
  ];
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  return [`| ${header.join(" | ")} |`, `| ${header.map((_, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`, ...rows.map((r) => `| ${r.join(" | ")} |`)];
}

function ratioRows(paths: readonly PathFigures[], base: PathFigures, direct: PathFigures | undefined): string[][] {
  return paths.map((p) => [
    p.name,
    fmtRatio(ratio(p.requestsPerSecond, base.requestsPerSecond)),
    fmtRatio(ratio(p.c1P50Us, base.c1P50Us)),
    fmtRatio(ratio(p.c1P99Us, base.c1P99Us)),
    fmtRatio(ratio(addedLatencyUs(p, direct), addedLatencyUs(base, direct))),
    fmtRatio(ratio(p.c64P50Us, base.c64P50Us)),
    fmtRatio(ratio(p.c64P99Us, base.c64P99Us)),
    fmtRatio(ratio(p.cpuUsPerRequest, base.cpuUsPerRequest)),
    fmtRatio(ratio(p.userUsPerRequest, base.userUsPerRequest)),
    fmtRatio(ratio(p.c64PeakRssMiB, base.c64PeakRssMiB)),
    fmtRatio(ratio(p.peakRssMiB, base.peakRssMiB)),
    fmtRatio(ratio(p.streamMBps, base.streamMBps)),
  ]);
}

const RATIO_HEADER = ["path", "req/s", "p50 c=1", "p99 c=1", "added p50 c=1", "p50 c=64", "p99 c=64", "CPU/req", "user CPU/req", "peak RSS c=64", "peak RSS run", "stream MB/s"];

export function renderReport(input: ReportInput): string {
  const direct = input.paths.find((p) => p.kind === "direct");
  const haproxy = input.paths.find((p) => p.kind === "haproxy");
  const out: string[] = [`# ${input.title}`, "", `Run ${input.when.toISOString()}.`, "", "## Machine", "", ...input.machine.map((m) => `- ${m}`), "", "## Settings", "", ...input.settings.map((s) => `- ${s}`), ""];

  out.push("## Figures (median over rounds)", "");
  out.push(...table(
    ["path", "req/s (c=64)", "p50 / p99 c=1 (µs)", "added p50 c=1 (µs)", "p50 / p99 c=64 (µs)", "CPU µs/req (user + sys)", "peak RSS c=64 / run (MiB)", "anon c=64 (MiB)", "stream MB/s", "errors"],
    input.paths.map((p) => [
      p.name,
      fmt(p.requestsPerSecond),
      `${fmt(p.c1P50Us)} / ${fmt(p.c1P99Us)}`,
      p.kind === "direct" ? "–" : fmt(addedLatencyUs(p, direct)),
      `${fmt(p.c64P50Us)} / ${fmt(p.c64P99Us)}`,
      `${fmt(p.cpuUsPerRequest, 1)} (${fmt(p.userUsPerRequest, 1)} + ${fmt(p.cpuUsPerRequest - p.userUsPerRequest, 1)})`,
      `${fmt(p.c64PeakRssMiB, 1)} / ${fmt(p.peakRssMiB, 1)}`,
      fmt(p.c64AnonMiB, 1),
      fmt(p.streamMBps, 0),
      fmt(p.errors),
    ]),
  ), "");
  if (direct) out.push("### Ratio to direct", "", ...table(RATIO_HEADER, ratioRows(input.paths, direct, direct)), "");
  if (haproxy) out.push("### Ratio to HAProxy", "", ...table(RATIO_HEADER, ratioRows(input.paths, haproxy, direct)), "");

  const checks = targetChecks(input.paths);
  if (checks.length > 0) {
    out.push("### Router targets (this run)", "", ...table(["target", "router", "reference", "met"], checks.map((c) => [
      c.target, fmt(c.router, 1), fmt(c.reference, 1), c.met === undefined ? "not measured" : c.met ? "yes" : "**no**",
    ])), "");
  }

  out.push("## Probe over many deployments", "");
  if (typeof input.probe === "string") out.push(input.probe, "");
  else {
    out.push(...table(["run", "deployments", "hung", "timeout (ms)", "concurrency", "wall time (ms)", "healthy", "unhealthy", "PutMetricData requests", "metric data"],
      input.probe.map((p) => [p.label, fmt(p.deployments), fmt(p.hung), fmt(p.timeoutMs), fmt(p.concurrency), fmt(p.wallMs), fmt(p.healthy), fmt(p.unhealthy), fmt(p.putMetricDataRequests), fmt(p.metricData)])), "");
  }

  if (input.registryLookups !== undefined) out.push("## Registry lookups at 10,000 deployments", "", input.registryLookups.trimEnd(), "");
  if (input.openStreams !== undefined) out.push("## 10,000 open streams", "", ...renderOpenStreams(input.openStreams));
  if (input.churn !== undefined) out.push("## Connection churn", "", ...renderChurn(input.churn));

  out.push("## Commands", "", "Paths under /tmp/pixell-bench-* are the run's temp dir (removed afterwards); ports are picked free per run.", "", "```", ...input.commands, "```", "");
  for (const f of input.files) out.push(`<details><summary>${f.name}</summary>`, "", "```", f.text.trimEnd(), "```", "", "</details>", "");
  return out.join("\n");
}
