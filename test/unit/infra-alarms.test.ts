/**
 * The alarm plan as pure data, run through a model of CloudWatch's evaluation and notification
 * rules (test/helpers/cloudwatch-alarm-model.ts cites them), with the probe's own series logic
 * (probe-lambda/memory.ts, attribution.ts) producing the datapoints. And the cost function.
 */
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { alarmPlan, contributorWindow, type AlarmSpec, type MetricAlarmSpec } from "../../infra/alarm-plan";
import { CLOUDWATCH_LIST_PRICES, FLEET_METRICS, monthlyCost, previousDesignMetricsCost, runsPerMonth } from "../../infra/cost";
import { isPlatformIncident } from "../../probe-lambda/attribution";
import { planSeries, type SeriesMemory } from "../../probe-lambda/memory";
import { RECOVERY_TAIL_RUNS } from "../../probe-lambda/run";
import { runAlarm, runComposite, runContributorAlarm, type Datapoint, type Evaluation, type State } from "../helpers/cloudwatch-alarm-model";

const URL = "https://us-east-2.console.aws.amazon.com/cloudwatch/home?region=us-east-2#dashboards:name=pixell-a2a-prod";
const settings = { project: "pixell-a2a", stack: "prod", namespace: "Pixell/A2A", probeSchedule: "rate(1 minute)", dashboardUrl: URL, probeLambdaTimeoutSeconds: 30, unhealthyPercent: 25, minDeploymentsProbed: 1 };
const ids = { loadBalancer: "net/a2a-nlb/1", a2aTargetGroup: "targetgroup/a2a-a2a/1", probeFunctionName: "pixell-a2a-prod-probe" };
const plan: AlarmSpec<string>[] = alarmPlan(ids, settings);
const alarm = (key: string): MetricAlarmSpec<string> => {
  const a = plan.find((x) => x.key === key);
  if (a?.kind !== "metric") throw new Error(`no metric alarm ${key}`);
  return a;
};

