/**
 * Issue 17's bench rows as markdown (bench/streams-report.ts), on fixed figures: the open-streams table
 * and its ≤ 1.2× goal, the churn table and its fds-back-to-baseline check, the sections in the bench
 * report and the options that turn them off. Pure: no sockets, no processes. No RFC rule is at stake
 * here (nothing on the wire is built or parsed); the figures come from bench/open-streams.ts and bench/churn.ts.
 */
import { strict as assert } from "node:assert";
import { BenchUsageError, parseBenchArgs } from "../../bench/options";
import { renderReport } from "../../bench/report";
import {
  fdsBackToBaseline, latencyRatio, renderChurn, renderOpenStreams, unaryGoalMet, UNARY_RATIO_GOAL,
  type ChurnFigures, type OpenStreamsFigures,
} from "../../bench/streams-report";

const open: OpenStreamsFigures = {
  connections: 1000, streamsPerConnection: 10, agents: 10,
  opened: 10_000, failed: 0, openSeconds: 12.8, routerActiveStreams: 10_000, stillOpen: 10_000, idleSeconds: 10,
  rssMiB: { before: 83.4, held: 118.9, after: 136 }, idleCpuPercent: 0.7,
  fds: { before: 33, held: 1033, after: 34 },
  beforeStreams: { requests: 26_632, errors: 0, p50Us: 2304, p99Us: 15_082 },
  withStreams: { requests: 28_127, errors: 0, p50Us: 2134, p99Us: 13_820 },
  withoutStreams: { requests: 29_121, errors: 0, p50Us: 2117, p99Us: 12_332 },
  unaryLoad: "h2load -c 8 -m 1",
  notes: ["a note"],
};

const churn: ChurnFigures = {
  targetPerSecond: 1000, seconds: 30, attempted: 30_000, succeeded: 29_990, achievedPerSecond: 1000,
  p50Us: 3599, p99Us: 74_761, maxUs: 135_310,
  errors: { ECONNRESET: 4, timeout: 6, "http 503": 0 },
  fds: { before: 23, end: 24, after: 23 }, settleSeconds: 2, fdTolerance: 5, notes: [],
};

