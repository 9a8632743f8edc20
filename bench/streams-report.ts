/**
 * The markdown of issue 17's two rows: 10,000 open server streams held through the router (its RSS,
 * CPU and fds while held, and unary latency with them against without), and connection churn (new
 * client connections per second, one call each). Pure: figures in, lines out.
 */

/** Unary latency of one closed-loop run (h2load), µs. */
export interface UnaryRun {
  readonly requests: number;
  readonly errors: number;
  readonly p50Us: number;
  readonly p99Us: number;
}

export interface OpenStreamsFigures {
  readonly connections: number;
  readonly streamsPerConnection: number;
  readonly agents: number;
  /** Streams that got their first message, and those that failed or never did (timeout). */
  readonly opened: number;
  readonly failed: number;
  /** Seconds from the first connect to the last first message. */
  readonly openSeconds: number;
  /** The router's own count while held (pixell_router_active_streams on /metrics). */
  readonly routerActiveStreams: number;
  /** Streams still open at the end of the hold (none closed under us). */
  readonly stillOpen: number;
  readonly idleSeconds: number;
  readonly rssMiB: { readonly before: number; readonly held: number; readonly after: number };
  /** Router CPU (utime + stime) over the idle hold, as % of one core. */
  readonly idleCpuPercent: number;
  readonly fds: { readonly before: number; readonly held: number; readonly after: number };
  /** The same load before the streams were opened: not part of the ratio, it shows the run-to-run noise. */
  readonly beforeStreams?: UnaryRun;
  readonly withStreams: UnaryRun;
  readonly withoutStreams: UnaryRun;
  /** How the unary load was run (h2load command summary). */
  readonly unaryLoad: string;
  /** Context: the router's per-connection stream limit and this machine's fd limit. */
  readonly notes: readonly string[];
}

export interface ChurnFigures {
  readonly targetPerSecond: number;
  readonly seconds: number;
  readonly attempted: number;
  readonly succeeded: number;
  /** Connections started per second of the paced window (what the machine sustained). */
  readonly achievedPerSecond: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
  /** Failed calls by kind (connect error code, HTTP status, grpc-status, timeout). */
  readonly errors: Readonly<Record<string, number>>;
  readonly fds: { readonly before: number; readonly end: number; readonly after: number };
  /** Seconds after the last call the "after" fd count was read. */
  readonly settleSeconds: number;
  /** How far "after" may be from "before" and still count as back to baseline. */
  readonly fdTolerance: number;
  readonly notes: readonly string[];
}

/** The goal of issue 17: unary p50 and p99 with the streams held at most this times those without. */
export const UNARY_RATIO_GOAL = 1.2;

