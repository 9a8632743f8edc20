/**
 * Scaling: registry shards (infra/shards.ts, docs/decisions/registry-shards.md), Application Auto
 * Scaling per shard (infra/autoscaling.ts) and the registry capacity alarms (infra/registry-capacity.ts):
 * the config keys, the pure decisions, and the stack under mocks.
 *
 * AWS's rules cited here:
 * - Cloud Map quotas: 1,000 instances per service (not adjustable), 2,000 per namespace (adjustable)
 *   (https://docs.aws.amazon.com/cloud-map/latest/dg/cloud-map-limits.html).
 * - RegisterScalableTarget: ServiceNamespace ecs, ScalableDimension ecs:service:DesiredCount, ResourceId
 *   service/<cluster name>/<service name>; no RoleARN: the service-linked role
 *   AWSServiceRoleForApplicationAutoScaling_ECSService is used (and created on first use)
 *   (https://docs.aws.amazon.com/autoscaling/application/userguide/services-that-can-integrate-ecs.html).
 * - PutScalingPolicy target tracking: DisableScaleIn true means the policy never removes capacity;
 *   PredefinedMetricType ECSServiceAverageCPUUtilization; a customized metric's statistic and dimensions
 *   (https://docs.aws.amazon.com/autoscaling/application/APIReference/API_TargetTrackingScalingPolicyConfiguration.html).
 */
import { strict as assert } from "node:assert";
import { configWarnings, parseStackConfig, type RawConfig } from "../../infra/config";
import { desiredCountOptions, ecsResourceId, targetTrackingSpecs } from "../../infra/autoscaling";
import { capacityAlarmSpecs } from "../../infra/registry-capacity";
import { shardFamily, shardNameProblem, shardsOf } from "../../infra/shards";
import { routerRegistry } from "../../infra/containers";
import { loadStackConfigFile, runProgram, type Inputs, type ProgramRun } from "../helpers/pulumi-program";
import { configProblems } from "../helpers/config-problems";

// Internal, so the secure-by-default rule (infra/exposure.ts) has nothing to refuse here.
const MINIMAL: RawConfig = { parImage: "ghcr.io/pixell-global/pixell-agent-runtime:1.4.2", internetFacing: "false" };