describe("bench streams report (issue 17 rows)", () => {
  it("divides with by without, and is NaN when either is missing or the base is 0", () => {
    assert.equal(latencyRatio(240, 200), 1.2);
    assert.ok(Number.isNaN(latencyRatio(NaN, 200)));
    assert.ok(Number.isNaN(latencyRatio(100, 0)));
  });

  it("meets the goal only when p50 and p99 are both within 1.2×, and says when it was not measured", () => {
    assert.equal(UNARY_RATIO_GOAL, 1.2);
    assert.equal(unaryGoalMet(open), true);
    assert.equal(unaryGoalMet({ ...open, withStreams: { ...open.withStreams, p99Us: 12_332 * 1.21 } }), false);
    assert.equal(unaryGoalMet({ ...open, withStreams: { ...open.withStreams, p50Us: 2117 * 1.5 } }), false);
    assert.equal(unaryGoalMet({ ...open, withoutStreams: { ...open.withoutStreams, p99Us: NaN } }), undefined);
  });

  it("renders the open-streams table: counts, RSS, CPU, fds, the three unary runs, the ratios and the verdict", () => {
    const text = renderOpenStreams(open).join("\n");
    assert.match(text, /10,000 server-streaming calls .* over 1,000 client connections .* to 10 agents/);
    assert.match(text, /\| streams with their first message \| – \| 10,000 \(failed 0; router counts 10,000 active; 10,000 still open at the end\) \| – \|/);
    assert.match(text, /\| router RSS \(MiB\) \| 83\.4 \| 118\.9 \| 136\.0 \|/);
    assert.match(text, /\| router CPU while idle \(% of a core\) \| – \| 0\.7 \| – \|/);
    assert.match(text, /\| router fds \| 33 \| 1,033 \| 34 \|/);
    assert.match(text, /\| before opening them \(noise gauge, not in the ratio\) \| 26,632 \| 0 \| 2,304 \| 15,082 \|/);
    assert.match(text, /\| with 10,000 streams held \| 28,127 \| 0 \| 2,134 \| 13,820 \|/);
    assert.match(text, /\| with ÷ without \|  \|  \| 1\.01× \| 1\.12× \|/);
    assert.match(text, /Goal: p50 and p99 with ≤ 1\.2× without: \*\*met\*\*/);
    assert.match(text, /^- a note$/m);
    const missed = renderOpenStreams({ ...open, withStreams: { ...open.withStreams, p99Us: 20_000 } }).join("\n");
    assert.match(missed, /\*\*not met\*\*/);
    assert.match(missed, /1\.62×/);
  });

  it("renders the churn table: rate, errors by kind (largest first, zero kinds left out), latency, fds", () => {
    const text = renderChurn(churn).join("\n");
    assert.match(text, /1,000 new client connections per second for 30 s/);
    assert.match(text, /\| connections started \(target\) \| 30,000 \(30,000\) \|/);
    assert.match(text, /\| rate sustained \| 1,000\/s of 1,000\/s \|/);
    assert.match(text, /\| errors \| 10 \(timeout: 6, ECONNRESET: 4\) \|/);
    assert.doesNotMatch(text, /http 503/);
    assert.match(text, /\| p50 \/ p99 \/ max \(µs\) \| 3,599 \/ 74,761 \/ 135,310 \|/);
    assert.match(text, /\| router fds before \/ at the end \/ 2 s after \| 23 \/ 24 \/ 23 \|/);
    assert.match(text, /\| back to baseline \(±5\) \| yes \|/);
    assert.match(renderChurn({ ...churn, errors: {}, succeeded: 30_000 }).join("\n"), /\| errors \| 0 \(none\) \|/);
  });

  it("fds are back to baseline within the tolerance, either way, and not past it", () => {
    assert.equal(fdsBackToBaseline(churn), true);
    assert.equal(fdsBackToBaseline({ ...churn, fds: { before: 23, end: 900, after: 18 } }), true);
    assert.equal(fdsBackToBaseline({ ...churn, fds: { before: 23, end: 900, after: 29 } }), false);
    assert.match(renderChurn({ ...churn, fds: { before: 23, end: 900, after: 400 } }).join("\n"), /\| back to baseline \(±5\) \| \*\*no\*\* \|/);
  });

  it("a skipped part renders its reason", () => {
    assert.deepEqual(renderOpenStreams("Skipped (--no-streams)."), ["Skipped (--no-streams).", ""]);
    assert.deepEqual(renderChurn("Skipped (--no-streams)."), ["Skipped (--no-streams).", ""]);
  });

  it("the bench report has the two sections when given, and none when not", () => {
    const base = { title: "t", when: new Date(0), machine: [], settings: [], paths: [], probe: "Skipped (--no-probe).", commands: [], files: [] };
    const text = renderReport({ ...base, openStreams: open, churn: "Skipped (--no-streams)." });
    assert.match(text, /## 10,000 open streams\n\n10,000 server-streaming calls/);
    assert.match(text, /## Connection churn\n\nSkipped \(--no-streams\)\./);
    assert.ok(text.indexOf("## 10,000 open streams") < text.indexOf("## Commands"));
    assert.doesNotMatch(renderReport(base), /open streams|Connection churn/);
  });

  it("--no-streams turns both parts off; --churn-seconds shortens the churn; --quick shortens all", () => {
    assert.deepEqual(parseBenchArgs([]).streams, { idleSeconds: 10, unarySeconds: 10, churnSeconds: 30 });
    assert.deepEqual(parseBenchArgs(["--quick"]).streams, { idleSeconds: 3, unarySeconds: 3, churnSeconds: 5 });
    assert.equal(parseBenchArgs(["--no-streams"]).streams, undefined);
    assert.equal(parseBenchArgs(["--churn-seconds", "7"]).streams?.churnSeconds, 7);
    assert.throws(() => parseBenchArgs(["--churn-seconds", "0"]), (e: Error) => e instanceof BenchUsageError && /--churn-seconds/.test(e.message) && /--no-streams/.test(e.message));
  });
});