const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n) ? n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }) : "–";
const fmtRatio = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(2)}×` : "–");

function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  return [`| ${header.join(" | ")} |`, `| ${header.map((_, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`, ...rows.map((r) => `| ${r.join(" | ")} |`)];
}

/** with ÷ without, NaN when either is missing or the base is 0. */
export function latencyRatio(withUs: number, withoutUs: number): number {
  return Number.isFinite(withUs) && Number.isFinite(withoutUs) && withoutUs > 0 ? withUs / withoutUs : NaN;
}

/** Whether p50 and p99 both meet the goal; undefined when either was not measured. */
export function unaryGoalMet(f: Pick<OpenStreamsFigures, "withStreams" | "withoutStreams">): boolean | undefined {
  const r50 = latencyRatio(f.withStreams.p50Us, f.withoutStreams.p50Us);
  const r99 = latencyRatio(f.withStreams.p99Us, f.withoutStreams.p99Us);
  if (!Number.isFinite(r50) || !Number.isFinite(r99)) return undefined;
  return r50 <= UNARY_RATIO_GOAL && r99 <= UNARY_RATIO_GOAL;
}

export function fdsBackToBaseline(f: Pick<ChurnFigures, "fds" | "fdTolerance">): boolean {
  return Math.abs(f.fds.after - f.fds.before) <= f.fdTolerance;
}

const errorList = (errors: Readonly<Record<string, number>>): string => {
  const kinds = Object.entries(errors).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  return kinds.length === 0 ? "none" : kinds.map(([k, n]) => `${k}: ${fmt(n)}`).join(", ");
};

/** Section "10,000 open streams"; a string is the reason it was not measured. */
export function renderOpenStreams(f: OpenStreamsFigures | string): string[] {
  if (typeof f === "string") return [f, ""];
  const total = f.connections * f.streamsPerConnection;
  const met = unaryGoalMet(f);
  const out: string[] = [
    `${fmt(total)} server-streaming calls (\`/pixell.test.Echo/Hold\`: one message, then open and idle) over ${fmt(f.connections)} client connections ` +
      `(node:http2, ${fmt(f.streamsPerConnection)} streams each) to ${fmt(f.agents)} agents; opened in ${fmt(f.openSeconds, 1)} s, held idle ${fmt(f.idleSeconds)} s.`,
    "",
    ...table(["figure", "before", `${fmt(total)} held`, "after close"], [
      ["streams with their first message", "–", `${fmt(f.opened)} (failed ${fmt(f.failed)}; router counts ${fmt(f.routerActiveStreams)} active; ${fmt(f.stillOpen)} still open at the end)`, "–"],
      ["router RSS (MiB)", fmt(f.rssMiB.before, 1), fmt(f.rssMiB.held, 1), fmt(f.rssMiB.after, 1)],
      ["router CPU while idle (% of a core)", "–", fmt(f.idleCpuPercent, 1), "–"],
      ["router fds", fmt(f.fds.before), fmt(f.fds.held), fmt(f.fds.after)],
    ]),
    "",
    `Unary through the same router (${f.unaryLoad}):`,
    "",
    ...table(["run", "requests", "errors", "p50 (µs)", "p99 (µs)"], [
      ...(f.beforeStreams ? [["before opening them (noise gauge, not in the ratio)", fmt(f.beforeStreams.requests), fmt(f.beforeStreams.errors), fmt(f.beforeStreams.p50Us), fmt(f.beforeStreams.p99Us)]] : []),
      [`with ${fmt(total)} streams held`, fmt(f.withStreams.requests), fmt(f.withStreams.errors), fmt(f.withStreams.p50Us), fmt(f.withStreams.p99Us)],
      ["without (after closing them)", fmt(f.withoutStreams.requests), fmt(f.withoutStreams.errors), fmt(f.withoutStreams.p50Us), fmt(f.withoutStreams.p99Us)],
      ["with ÷ without", "", "", fmtRatio(latencyRatio(f.withStreams.p50Us, f.withoutStreams.p50Us)), fmtRatio(latencyRatio(f.withStreams.p99Us, f.withoutStreams.p99Us))],
    ]),
    "",
    `Goal: p50 and p99 with ≤ ${UNARY_RATIO_GOAL}× without: ${met === undefined ? "not measured" : met ? "**met**" : "**not met**"}.`,
    "",
  ];
  for (const n of f.notes) out.push(`- ${n}`);
  if (f.notes.length > 0) out.push("");
  return out;
}

/** Section "Connection churn"; a string is the reason it was not measured. */
export function renderChurn(f: ChurnFigures | string): string[] {
  if (typeof f === "string") return [f, ""];
  const back = fdsBackToBaseline(f);
  const failed = f.attempted - f.succeeded;
  const out: string[] = [
    `${fmt(f.targetPerSecond)} new client connections per second for ${fmt(f.seconds)} s (node:http2: connect, one unary call, close), paced by a timer; ` +
      `latency is connect + call.`,
    "",
    ...table(["figure", "value"], [
      ["connections started (target)", `${fmt(f.attempted)} (${fmt(f.targetPerSecond * f.seconds)})`],
      ["rate sustained", `${fmt(f.achievedPerSecond)}/s of ${fmt(f.targetPerSecond)}/s`],
      ["calls OK", fmt(f.succeeded)],
      ["errors", `${fmt(failed)} (${errorList(f.errors)})`],
      ["p50 / p99 / max (µs)", `${fmt(f.p50Us)} / ${fmt(f.p99Us)} / ${fmt(f.maxUs)}`],
      [`router fds before / at the end / ${fmt(f.settleSeconds)} s after`, `${fmt(f.fds.before)} / ${fmt(f.fds.end)} / ${fmt(f.fds.after)}`],
      [`back to baseline (±${fmt(f.fdTolerance)})`, back ? "yes" : "**no**"],
    ]),
    "",
  ];
  for (const n of f.notes) out.push(`- ${n}`);
  if (f.notes.length > 0) out.push("");
  return out;
}