describe("infra scaling: config keys", () => {
  it("defaults to one shard, the default namespace quota, and no auto scaling", () => {
    const c = parseStackConfig(MINIMAL);
    assert.deepEqual(c.scaling, { shards: 1, cloudMapNamespaceQuota: 2000, autoScaling: undefined });
    assert.equal(c.desiredCount, 2);
  });

  it("turns auto scaling on with maxTasks: scale-in off, CPU at 60%, a new service starting at minTasks", () => {
    const c = parseStackConfig({ ...MINIMAL, minTasks: "3", maxTasks: "10" });
    assert.deepEqual(c.scaling.autoScaling, {
      minTasks: 3, maxTasks: 10, cpuPercent: 60, activeStreams: undefined, disableScaleIn: true, scaleOutCooldownSeconds: 60, scaleInCooldownSeconds: 300,
    });
    assert.equal(c.desiredCount, 3, "no desiredCount: start at minTasks");
    assert.equal(parseStackConfig({ ...MINIMAL, maxTasks: "4" }).scaling.autoScaling?.minTasks, 2, "minTasks defaults to desiredCount");
    const on = parseStackConfig({ ...MINIMAL, maxTasks: "4", disableScaleIn: "false", scaleOnActiveStreams: "250", scaleOnCpuPercent: "70" }).scaling.autoScaling!;
    assert.deepEqual([on.disableScaleIn, on.activeStreams, on.cpuPercent], [false, 250, 70]);
  });

  it("refuses bad values naming the key, the value and what is accepted", () => {
    const expect = (raw: RawConfig, pattern: RegExp): void => {
      const problems = configProblems({ ...MINIMAL, ...raw });
      assert.ok(problems.some((p) => pattern.test(p)), `${JSON.stringify(raw)}: ${problems.join(" | ")}`);
    };
    expect({ shards: "0" }, /^pixell-a2a:shards = "0" is not valid: expected an integer from 1 to 20$/);
    expect({ shards: "two" }, /pixell-a2a:shards = "two" is not valid: expected an integer from 1 to 20/);
    expect({ maxTasks: "3", minTasks: "5" }, /pixell-a2a:minTasks = "5" is not valid: expected at most pixell-a2a:maxTasks \(3\)/);
    expect({ maxTasks: "4", desiredCount: "6" }, /pixell-a2a:desiredCount = "6" is not valid: expected a task count from pixell-a2a:minTasks to pixell-a2a:maxTasks \(4 to 4\)/);
    expect({ maxTasks: "4", scaleOnCpuPercent: "99" }, /pixell-a2a:scaleOnCpuPercent = "99" is not valid: expected an integer from 10 to 95/);
    expect({ maxTasks: "4", disableScaleIn: "yes" }, /pixell-a2a:disableScaleIn = "yes" is not valid: expected true or false/);
    expect({ maxTasks: "4", scaleOnActiveStreams: "0" }, /pixell-a2a:scaleOnActiveStreams = "0" is not valid: expected an integer from 1 to 1000000/);
    expect({ minTasks: "2" }, /pixell-a2a:minTasks = "2" is only used with auto scaling: set pixell-a2a:maxTasks/);
    expect({ disableScaleIn: "false" }, /pixell-a2a:disableScaleIn = "false" is only used with auto scaling/);
    expect({ cloudMapNamespaceQuota: "-1" }, /pixell-a2a:cloudMapNamespaceQuota = "-1" is not valid: expected an integer from 1 to 1000000/);
    expect({ shards: "12", cloudMapService: "a".repeat(62) }, /pixell-a2a:cloudMapService = "a{62}" is not valid: expected a Cloud Map service name of at most 60 characters with 12 shards/);
  });

  it("warns when the shards outgrow the namespace quota, and when scale-in is on", () => {
    const warnings = configWarnings(parseStackConfig({ ...MINIMAL, shards: "3", maxTasks: "4", disableScaleIn: "false" }));
    assert.ok(warnings.some((w) => /pixell-a2a:shards is 3 \(room for 3000 deployments\) but the Cloud Map namespace holds at most 2000 instances.*"Instances per namespace" of at least 3000/.test(w)), warnings.join("\n"));
    assert.ok(warnings.some((w) => /disableScaleIn is false: auto scaling may stop a task, and the deployments PAR placed in it stop with it/.test(w)));
    assert.deepEqual(configWarnings(parseStackConfig({ ...MINIMAL, shards: "3", cloudMapNamespaceQuota: "3000" })).filter((w) => w.includes("shards")), []);
  });
});

