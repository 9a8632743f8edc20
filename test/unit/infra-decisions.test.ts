import { strict as assert } from "node:assert";
import { planSubnets } from "../../infra/network";
import { securityGroupRules } from "../../infra/security-groups";
import { a2aListenerSpec, a2aTargetGroupSpec, DEREGISTRATION_DELAY_SECONDS, restTargetGroupSpec } from "../../infra/load-balancer";
import { containerDefinitions, routerStopTimeoutSeconds, type ContainerInputs } from "../../infra/containers";
import { probeRolePolicy, taskRolePolicy } from "../../infra/iam";
import { alarmPlan, type MetricAlarmSpec } from "../../infra/alarm-plan";
import { dashboardBody } from "../../infra/dashboard";
import { alarmWindowProblem } from "../../infra/alarm-periods";
import { probeEnvironment } from "../../infra/probe";
import { imageBuildSpecs } from "../../infra/images";
import { readProbeConfig } from "../../probe-lambda/config";
import { A2A_PORT, ENVOY_READY_PATH, ENVOY_READY_PORT, ROUTER_ADMIN_PORT, ROUTER_PORT } from "../../lib/ports";

describe("infra decisions: network", () => {
  it("plans non-overlapping subnets inside the VPC CIDR", () => {
    assert.deepEqual(planSubnets("10.0.0.0/16", ["a", "b", "c"]), [
      { az: "a", publicCidr: "10.0.0.0/20", privateCidr: "10.0.128.0/20" },
      { az: "b", publicCidr: "10.0.16.0/20", privateCidr: "10.0.144.0/20" },
      { az: "c", publicCidr: "10.0.32.0/20", privateCidr: "10.0.160.0/20" },
    ]);
    assert.deepEqual(planSubnets("172.16.64.0/18", ["a", "b"]).map((p) => [p.publicCidr, p.privateCidr]), [
      ["172.16.64.0/22", "172.16.96.0/22"],
      ["172.16.68.0/22", "172.16.100.0/22"],
    ]);
  });
});

describe("infra decisions: security groups", () => {
  // An internal A2A NLB (REST shares it) with the probe outside the VPC: the base table.
  const input = { allowedCidrs: ["203.0.113.0/24"], restAllowedCidrs: ["10.0.0.0/16"], agentPortFirst: 50054, agentPortLast: 50153, probeInVpc: false, internetFacing: false, probeEgressCidrs: [] };

  it("lets clients reach only the NLB, and the NLB reach only Envoy, its readiness port and PAR", () => {
    const rules = securityGroupRules(input);
    assert.deepEqual(rules.nlb.ingress.map((r) => [r.fromPort, r.peer]), [[A2A_PORT, { cidr: "203.0.113.0/24" }], [8080, { cidr: "10.0.0.0/16" }]]);
    assert.deepEqual(rules.nlb.egress.map((r) => [r.fromPort, r.peer]), [[A2A_PORT, { group: "tasks" }], [ENVOY_READY_PORT, { group: "tasks" }], [8080, { group: "tasks" }]]);
    const fromNlb = rules.tasks.ingress.filter((r) => "group" in r.peer && r.peer.group === "nlb").map((r) => r.fromPort);
    assert.deepEqual(fromNlb, [A2A_PORT, ENVOY_READY_PORT, 8080]);
    const internal = rules.tasks.ingress.filter((r) => [ROUTER_PORT, 50054].includes(r.fromPort));
    assert.ok(internal.length === 2 && internal.every((r) => "group" in r.peer && r.peer.group === "tasks"));
    // The router admin listens on 127.0.0.1 in the task (infra/containers.ts): no rule opens it to anyone.
    assert.ok(!rules.tasks.ingress.some((r) => r.fromPort <= ROUTER_ADMIN_PORT && ROUTER_ADMIN_PORT <= r.toPort));
    assert.deepEqual(rules.probe, { ingress: [], egress: [] });
    assert.deepEqual(rules.rest, { ingress: [], egress: [] });
  });

  it("opens the NLB to the probe's group when the probe runs in the VPC", () => {
    const rules = securityGroupRules({ ...input, probeInVpc: true });
    assert.ok(rules.nlb.ingress.some((r) => r.fromPort === A2A_PORT && "group" in r.peer && r.peer.group === "probe"));
    assert.ok(rules.probe.egress.some((r) => r.fromPort === A2A_PORT && "group" in r.peer && r.peer.group === "nlb"));
  });
});

