/**
 * The shutdown plan (lib/shutdown.ts): the order its timings must keep, and that the stack and
 * Envoy's config carry exactly its values.
 * Sources of the rules checked here (also cited in lib/shutdown.ts):
 * - Fargate stopTimeout at most 120 s: ECS ContainerDefinition.stopTimeout.
 * - ELB deregistration_delay.timeout_seconds 0-3600; connection_termination "terminates
 *   connections at the end of the deregistration timeout": ELB API TargetGroupAttribute.
 * - ECS stops containers in reverse dependsOn order: ECS ContainerDependency ("for container
 *   shutdown it is reversed"); deregistration happens in DEACTIVATING, before SIGTERM: ECS task lifecycle.
 * - Envoy drains a connection on max_connection_duration whether or not it carries streams, and
 *   closes it after drain_timeout once its streams end: config/core/v3/protocol.proto,
 *   http_connection_manager.proto `drain_timeout`.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import fc from "fast-check";
import {
  allGoAwaySentBySeconds, callBudgetSeconds, checkedShutdownPlan, envoyStopTimeoutSeconds, FARGATE_MAX_STOP_TIMEOUT_SECONDS,
  routerDrainMsRange, routerStopTimeoutSeconds, shutdownPlan, shutdownProblems, shutdownTimeline, shutdownTimelineMarkdown,
  type ShutdownPlan,
} from "../../lib/shutdown";
import { HEALTH_CHECK, a2aTargetGroupSpec, restTargetGroupSpec } from "../../infra/load-balancer";
import { containerDefinitions, type ContainerInputs } from "../../infra/containers";
import { parseStackConfig } from "../../infra/config";
import { buildBootstrap, buildXdsSnapshot, DEFAULT_ENVOY_INPUT, A2A_LISTENER } from "../../envoy/config";
import type { Listener } from "../../envoy/types";
import { loadStackConfigFile, runProgram, type Inputs } from "../helpers/pulumi-program";

const PLAN = shutdownPlan();

function a2aHcm(listener: Listener): Record<string, unknown> {
  return listener.filter_chains![0]!.filters[0]!.typed_config as Record<string, unknown>;
}

describe("infra shutdown plan: the order of the timings", () => {
  it("holds for the default plan, and the default leaves calls 45 s after the last final GOAWAY", () => {
    assert.deepEqual(shutdownProblems(PLAN), []);
    assert.equal(callBudgetSeconds(PLAN), 45);
    assert.equal(allGoAwaySentBySeconds(PLAN), 70);
  });

  // One change per rule: each must be caught, with a message naming the value.
  const breaks: [string, Partial<ShutdownPlan>, RegExp][] = [
    ["connection termination off", { connectionTermination: false }, /connectionTermination must be true/],
    ["a deregistration delay too short for max_connection_duration", { deregistrationDelaySeconds: 100 }, /deregistrationDelaySeconds 100 leaves calls 25 s .* at least 30 s/],
    ["a max_connection_duration that eats the call budget", { maxConnectionDurationSeconds: 90 }, /leaves calls 15 s/],
    ["no max_connection_duration", { maxConnectionDurationSeconds: 0 }, /maxConnectionDurationSeconds must be above 0/],
    ["a drain timeout as long as the connection", { drainTimeoutSeconds: 60 }, /drainTimeoutSeconds 60 must be below maxConnectionDurationSeconds 60/],
    ["a deregistration delay above ELB's range", { deregistrationDelaySeconds: 3601 }, /above ELB's maximum of 3600/],
    ["an Envoy drain shorter than the NLB's health check", { envoyDrainSeconds: 10 }, /envoyDrainSeconds 10 must be at least the NLB's 20 s/],
    ["an Envoy drain beyond Fargate's stop timeout", { envoyDrainSeconds: 118 }, /Envoy's stopTimeout 123 s .* above Fargate's 120 s/],
    ["an Envoy stop margin that does not cover the admin call", { envoyStopMarginSeconds: 2 }, /envoyStopMarginSeconds 2 must cover/],
    ["a router drain shorter than Envoy's", { routerDrainMs: 19999 }, /routerDrainMs 19999 must be at least Envoy's drain \(20000 ms\)/],
    ["a router drain beyond Fargate's stop timeout", { routerDrainMs: 115001 }, /router's stopTimeout 121 s .* at most 115000 ms/],
    ["a fractional value", { propagationAllowanceSeconds: 2.5 }, /propagationAllowanceSeconds 2.5 must be a whole number of seconds/],
    ["a negative router drain", { routerDrainMs: -1 }, /routerDrainMs -1 must be a whole number of milliseconds/],
  ];
  for (const [what, change, message] of breaks) {
    it(`catches ${what}`, () => {
      const problems = shutdownProblems({ ...PLAN, ...change });
      assert.ok(problems.some((p) => message.test(p)), `expected ${message} in:\n${problems.join("\n")}`);
    });
  }

  it("whenever it reports no problem, every promise of the timeline holds (random plans)", () => {
    const plans = fc.record({
      deregistrationDelaySeconds: fc.integer({ min: 0, max: 400 }),
      connectionTermination: fc.boolean(),
      propagationAllowanceSeconds: fc.integer({ min: 0, max: 30 }),
      maxConnectionDurationSeconds: fc.integer({ min: 0, max: 300 }),
      drainTimeoutSeconds: fc.integer({ min: 0, max: 60 }),
      minCallBudgetSeconds: fc.integer({ min: 0, max: 60 }),
      envoyDrainSeconds: fc.integer({ min: 0, max: 130 }),
      envoyStopMarginSeconds: fc.integer({ min: 0, max: 10 }),
      routerDrainMs: fc.integer({ min: 0, max: 130_000 }),
      routerStopMarginSeconds: fc.integer({ min: 0, max: 10 }),
      nlbUnhealthyAfterSeconds: fc.integer({ min: 0, max: 60 }),
    });
    fc.assert(fc.property(plans, (plan) => {
      if (shutdownProblems(plan).length > 0) return;
      const routerStop = routerStopTimeoutSeconds(plan.routerDrainMs, plan);
      assert.ok(plan.connectionTermination);
      // Every connection has had both GOAWAYs, and its calls their budget, before the NLB resets it.
      assert.ok(allGoAwaySentBySeconds(plan) + plan.drainTimeoutSeconds + plan.minCallBudgetSeconds <= plan.deregistrationDelaySeconds);
      // Each container's SIGKILL comes after its drain, within Fargate's cap.
      assert.ok(envoyStopTimeoutSeconds(plan) >= plan.envoyDrainSeconds + 4 && envoyStopTimeoutSeconds(plan) <= FARGATE_MAX_STOP_TIMEOUT_SECONDS);
      assert.ok(routerStop * 1000 > plan.routerDrainMs && routerStop <= FARGATE_MAX_STOP_TIMEOUT_SECONDS);
      // The router outlasts Envoy if both get SIGTERM at once.
      assert.ok(plan.routerDrainMs >= plan.envoyDrainSeconds * 1000);
      const at = shutdownTimeline(plan).map((s) => s.atSeconds);
      assert.deepEqual(at, [...at].sort((a, b) => a - b), "the timeline runs forward");
    }), { numRuns: 2000 });
  });

  it("refuses to hand out a plan that is out of order", () => {
    assert.throws(() => checkedShutdownPlan(5000), /shutdown timings out of order:\n {2}routerDrainMs 5000 must be at least/);
    assert.equal(checkedShutdownPlan(30000).routerDrainMs, 30000);
  });

  it("takes the Envoy drain from the NLB's own health check timing (the task stopped without deregistration)", () => {
    assert.equal(PLAN.nlbUnhealthyAfterSeconds, HEALTH_CHECK.intervalSeconds * HEALTH_CHECK.unhealthyThreshold);
  });

  it("is the timeline docs/infra.md shows", () => {
    const doc = fs.readFileSync(path.join(__dirname, "..", "..", "docs", "infra.md"), "utf8");
    assert.ok(doc.includes(shutdownTimelineMarkdown(PLAN)), "docs/infra.md's shutdown timeline differs from shutdownTimelineMarkdown(shutdownPlan()): paste the new table");
  });
});

describe("infra shutdown plan: where the values go", () => {
  const inputs: ContainerInputs = {
    region: "us-east-2", parImage: "par:1", routerImage: "router:1", envoyImage: "envoy:1",
    logGroups: { par: "/p", router: "/r", envoy: "/e" }, envoyMode: "router", routerDrainMs: 20000, logLevel: "info",
    cloudMapNamespace: "ns.local", cloudMapService: "agents", agentPortFirst: 50054, agentPortLast: 50060, memory: 2048,
  };

  it("accepts routerDrainMs only within the plan's range, naming the key and the range", () => {
    assert.deepEqual(routerDrainMsRange(), { min: 20000, max: 115000 });
    const parse = (v: string): string => {
      try {
        parseStackConfig({ parImage: "ghcr.io/pixell-global/pixell-agent-runtime:1.4.2", callerAuth: "bearer", routerDrainMs: v });
        return "";
      } catch (err) {
        return (err as Error).message;
      }
    };
    assert.equal(parse("20000"), "");
    assert.equal(parse("115000"), "");
    assert.match(parse("19999"), /pixell-a2a:routerDrainMs = "19999" is not valid: expected an integer from 20000 to 115000/);
    assert.match(parse("115001"), /pixell-a2a:routerDrainMs = "115001" is not valid: expected an integer from 20000 to 115000/);
  });

  it("puts the plan's stop timeouts and Envoy's drain into the containers, and refuses a drain out of order", () => {
    const [par, router, envoy] = containerDefinitions({ ...inputs, routerDrainMs: 60000 });
    assert.deepEqual([par!.stopTimeout, router!.stopTimeout, envoy!.stopTimeout], [65, 65, envoyStopTimeoutSeconds(PLAN)]);
    assert.deepEqual(envoy!.environment.find((e) => e.name === "ENVOY_DRAIN_SECONDS"), { name: "ENVOY_DRAIN_SECONDS", value: String(PLAN.envoyDrainSeconds) });
    assert.throws(() => containerDefinitions({ ...inputs, routerDrainMs: 10000 }), /routerDrainMs 10000 must be at least Envoy's drain/);
  });

  it("puts the plan's deregistration delay and connection termination on the target groups", () => {
    for (const spec of [a2aTargetGroupSpec(), restTargetGroupSpec()]) {
      assert.deepEqual([spec.deregistrationDelay, spec.connectionTermination], [PLAN.deregistrationDelaySeconds, true]);
    }
  });

  it("gives Envoy's A2A listener the plan's max_connection_duration and drain_timeout, in both modes", () => {
    const expected = { max_connection_duration: `${PLAN.maxConnectionDurationSeconds}s`, drain_timeout: `${PLAN.drainTimeoutSeconds}s` };
    const router = buildBootstrap().static_resources.listeners.find((l) => l.name === A2A_LISTENER)!;
    const xds = buildXdsSnapshot([]).listener.find((l) => l.name === A2A_LISTENER)!.resource as Listener;
    for (const listener of [router, xds]) {
      const hcm = a2aHcm(listener);
      assert.deepEqual({ max_connection_duration: (hcm.common_http_protocol_options as Inputs).max_connection_duration, drain_timeout: hcm.drain_timeout }, expected);
    }
    assert.equal(DEFAULT_ENVOY_INPUT.maxConnectionDuration, expected.max_connection_duration);
  });
});

describe("infra shutdown plan: under Pulumi mocks, the values reach the resources", function () {
  this.timeout(60000);
  const containersOf = (inputs: Inputs): Inputs[] => JSON.parse(inputs.containerDefinitions);
  const envOf = (c: Inputs): Record<string, string> => Object.fromEntries((c.environment as { name: string; value: string }[]).map((e) => [e.name, e.value]));

  it("the target groups, the task definition's stop timeouts and the drain settings (routerDrainMs 45000)", async () => {
    const run = await runProgram({ ...loadStackConfigFile(), "pixell-a2a:routerDrainMs": "45000" });
    for (const tg of run.ofType("aws:lb/targetGroup:TargetGroup")) {
      assert.deepEqual([tg.inputs.deregistrationDelay, tg.inputs.connectionTermination], [PLAN.deregistrationDelaySeconds, true], tg.name);
    }
    const [par, router, envoy] = containersOf(run.one("aws:ecs/taskDefinition:TaskDefinition").inputs);
    assert.deepEqual([par!.stopTimeout, router!.stopTimeout, envoy!.stopTimeout], [50, 50, 25]);
    assert.equal(envOf(router!).ROUTER_DRAIN_MS, "45000");
    assert.equal(envOf(envoy!).ENVOY_DRAIN_SECONDS, "20");
  });

  it("fails before declaring anything when routerDrainMs is out of the plan's range", async () => {
    await assert.rejects(runProgram({ ...loadStackConfigFile(), "pixell-a2a:routerDrainMs": "5000" }), (err: Error) => {
      assert.equal(err.name, "ConfigError");
      assert.match(err.message, /pixell-a2a:routerDrainMs = "5000" is not valid: expected an integer from 20000 to 115000/);
      return true;
    });
  });
});