describe("infra scaling: pure decisions", () => {
  it("names shards so that shard 0 keeps a one-shard stack's names", () => {
    assert.deepEqual(shardsOf("agents", 3), [
      { index: 0, cloudMapService: "agents", suffix: "" },
      { index: 1, cloudMapService: "agents-1", suffix: "-1" },
      { index: 2, cloudMapService: "agents-2", suffix: "-2" },
    ]);
    assert.deepEqual(shardsOf("agents", 3).map((s) => shardFamily("pixell-a2a-dev", s)), ["pixell-a2a-dev", "pixell-a2a-dev-1", "pixell-a2a-dev-2"]);
    assert.equal(shardNameProblem("a".repeat(61), 10), undefined);
    assert.match(shardNameProblem("a".repeat(62), 10) ?? "", /at most 61 characters/);
  });

  it("gives every router every shard, after its own PAR", () => {
    assert.equal(routerRegistry({ cloudMapNamespace: "ns", cloudMapService: "agents-1", cloudMapShards: ["agents", "agents-1"] }),
      "par:http://127.0.0.1:8080,cloudmap:ns/agents,cloudmap:ns/agents-1");
    assert.equal(routerRegistry({ cloudMapNamespace: "ns", cloudMapService: "agents" }), "par:http://127.0.0.1:8080,cloudmap:ns/agents");
  });

  it("tracks CPU, and calls in flight when set, both with the configured scale-in and cooldowns", () => {
    const config = { minTasks: 2, maxTasks: 8, cpuPercent: 60, activeStreams: 200, disableScaleIn: true, scaleOutCooldownSeconds: 60, scaleInCooldownSeconds: 300 };
    const specs = targetTrackingSpecs(config, { namespace: "Pixell/A2A", name: "RouterActiveStreams", dimensions: { Stack: "pixell-a2a-dev", Shard: "agents" } });
    assert.deepEqual(specs, [
      { key: "cpu", targetValue: 60, disableScaleIn: true, scaleInCooldown: 300, scaleOutCooldown: 60, predefinedMetricSpecification: { predefinedMetricType: "ECSServiceAverageCPUUtilization" } },
      {
        key: "streams", targetValue: 200, disableScaleIn: true, scaleInCooldown: 300, scaleOutCooldown: 60,
        customizedMetricSpecification: { metricName: "RouterActiveStreams", namespace: "Pixell/A2A", statistic: "Average", unit: "Count", dimensions: [{ name: "Stack", value: "pixell-a2a-dev" }, { name: "Shard", value: "agents" }] },
      },
    ]);
    assert.deepEqual(targetTrackingSpecs({ ...config, activeStreams: undefined }, { namespace: "N", name: "M", dimensions: {} }).map((s) => s.key), ["cpu"]);
    assert.equal(ecsResourceId("a2a-cluster-1a2b3c4", "a2a-service-9f8e7d6"), "service/a2a-cluster-1a2b3c4/a2a-service-9f8e7d6");
  });

  // Pulumi would otherwise set desiredCount back to the configured value on every `pulumi up`,
  // undoing a scale-out (and with scale-in off, nothing else ever lowers it on purpose).
  it("leaves an auto-scaled service's desiredCount to Application Auto Scaling after creation", () => {
    assert.deepEqual(desiredCountOptions(true), { ignoreChanges: ["desiredCount"] });
    assert.deepEqual(desiredCountOptions(false), {});
  });

  it("alarms at 90% of 1,000 per shard, and at 90% of the namespace quota once the shards can reach it, per probe period", () => {
    const three = capacityAlarmSpecs(["agents", "agents-1", "agents-2"], "pixell-runtime.local", 2000, "rate(1 minute)");
    assert.deepEqual(three.map((s) => [s.key, s.threshold, s.period, s.shards.length]), [
      ["registry-full-agents", 900, 60, 1], ["registry-full-agents-1", 900, 60, 1], ["registry-full-agents-2", 900, 60, 1], ["registry-namespace-full", 1800, 60, 3],
    ]);
    assert.match(three[0]!.description, /holds more than 900 of its 1,000 instances \(the quota is not adjustable\).*Add a shard/);
    assert.deepEqual(capacityAlarmSpecs(["agents"], "ns", 2000, "rate(5 minutes)").map((s) => [s.key, s.period]), [["registry-full-agents", 300]], "one shard cannot fill 1,800 of the namespace");
  });
});

const env = (container: Inputs): Record<string, string> =>
  Object.fromEntries((container.environment as { name: string; value: string }[]).map((e) => [e.name, e.value]));
const containersOf = (td: Inputs): Inputs[] => JSON.parse(td.containerDefinitions as string) as Inputs[];