describe("infra alarms: the plan", () => {
  it("names every alarm <project>-<stack>-<what>, once", () => {
    assert.deepEqual(plan.map((a) => a.name), [
      "deployment-failing", "task-failing", "fleet-unhealthy", "endpoint-unreachable", "nlb-unhealthy-targets",
      "deployments-probed-low", "deployments-not-probed", "discovery-errors", "probe-errors", "probe-throttled", "probe-duration-near-timeout", "platform",
    ].map((w) => `pixell-a2a-prod-${w}`));
  });

  it("gives each a description with its meaning, three things to check and the dashboard URL, within PutMetricAlarm's 1024 characters", () => {
    for (const a of plan) {
      assert.ok(a.description.length <= 1024, `${a.name}: ${a.description.length}`);
      assert.match(a.description, /^A2A .+\. Check: 1\) .+ 2\) .+ 3\) .+ Dashboard: https:\/\/us-east-2\.console\.aws\.amazon\.com\/cloudwatch\/home\?region=us-east-2#dashboards:name=pixell-a2a-prod$/, a.name);
    }
  });

  it("alarms per deployment with a Metrics Insights GROUP BY query over the failure-only series, notifying on its own", () => {
    const a = alarm("deployment-failing");
    assert.deepEqual(a.queries, [{
      id: "failing", expression: 'SELECT MAX(DeploymentFailing) FROM SCHEMA("Pixell/A2A", DeploymentId) GROUP BY DeploymentId ORDER BY MAX() DESC',
      period: 60, label: "failing deployments", returnData: true,
    }]);
    assert.deepEqual([a.perContributor, a.notifies, a.inComposite, a.evaluationPeriods, a.datapointsToAlarm, a.comparisonOperator, a.threshold, a.treatMissingData],
      [true, true, false, 3, 2, "GreaterThanThreshold", 0, "notBreaching"]);
    const t = alarm("task-failing");
    assert.equal(t.queries[0]!.expression, 'SELECT MAX(TaskFailing) FROM SCHEMA("Pixell/A2A", Task) GROUP BY Task ORDER BY MAX() DESC');
    assert.deepEqual([t.perContributor, t.notifies, t.inComposite], [true, false, true]);
  });

  it("treats missing data as breaching on every 'saw nothing' alarm", () => {
    for (const key of ["deployments-probed-low", "deployments-not-probed", "discovery-errors", "probe-errors", "probe-throttled", "probe-duration-near-timeout"]) {
      assert.equal(alarm(key).treatMissingData, "breaching", key);
    }
    assert.deepEqual(alarm("deployments-probed-low").queries[0]!.metric, { namespace: "Pixell/A2A", metricName: "DeploymentsProbed", stat: "Minimum", period: 60 });
    assert.deepEqual([alarm("deployments-probed-low").comparisonOperator, alarm("deployments-probed-low").threshold], ["LessThanThreshold", 1]);
    // Lambda's own metrics: FILL so quiet periods read 0, on the probe function's dimension.
    for (const [key, metricName] of [["probe-errors", "Errors"], ["probe-throttled", "Throttles"], ["probe-duration-near-timeout", "Duration"]] as const) {
      const q = alarm(key).queries;
      assert.deepEqual(q[0]!.metric, { namespace: "AWS/Lambda", metricName, stat: metricName === "Duration" ? "Maximum" : "Sum", period: 60, dimensions: { FunctionName: "pixell-a2a-prod-probe" } });
      assert.deepEqual([q[1]!.expression, q[1]!.returnData], ["FILL(m, 0)", true]);
    }
    assert.equal(alarm("probe-duration-near-timeout").threshold, 24_000, "80 % of the 30 s timeout");
  });

  it("pages the fleet on the share of unhealthy deployments with the probe's own platform rule", () => {
    const a = alarm("fleet-unhealthy");
    assert.equal(a.queries.find((q) => q.returnData)!.expression, "IF(unhealthy >= 5, 100 * unhealthy / probed, 0)");
    assert.deepEqual([a.comparisonOperator, a.threshold], ["GreaterThanOrEqualToThreshold", 25]);
  });

  it("puts every platform and probe alarm into one composite, which alone notifies for them", () => {
    const composite = plan.at(-1)!;
    assert.equal(composite.kind, "composite");
    const members = plan.filter((a) => a.kind === "metric" && a.inComposite).map((a) => a.name);
    assert.equal(members.length, 10);
    assert.equal(composite.kind === "composite" && composite.rule, members.map((m) => `ALARM("${m}")`).join(" OR "));
    assert.ok(!members.includes("pixell-a2a-prod-deployment-failing"), "a failing customer deployment is not a platform page");
    assert.deepEqual(plan.filter((a) => a.kind === "metric" && a.notifies).map((a) => a.key), ["deployment-failing"]);
  });

  it("keeps the per-contributor window inside Metrics Insights' 3 hours for sparse schedules", () => {
    assert.deepEqual(contributorWindow(60), { period: 60, evaluationPeriods: 3, datapointsToAlarm: 2 });
    assert.deepEqual(contributorWindow(3600), { period: 3600, evaluationPeriods: 3, datapointsToAlarm: 2 });
    assert.deepEqual(contributorWindow(7200), { period: 7200, evaluationPeriods: 1, datapointsToAlarm: 1 });
    assert.deepEqual(contributorWindow(86400), { period: 10800, evaluationPeriods: 1, datapointsToAlarm: 1 });
  });
});

/** What the probe sends for DeploymentFailing over `runs` runs, each run's failing ids given. */
function deploymentSeries(failingPerRun: readonly (readonly string[])[], probedPerRun = 100, memoryLostAt?: number): Map<string, number>[] {
  let memory: SeriesMemory = { recent: new Map() };
  return failingPerRun.map((failing, run) => {
    if (run === memoryLostAt) memory = { recent: new Map() }; // a cold start
    const p = planSeries(memory, failing, [], RECOVERY_TAIL_RUNS, isPlatformIncident(probedPerRun, failing.length, settings.unhealthyPercent));
    memory = p.next;
    return new Map([...p.failing.map((id) => [id, 1] as const), ...p.recovered.map((id) => [id, 0] as const)]);
  });
}

