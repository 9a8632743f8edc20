/**
 * The probe's pure decisions: probe order, task assignment, who is to blame, the failure-only
 * series with their recovery 0s, and when a run is a platform incident.
 */
import { strict as assert } from "node:assert";
import fc from "fast-check";
import { endpointVerdict, isPlatformIncident, reportedOutcome, taskVerdicts } from "../../probe-lambda/attribution";
import { planSeries, type SeriesMemory } from "../../probe-lambda/memory";
import { probeOrder, shuffle } from "../../probe-lambda/order";
import { assignTasks, type Attempt, type ChannelCheck, type DeploymentOutcome } from "../../probe-lambda/probe";
import { probeableTargets } from "../../probe-lambda/targets";

/** A small deterministic PRNG (mulberry32), so a failing property shows its seed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const attempt = (deploymentId: string, via: string, ok: boolean, codeName = ok ? "OK" : "UNAVAILABLE"): Attempt =>
  ({ deploymentId, via, ok, code: ok ? 0 : 14, codeName, message: ok ? "fine" : "upstream connect error", latencyMs: 1 });
const outcome = (...attempts: Attempt[]): DeploymentOutcome => ({ ...attempts.at(-1)!, attempts });

describe("probe decisions: fair order", () => {
  const ids = Array.from({ length: 40 }, (_, i) => `dep-${String(i).padStart(2, "0")}`);

  it("puts the ids the last run skipped first, and shuffles the rest (the issue saw dep-20..dep-39 cut three runs in a row)", () => {
    const skipped = ids.slice(20);
    const order = probeOrder(ids, skipped, seeded(1));
    assert.deepEqual(order.slice(0, 20), skipped);
    assert.deepEqual([...order].sort(), ids);
    assert.notDeepEqual(order.slice(20), ids.slice(0, 20), "the rest is shuffled, not alphabetical");
  });

  it("never skips an id twice in a row when each run gets at least as far as the last one skipped", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 31 }), fc.integer({ min: 20, max: 40 }), (seed, budget) => {
      const random = seeded(seed);
      let skipped: string[] = [];
      for (let run = 0; run < 6; run++) {
        const order = probeOrder(ids, skipped, random);
        const now = order.slice(budget);
        for (const id of now) assert.ok(!skipped.includes(id), `run ${run}: ${id} skipped twice in a row`);
        skipped = now;
      }
    }), { numRuns: 200 });
  });

  it("drops skipped ids that are no longer registered, and shuffles as a permutation", () => {
    assert.deepEqual(probeOrder(["a", "b"], ["gone", "b"], seeded(3)).slice(0, 1), ["b"]);
    fc.assert(fc.property(fc.array(fc.string(), { maxLength: 30 }), fc.integer(), (items, seed) => {
      assert.deepEqual(shuffle(items, seeded(seed)).sort(), [...items].sort());
    }));
  });
});

describe("probe decisions: tasks", () => {
  it("spreads deployments over the tasks round-robin from a per-run offset, the next task as the second opinion", () => {
    assert.deepEqual(assignTasks(4, ["t1", "t2", "t3"], 1), [
      { primary: "t2", secondary: "t3" }, { primary: "t3", secondary: "t1" }, { primary: "t1", secondary: "t2" }, { primary: "t2", secondary: "t3" },
    ]);
    assert.deepEqual(assignTasks(2, ["only"], 0), [{ primary: "only" }, { primary: "only" }]);
  });

  it("probes healthy, unhealthy and unavailable targets, not those registering, draining or unused", () => {
    const d = (Id: string, State: string) => ({ Target: { Id, Port: 50051, AvailabilityZone: "us-east-2a" }, TargetHealth: { State: State as "healthy" } });
    const list = probeableTargets([d("10.0.1.9", "healthy"), d("10.0.2.7", "unhealthy"), d("10.0.3.1", "initial"), d("10.0.1.5", "draining"), d("10.0.2.2", "unavailable"), d("10.0.9.9", "unused")], 50051);
    assert.deepEqual(list.targets.map((t) => [t.id, t.state]), [["10.0.1.9:50051", "healthy"], ["10.0.2.2:50051", "unavailable"], ["10.0.2.7:50051", "unhealthy"]]);
    assert.deepEqual(list.skipped.map((s) => s.state), ["initial", "draining", "unused"]);
  });

  const targets = ["t1", "t2", "t3"].map((id) => ({ id, host: "127.0.0.1", port: 1, state: "healthy" }));
  const up: ChannelCheck = { reachable: true, connectMs: 1 };

  it("blames a task for deployments that failed through it and answered on another, not the deployments", () => {
    const outcomes = [
      outcome(attempt("a", "t1", true)),
      outcome(attempt("b", "t2", false), attempt("b", "t3", true)),
      outcome(attempt("c", "t2", false), attempt("c", "t3", true)),
      outcome(attempt("d", "t3", false, "OK"), attempt("d", "t1", false, "OK")), // the agent says ok:false everywhere: the deployment's
    ];
    const verdicts = taskVerdicts(targets, new Map(targets.map((t) => [t.id, up])), outcomes);
    assert.deepEqual(verdicts.map((v) => [v.task, v.healthy, v.probed, v.failures]), [["t1", true, 1, 0], ["t2", false, 2, 2], ["t3", true, 1, 0]]);
    assert.match(verdicts[1]!.reason!, /^2 of 2 deployments failed here \(UNAVAILABLE: upstream connect error\) and answered on another task$/);
    assert.deepEqual(outcomes.filter((o) => !o.ok).map((o) => o.deploymentId), ["d"], "only d is a failing deployment");
  });

  it("reports a task whose channel never became ready as not reachable, with the transport's reason", () => {
    const checks = new Map<string, ChannelCheck>([["t1", up], ["t2", { reachable: false, connectMs: 3000, error: "UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1" }], ["t3", up]]);
    const v = taskVerdicts(targets, checks, []);
    assert.deepEqual(v.map((x) => x.healthy), [true, false, true]);
    assert.match(v[1]!.reason!, /not reachable: .*ECONNREFUSED/);
  });

  it("fails the endpoint when it cannot connect, or when a sampled deployment answers on its task but not through the endpoint", () => {
    const direct = new Map([["a", outcome(attempt("a", "t1", true))]]);
    assert.deepEqual(endpointVerdict({ reachable: false, connectMs: 3000, error: "DNS" }, [], direct, false).reachable, false);
    assert.equal(endpointVerdict(up, [attempt("a", "endpoint", true)], direct, false).reachable, true);
    const broken = endpointVerdict(up, [attempt("a", "endpoint", false)], direct, false);
    assert.deepEqual([broken.reachable, broken.sampled], [false, 1]);
    assert.match(broken.reason!, /answered on their task but failed through the endpoint/);
    // With a broken task this run, the NLB may have sent the call there: the task is reported, not the endpoint.
    assert.equal(endpointVerdict(up, [attempt("a", "endpoint", false)], direct, true).reachable, true);
  });
});

describe("probe decisions: failure-only series", () => {
  const empty: SeriesMemory = { recent: new Map() };

  it("is 1 while failing, then 0 for three runs after recovery, then gone", () => {
    let m = empty;
    const runs: [string[], string[]][] = [];
    for (const failing of [["a"], ["a"], [], [], [], []]) {
      const p = planSeries(m, failing, [], 3);
      runs.push([p.failing, p.recovered]);
      m = p.next;
    }
    assert.deepEqual(runs, [[["a"], []], [["a"], []], [[], ["a"]], [[], ["a"]], [[], ["a"]], [[], []]]);
    assert.equal(m.recent.size, 0);
  });

  it("keeps a series' place while the deployment is not judged (not probed in time), and clears one that is no longer listed", () => {
    const failing = planSeries(empty, ["a", "b"], [], 3).next;
    const p = planSeries(failing, [], ["a"], 3);
    assert.deepEqual([p.failing, p.recovered], [[], ["b"]], "a skipped: no 0 yet; b gone or healthy: 0");
    assert.equal(p.next.recent.get("a"), 0);
  });

  it("in a platform incident withholds new failing series but keeps those already failing", () => {
    const before = planSeries(empty, ["old"], [], 3).next;
    const p = planSeries(before, ["old", "new1", "new2"], [], 3, true);
    assert.deepEqual(p.failing, ["old"]);
    assert.equal(p.next.recent.has("new1"), false, "a withheld id starts fresh once the incident is over");
  });

  it("calls a run a platform incident at the fleet share with at least five failing, never for a small fleet's single failure", () => {
    assert.equal(isPlatformIncident(3, 1, 25), false);
    assert.equal(isPlatformIncident(20, 5, 25), true);
    assert.equal(isPlatformIncident(1000, 249, 25), false);
    assert.equal(isPlatformIncident(1000, 250, 25), true);
    assert.equal(isPlatformIncident(0, 0, 25), false);
  });
});

describe("probe decisions: what a doubly failed deployment is reported with", () => {
  it("takes the attempt through a healthy task, not the broken task's answer", () => {
    const o = outcome(attempt("sick", "t1", false, "OK"), attempt("sick", "t3", false, "NOT_FOUND"));
    assert.deepEqual([reportedOutcome(o, new Set(["t3"])).via, reportedOutcome(o, new Set(["t3"])).codeName], ["t1", "OK"]);
    assert.equal(reportedOutcome(o, new Set()).via, "t1", "no task blamed: the first attempt");
    assert.equal(reportedOutcome(o, new Set(["t1", "t3"])).via, "t3", "every task blamed: the last attempt");
  });
});