describe("infra scaling: the stack under mocks", function () {
  this.timeout(120_000);
  const base = loadStackConfigFile();
  let one: ProgramRun;
  let three: ProgramRun;
  before(async () => {
    one = await runProgram(base);
    three = await runProgram({
      ...base, "pixell-a2a:shards": "3", "pixell-a2a:cloudMapNamespaceQuota": "3000",
      "pixell-a2a:minTasks": "2", "pixell-a2a:maxTasks": "6", "pixell-a2a:scaleOnActiveStreams": "200",
    });
  });

  it("one shard and no maxTasks: no scaling resources, the router and the probe read the one service", () => {
    assert.equal(one.ofType("aws:appautoscaling/target:Target").length, 0);
    assert.equal(one.ofType("aws:appautoscaling/policy:Policy").length, 0);
    assert.equal(one.ofType("aws:ecs/service:Service").length, 1);
    assert.deepEqual(one.ofType("aws:servicediscovery/service:Service").map((s) => s.inputs.name), ["agents"]);
    const router = containersOf(one.one("aws:ecs/taskDefinition:TaskDefinition").inputs)[1]!;
    assert.equal(env(router).ROUTER_EMF_NAMESPACE, undefined, "no streams policy: no EMF line");
    assert.equal(one.outputs.registry, "cloudmap:pixell-runtime.local/agents");
  });

  it("going from 1 to 3 shards adds resources and changes none of the first shard's", () => {
    const key = (r: { type: string; name: string }): string => `${r.type} ${r.name}`;
    const after = new Map(three.resources.map((r) => [key(r), r]));
    const missing = one.resources.filter((r) => !after.has(key(r))).map(key);
    assert.deepEqual(missing, [], "every resource of the one-shard stack keeps its logical name");
    for (const type of ["aws:servicediscovery/service:Service", "aws:ecs/taskDefinition:TaskDefinition"]) {
      const before = one.one(type).inputs;
      const shard0 = after.get(key(one.one(type)))!.inputs;
      assert.deepEqual([shard0.name, shard0.family], [before.name, before.family], type);
    }
  });

  it("declares a Cloud Map service, task definition and ECS service per shard, all behind the same target groups", () => {
    assert.deepEqual(three.ofType("aws:servicediscovery/service:Service").map((s) => s.inputs.name), ["agents", "agents-1", "agents-2"]);
    const services = three.ofType("aws:ecs/service:Service");
    assert.deepEqual(services.map((s) => s.name), ["a2a-service", "a2a-service-1", "a2a-service-2"]);
    const groups = services.map((s) => (s.inputs.loadBalancers as Inputs[]).map((lb) => lb.targetGroupArn).sort());
    assert.ok(groups.every((g) => JSON.stringify(g) === JSON.stringify(groups[0])), "same target groups");
    assert.equal(groups[0]!.length, 2);
    const tds = three.ofType("aws:ecs/taskDefinition:TaskDefinition");
    assert.deepEqual(tds.map((t) => t.inputs.family), ["pixell-a2a-dev", "pixell-a2a-dev-1", "pixell-a2a-dev-2"]);
    tds.forEach((td, k) => {
      const [par, router] = containersOf(td.inputs);
      const shard = k === 0 ? "agents" : `agents-${k}`;
      assert.equal(env(par!).SERVICE_DISCOVERY_SERVICE, shard, "each shard's PAR registers into its own service");
      assert.equal(env(router!).ROUTER_REGISTRY, "par:http://127.0.0.1:8080,cloudmap:pixell-runtime.local/agents,cloudmap:pixell-runtime.local/agents-1,cloudmap:pixell-runtime.local/agents-2");
      assert.deepEqual([env(router!).ROUTER_EMF_NAMESPACE, env(router!).ROUTER_EMF_DIMENSIONS], ["Pixell/A2A", `Stack=pixell-a2a-dev,Shard=${shard}`]);
    });
    assert.equal(three.outputs.registry, "cloudmap:pixell-runtime.local/agents,cloudmap:pixell-runtime.local/agents-1,cloudmap:pixell-runtime.local/agents-2");
  });

  it("lets each shard's PAR register only into its own service, and every router and the probe discover all", () => {
    const taskPolicy = (name: string): Inputs[] => JSON.parse(three.one("aws:iam/rolePolicy:RolePolicy", name).inputs.policy as string).Statement as Inputs[];
    const arn = (s: string): string => `arn:aws:servicediscovery:us-east-2:123456789012:service/srv-${s}`;
    const shard1 = taskPolicy("a2a-task-1");
    assert.equal(shard1.find((s) => s.Sid === "ParRegistersAgents")!.Resource, arn("a2a-agents-1"));
    const discover = shard1.find((s) => s.Sid === "RouterDiscoversAgents")!;
    assert.deepEqual(discover.Resource, ["arn:aws:servicediscovery:us-east-2:123456789012:namespace/ns-a2a-ns", arn("a2a-agents"), arn("a2a-agents-1"), arn("a2a-agents-2")]);
    assert.deepEqual(discover.Condition.StringEquals["servicediscovery:ServiceName"], ["agents", "agents-1", "agents-2"]);
    const probe = JSON.parse(three.one("aws:iam/rolePolicy:RolePolicy", "a2a-policy").inputs.policy as string).Statement as Inputs[];
    assert.deepEqual(probe.find((s) => s.Sid === "ListAgentsBeyondOnePage")!.Resource, [arn("a2a-agents"), arn("a2a-agents-1"), arn("a2a-agents-2")]);
    const vars = three.one("aws:lambda/function:Function").inputs.environment.variables as Record<string, string>;
    assert.deepEqual([vars.CLOUDMAP_SERVICE, vars.CLOUDMAP_SERVICE_ID], ["agents,agents-1,agents-2", "a2a-agents-id,a2a-agents-1-id,a2a-agents-2-id"]);
  });

  it("registers each shard's service as a scalable target with CPU and streams target tracking, scale-in off", () => {
    const targets = three.ofType("aws:appautoscaling/target:Target").map((t) => t.inputs);
    assert.deepEqual(targets.map((t) => [t.serviceNamespace, t.scalableDimension, t.resourceId, t.minCapacity, t.maxCapacity, t.roleArn]), [
      ["ecs", "ecs:service:DesiredCount", "service/a2a-cluster/a2a-service", 2, 6, undefined],
      ["ecs", "ecs:service:DesiredCount", "service/a2a-cluster/a2a-service-1", 2, 6, undefined],
      ["ecs", "ecs:service:DesiredCount", "service/a2a-cluster/a2a-service-2", 2, 6, undefined],
    ]);
    const policies = three.ofType("aws:appautoscaling/policy:Policy");
    assert.equal(policies.length, 6);
    for (const p of policies) {
      assert.equal(p.inputs.policyType, "TargetTrackingScaling");
      assert.equal(p.inputs.targetTrackingScalingPolicyConfiguration.disableScaleIn, true);
    }
    const streams1 = policies.find((p) => p.name === "a2a-scaling-1-streams")!.inputs;
    assert.equal(streams1.resourceId, "service/a2a-cluster/a2a-service-1");
    assert.deepEqual(streams1.targetTrackingScalingPolicyConfiguration.customizedMetricSpecification.dimensions, [{ name: "Stack", value: "pixell-a2a-dev" }, { name: "Shard", value: "agents-1" }]);
    assert.equal(three.ofType("aws:ecs/service:Service").every((s) => s.inputs.desiredCount === 2), true, "created at minTasks");
  });

  it("alarms per shard on RegisteredInstances at 900, and on the namespace's sum at 90% of its quota, to the alarm topic", () => {
    const alarms = three.ofType("aws:cloudwatch/metricAlarm:MetricAlarm").filter((a) => a.name.startsWith("a2a-registry-"));
    assert.deepEqual(alarms.map((a) => [a.name, a.inputs.threshold]), [
      ["a2a-registry-registry-full-agents", 900], ["a2a-registry-registry-full-agents-1", 900], ["a2a-registry-registry-full-agents-2", 900], ["a2a-registry-registry-namespace-full", 2700],
    ]);
    const shard = alarms[1]!.inputs;
    assert.deepEqual([shard.namespace, shard.metricName, shard.dimensions, shard.statistic, shard.period, shard.treatMissingData], ["Pixell/A2A", "RegisteredInstances", { CloudMapService: "agents-1" }, "Maximum", 60, "notBreaching"]);
    const total = alarms[3]!.inputs;
    assert.deepEqual((total.metricQueries as Inputs[]).map((q) => q.expression ?? q.metric.dimensions.CloudMapService), ["agents", "agents-1", "agents-2", "SUM([m0,m1,m2])"]);
    for (const a of alarms) assert.deepEqual(a.inputs.alarmActions, [three.outputs.alarmTopicArn]);
  });
});