const evaluation = (a: MetricAlarmSpec<string>): Evaluation => a;
const runs = (n: number, failing: (run: number) => string[]): string[][] => Array.from({ length: n }, (_, i) => failing(i));

describe("infra alarms: CloudWatch's notify-on-state-change rule, modelled", () => {
  // A customer's agent answers ok:false for days (A, from run 0); later B starts failing (run 30).
  const failing = runs(60, (i) => [...["A"], ...(i >= 30 ? ["B"] : [])]);

  it("the old fleet-total alarm (DeploymentsUnhealthy > 0) notifies once for A and never for B", () => {
    const unhealthy: Datapoint[] = failing.map((f) => f.length);
    const old = runAlarm(unhealthy, { evaluationPeriods: 3, datapointsToAlarm: 2, comparisonOperator: "GreaterThanThreshold", threshold: 0, treatMissingData: "notBreaching" });
    assert.deepEqual(old.notifications, [{ period: 2, state: "ALARM" }], "B's failure changes no state: no notification");
  });

  it("the per-deployment alarm notifies for B while A is still failing, naming each", () => {
    const model = runContributorAlarm(deploymentSeries(failing), evaluation(alarm("deployment-failing")));
    assert.deepEqual(model.notifications, [{ period: 1, contributor: "A", state: "ALARM" }, { period: 31, contributor: "B", state: "ALARM" }]);
    assert.deepEqual(model.inAlarm(40), ["A", "B"]);
  });

  it("clears a recovered deployment and pages again when it fails again, with or without the warm container's memory", () => {
    const flapping = runs(30, (i) => (i < 10 || i >= 20 ? ["A"] : []));
    const expected = [{ period: 1, contributor: "A", state: "ALARM" }, { period: 11, contributor: "A", state: "OK" }, { period: 21, contributor: "A", state: "ALARM" }];
    const warm = deploymentSeries(flapping);
    assert.deepEqual(runContributorAlarm(warm, evaluation(alarm("deployment-failing"))).notifications, expected);
    assert.deepEqual([10, 11, 12, 13].map((r) => warm[r]!.get("A")), [0, 0, 0, undefined], "three recovery 0s, then no series");
    // A cold start at the recovery: the series just stops, and missing data is not breaching.
    assert.deepEqual(runContributorAlarm(deploymentSeries(flapping, 100, 10), evaluation(alarm("deployment-failing"))).notifications, expected);
  });

  it("turns a platform outage into one composite page instead of a page per deployment, and names the stragglers after it", () => {
    // C fails all along; 40 of 100 fail in runs 5-14; afterwards two of them still fail.
    const outage = Array.from({ length: 40 }, (_, i) => `d${String(i).padStart(2, "0")}`);
    const failingRuns = runs(25, (i) => ["C", ...(i >= 5 && i < 15 ? outage : i >= 15 ? ["d00", "d01"] : [])]);
    const perDeployment = runContributorAlarm(deploymentSeries(failingRuns), evaluation(alarm("deployment-failing")));
    assert.deepEqual(perDeployment.notifications.filter((n) => n.state === "ALARM").map((n) => [n.period, n.contributor]), [[1, "C"], [16, "d00"], [16, "d01"]]);

    const fleet = alarm("fleet-unhealthy");
    // The alarm's expression, IF(unhealthy >= 5, 100 * unhealthy / probed, 0), on what the probe sends.
    const share: Datapoint[] = failingRuns.map((f) => (f.length >= 5 ? (100 * f.length) / 100 : 0));
    const fleetStates = runAlarm(share, evaluation(fleet)).states;
    const quiet: State[] = failingRuns.map(() => "OK");
    const composite = runComposite([fleetStates, quiet, quiet]);
    assert.deepEqual(composite.notifications, [{ period: 6, state: "ALARM" }, { period: 16, state: "OK" }]);
  });

  it("pages when the probe sees nothing: no data for two of three runs is breaching", () => {
    const probed: Datapoint[] = [100, 100, 100, undefined, undefined, 100, 100, 100, 0, 0, 100];
    // Runs 3-4 sent nothing (the probe did not run); runs 8-9 probed none.
    assert.deepEqual(runAlarm(probed, evaluation(alarm("deployments-probed-low"))).notifications, [
      { period: 4, state: "ALARM" }, { period: 6, state: "OK" }, { period: 9, state: "ALARM" },
    ]);
  });
});