describe("infra decisions: load balancer", () => {
  it("health-checks Envoy's readiness listener and PAR's /health over HTTP", () => {
    const a2a = a2aTargetGroupSpec();
    assert.deepEqual([a2a.healthCheck.protocol, a2a.healthCheck.port, a2a.healthCheck.path], ["HTTP", String(ENVOY_READY_PORT), ENVOY_READY_PATH]);
    assert.deepEqual([restTargetGroupSpec().healthCheck.path, restTargetGroupSpec().port], ["/health", 8080]);
    assert.ok(DEREGISTRATION_DELAY_SECONDS < 300);
  });

  it("chooses TCP without a certificate and TLS with h2 in ALPN with one", () => {
    assert.deepEqual(a2aListenerSpec(undefined), { port: A2A_PORT, protocol: "TCP" });
    const tls = a2aListenerSpec("arn:aws:acm:us-east-2:123456789012:certificate/abc");
    assert.equal(tls.protocol, "TLS");
    assert.ok(tls.protocol === "TLS" && tls.alpnPolicy.startsWith("HTTP2") && tls.sslPolicy.includes("TLS13"));
  });
});

describe("infra decisions: containers", () => {
  const inputs: ContainerInputs = {
    region: "us-east-2", parImage: "par:1", routerImage: "router:1", envoyImage: "envoy:1",
    logGroups: { par: "/p", router: "/r", envoy: "/e" }, envoyMode: "router", routerDrainMs: 20000, logLevel: "info",
    cloudMapNamespace: "ns.local", cloudMapService: "agents", agentPortFirst: 50054, agentPortLast: 50060, memory: 2048,
  };

  it("orders the start PAR -> router -> Envoy on health, and has no xDS in router mode", () => {
    const [par, router, envoy] = containerDefinitions(inputs);
    assert.equal(par!.dependsOn, undefined);
    assert.deepEqual(router!.dependsOn, [{ containerName: "par", condition: "HEALTHY" }]);
    assert.deepEqual(envoy!.dependsOn, [{ containerName: "router", condition: "HEALTHY" }]);
    assert.ok(!router!.environment.some((e) => e.name === "ROUTER_XDS"));
    assert.deepEqual(par!.portMappings[1], { containerPortRange: "50054-50060", protocol: "tcp" });
  });

  it("gives the router and Envoy time to drain before SIGKILL, within Fargate's 120 s cap", () => {
    assert.deepEqual(containerDefinitions(inputs)[2]!.environment.find((e) => e.name === "ENVOY_DRAIN_SECONDS"), { name: "ENVOY_DRAIN_SECONDS", value: "20" });
    assert.equal(routerStopTimeoutSeconds(20000), 25);
    // Beyond the cap is refused (test/process/infra-shutdown.test.ts), not clamped to a stop timeout shorter than the drain.
    assert.throws(() => containerDefinitions({ ...inputs, routerDrainMs: 200000 }), /above Fargate's 120 s/);
    assert.ok(containerDefinitions(inputs).every((c) => c.stopTimeout === 25));
  });

  it("serialises to JSON the task definition accepts (no undefined fields)", () => {
    const json = JSON.stringify(containerDefinitions({ ...inputs, envoyMode: "xds" }));
    assert.ok(!json.includes("undefined") && !json.includes(":null"));
    const router = (JSON.parse(json) as { name: string; environment: { name: string; value: string }[] }[])[1]!;
    assert.deepEqual(router.environment.find((e) => e.name === "ROUTER_XDS"), { name: "ROUTER_XDS", value: "unix:/var/run/pixell-xds/xds.sock" });
  });
});

describe("infra decisions: IAM", () => {
  const names = { namespaceName: "ns.local", serviceName: "agents", serviceArn: "arn:aws:servicediscovery:us-east-2:123456789012:service/srv-1", namespaceArn: "arn:aws:servicediscovery:us-east-2:123456789012:namespace/ns-1", hostedZoneId: "Z1" };

  it("scopes PAR's registration to the service and the router's discovery to the names", () => {
    const doc = taskRolePolicy(names);
    const register = doc.Statement.find((s) => s.Action.includes("servicediscovery:RegisterInstance"))!;
    assert.equal(register.Resource, names.serviceArn);
    const discover = doc.Statement.find((s) => s.Action.includes("servicediscovery:DiscoverInstances"))!;
    assert.deepEqual(discover.Action, ["servicediscovery:DiscoverInstances", "servicediscovery:DiscoverInstancesRevision"]);
    assert.deepEqual(discover.Condition, { StringEquals: { "servicediscovery:NamespaceName": "ns.local", "servicediscovery:ServiceName": "agents" } });
    assert.equal(doc.Statement.find((s) => s.Action.includes("route53:ChangeResourceRecordSets"))!.Resource, "arn:aws:route53:::hostedzone/Z1");
  });

  it("limits the probe to its metrics namespace and adds ENI rights only in a VPC", () => {
    const input = { ...names, metricsNamespace: "Pixell/A2A", logGroupArn: "arn:aws:logs:us-east-2:123456789012:log-group:/aws/lambda/p", inVpc: false };
    const outside = probeRolePolicy(input);
    const put = outside.Statement.find((s) => s.Action.includes("cloudwatch:PutMetricData"))!;
    assert.deepEqual(put.Condition, { StringEquals: { "cloudwatch:namespace": "Pixell/A2A" } });
    assert.ok(!JSON.stringify(outside).includes("ec2:"));
    assert.ok(JSON.stringify(probeRolePolicy({ ...input, inVpc: true })).includes("ec2:CreateNetworkInterface"));
    for (const doc of [outside, taskRolePolicy(names)]) for (const s of doc.Statement) assert.ok(s.Action.every((a) => !a.includes("*")));
  });
});

describe("infra decisions: probe and images", () => {
  it("produces an environment the probe's own config reader accepts unchanged", () => {
    const env = probeEnvironment({
      endpoint: "a2a-nlb.elb.us-east-2.amazonaws.com:50051", tls: true, cloudMapNamespace: "pixell-runtime.local", cloudMapService: "agents",
      cloudMapServiceId: "srv-abc", metricsNamespace: "Pixell/A2A", timeoutMs: 2500, concurrency: 32, logLevel: "warn",
      targetGroupArn: "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/a2a-a2a-8f2c1d0/0123456789abcdef", platformPercent: 30,
    });
    const parsed = readProbeConfig(env);
    assert.deepEqual([parsed.endpoint, parsed.tls, parsed.cloudMapServices, parsed.timeoutMs, parsed.concurrency, parsed.targetGroupArn, parsed.platformPercent],
      ["a2a-nlb.elb.us-east-2.amazonaws.com:50051", true, [{ service: "agents", serviceId: "srv-abc" }], 2500, 32, "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/a2a-a2a-8f2c1d0/0123456789abcdef", 30]);
  });

  it("builds the router from the repository root and Envoy from envoy with the mode as a build arg", () => {
    const specs = imageBuildSpecs("/repo", "xds");
    assert.deepEqual([specs.router.context, specs.router.dockerfile], ["/repo", "/repo/router/Dockerfile"]);
    assert.deepEqual([specs.envoy.context, specs.envoy.dockerfile, specs.envoy.args], ["/repo/envoy", "/repo/envoy/Dockerfile", { ENVOY_MODE: "xds" }]);
  });
});

describe("infra decisions: alarms and dashboard", () => {
  const ids = { loadBalancer: "net/a/1", a2aTargetGroup: "targetgroup/t/1", probeFunctionName: "probe" };
  const settings = { project: "pixell-a2a", stack: "dev", namespace: "Pixell/A2A", dashboardUrl: "https://example", probeLambdaTimeoutSeconds: 30, unhealthyPercent: 25, minDeploymentsProbed: 1 };
  const metricAlarms = (schedule: string): MetricAlarmSpec<string>[] =>
    alarmPlan(ids, { ...settings, probeSchedule: schedule }).filter((a): a is MetricAlarmSpec<string> => a.kind === "metric");

  it("derives the per-run period from the schedule's longest gap (cron included)", () => {
    const period = (schedule: string, key: string): number => metricAlarms(schedule).find((a) => a.key === key)!.period;
    assert.deepEqual(["rate(1 minute)", "rate(5 minutes)", "rate(2 hours)", "cron(0 * * * ? *)", "cron(0/15 * * * ? *)", "cron(0,10,50 * * * ? *)"].map((s) => period(s, "deployments-probed-low")),
      [60, 300, 7200, 3600, 900, 2400]);
    // Weekdays only: Friday's last run to Monday's first is the longest gap.
    assert.equal(period("cron(0 * ? * MON-FRI *)", "probe-errors"), 2 * 86400 + 3600);
  });

  it("declares only alarms CloudWatch accepts (PutMetricAlarm period and evaluation-window rules) for every schedule the config accepts", () => {
    // https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
    for (const schedule of ["rate(1 minute)", "rate(7 minutes)", "rate(1 hour)", "rate(1 day)", "rate(2 days)", "cron(0 12 * * ? *)", "cron(0 * ? * MON-FRI *)"]) {
      for (const a of metricAlarms(schedule)) {
        assert.equal(alarmWindowProblem(a.period, a.evaluationPeriods), undefined, `${schedule} ${a.key}`);
        for (const q of a.queries) assert.equal(q.metric?.period ?? q.period ?? a.period, a.period, `${schedule} ${a.key}: every query at the alarm's period`);
        // Metrics Insights alarms evaluate at most the last 3 hours ("Limits", Metrics Insights alarms).
        if (a.perContributor) assert.ok(a.period * a.evaluationPeriods <= 10800, `${schedule} ${a.key}`);
      }
    }
    assert.match(alarmWindowProblem(86400, 8)!, /exceeds CloudWatch's 604800 s/);
    assert.match(alarmWindowProblem(3540, 25)!, /exceeds CloudWatch's 86400 s/);
    assert.match(alarmWindowProblem(90, 1)!, /10, 20, 30 or a multiple of 60/);
    assert.equal(alarmWindowProblem(20, 3), undefined);
  });

  it("lays out a dashboard whose metric rows are well formed", () => {
    const body = dashboardBody({
      region: "us-east-2", namespace: "Pixell/A2A", loadBalancer: "net/a/1", a2aTargetGroup: "targetgroup/t/1", restTargetGroup: "targetgroup/r/1", clusterName: "c", serviceName: "s", probeFunctionName: "probe",
      probeLogGroup: "/aws/lambda/p", routerLogGroup: "/ecs/p/router", probeLambdaTimeoutSeconds: 30,
    });
    const positions = new Set(body.widgets.map((w) => `${w.x},${w.y}`));
    assert.equal(positions.size, body.widgets.length, "no two widgets overlap");
    for (const w of body.widgets) {
      if (w.type === "log") {
        // A Logs Insights widget names its log group in the query's SOURCE (CloudWatch dashboard body structure).
        assert.match(String(w.properties.query), /^SOURCE '[^']+' \| /);
        continue;
      }
      for (const row of w.properties.metrics as unknown[][]) {
        const last = row[row.length - 1];
        if (typeof row[0] === "string") {
          // [namespace, metric, dim, value, ..., {options}]: dimension names and values in pairs.
          const plain = row.filter((x) => typeof x === "string");
          assert.equal(plain.length % 2, 0, JSON.stringify(row));
          assert.equal(typeof last, "object");
        } else {
          assert.equal(typeof (row[0] as { expression?: unknown }).expression, "string");
        }
      }
    }
  });
});