describe("infra alarms: monthly CloudWatch cost of the design", () => {
  const perMonth = runsPerMonth(60);
  const cost = (deployments: number, failingDeployments: number): number =>
    monthlyCost(plan, { deployments, failingDeployments, failingTasks: 0, runsPerMonth: perMonth, logRetentionDays: 30 }).totalUsd;

  it("reproduces the issue's figures for the previous design (two metrics per deployment)", () => {
    assert.equal(previousDesignMetricsCost(1000), 601.5);
    assert.equal(previousDesignMetricsCost(10_000), 4000.5);
  });

  it("costs the same at 10, 1,000 and 10,000 healthy deployments, and $0.40 more per deployment failing all month (docs/probe.md's table)", () => {
    assert.equal(perMonth, 43_800);
    // Nine fleet metrics and RegisteredInstances for the one registry shard (issue 18).
    assert.equal(FLEET_METRICS, 10);
    // Pinned: docs/probe.md "Cost" shows these numbers.
    assert.deepEqual([10, 1000, 10_000].map((n) => cost(n, 0)), [7.96, 7.96, 7.96]);
    assert.deepEqual([10, 1000, 10_000].map((n) => cost(n, Math.max(1, n / 100))), [8.37, 12.06, 48.89]);
    assert.deepEqual([cost(1000, 1), cost(1000, 4)], [8.37, 9.6]);
    assert.ok(cost(1000, 4) <= 10, "target: at most $10 a month at 1,000 deployments (up to 4 failing all month)");
    const lines = monthlyCost(plan, { deployments: 1000, failingDeployments: 10, failingTasks: 0, runsPerMonth: perMonth, logRetentionDays: 30 }).lines;
    assert.deepEqual(lines.map((l) => [l.item, l.quantity, l.usd]), [
      ["fleet metrics (no dimension)", 10, 3],
      ["failure-only series (while failing)", 10, 3],
      ["PutMetricData requests", 43_800, 0.44],
      ["standard alarm metrics", 10, 1],
      ["Metrics Insights alarm metrics analyzed", 10, 1],
      ["composite alarms", 1, 0.5],
      ["dashboard", 1, 3],
      ["probe log ingestion (GB)", 0.219, 0.12],
    ]);
    assert.equal(CLOUDWATCH_LIST_PRICES.metricTiers[0]![1], 0.30);
  });
});

describe("infra alarms: what the docs show is what the code does", () => {
  it("docs/infra.md quotes the per-deployment alarm's description exactly", () => {
    const doc = readFileSync(join(__dirname, "..", "..", "docs", "infra.md"), "utf8");
    const quote = doc.split("\n").filter((l) => l.startsWith("> ")).map((l) => l.slice(2)).join(" ");
    assert.equal(quote, alarm("deployment-failing").description);
  });

  it("docs/probe.md's cost table is the cost function's output", () => {
    const doc = readFileSync(join(__dirname, "..", "..", "docs", "probe.md"), "utf8");
    const money = (n: number): string => `$${n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
    for (const n of [10, 1000, 10_000]) {
      const failing = Math.max(1, n / 100);
      const row = `| ${n.toLocaleString("en-US")} | ${money(monthlyCost(plan, { deployments: n, failingDeployments: 0, failingTasks: 0, runsPerMonth: runsPerMonth(60), logRetentionDays: 30 }).totalUsd)} | ` +
        `${money(monthlyCost(plan, { deployments: n, failingDeployments: failing, failingTasks: 0, runsPerMonth: runsPerMonth(60), logRetentionDays: 30 }).totalUsd)} (${failing} failing) | ${money(previousDesignMetricsCost(n))} |`;
      assert.ok(doc.includes(row), `docs/probe.md lacks the row: ${row}`);
    }
  });
});
