import { strict as assert } from "node:assert";
import { loadStackConfigFile, runProgram, type Inputs, type ProgramRun } from "../helpers/pulumi-program";
import * as path from "node:path";

/** Every policy document the program attaches, parsed. */
function policies(run: ProgramRun): { name: string; doc: { Statement: Inputs[] } }[] {
  return run.ofType("aws:iam/rolePolicy:RolePolicy").map((r) => ({ name: r.name, doc: JSON.parse(r.inputs.policy) }));
}

function ingress(run: ProgramRun, group: "nlb" | "rest" | "tasks" | "probe"): Inputs[] {
  return run.ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").filter((r) => r.name.includes(`-${group}-in-`)).map((r) => r.inputs);
}

function egress(run: ProgramRun, group: "nlb" | "rest" | "tasks" | "probe"): Inputs[] {
  return run.ofType("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule").filter((r) => r.name.includes(`-${group}-out-`)).map((r) => r.inputs);
}

const MOCK_ARN = "arn:aws:mock:us-east-2:123456789012";

function containers(run: ProgramRun): Inputs[] {
  return JSON.parse(run.one("aws:ecs/taskDefinition:TaskDefinition").inputs.containerDefinitions);
}

const env = (container: Inputs): Record<string, string> =>
  Object.fromEntries((container.environment as { name: string; value: string }[]).map((e) => [e.name, e.value]));

describe("infra stack under mocks: Pulumi.dev.yaml", function () {
  this.timeout(60000);
  let run: ProgramRun;
  before(async () => {
    run = await runProgram(loadStackConfigFile());
  });

  it("exports the endpoints, dashboard, images and Cloud Map names", () => {
    const nlb = run.one("aws:lb/loadBalancer:LoadBalancer", "a2a-nlb");
    assert.ok(nlb);
    assert.match(String(run.outputs.a2aEndpoint), /^a2a-nlb-\S+\.elb\.us-east-2\.amazonaws\.com:50051$/);
    // The REST URL names the internal REST NLB, the one its allowed clients can reach.
    assert.match(String(run.outputs.restEndpoint), /^http:\/\/a2a-rest-nlb-\S+\.elb\.us-east-2\.amazonaws\.com:8080$/);
    assert.equal(run.outputs.dashboardUrl, "https://us-east-2.console.aws.amazon.com/cloudwatch/home?region=us-east-2#dashboards:name=pixell-a2a-dev");
    assert.match(String(run.outputs.routerImageUri), /a2a-router@sha256:/);
    assert.match(String(run.outputs.envoyImageUri), /a2a-envoy@sha256:/);
    assert.equal(run.outputs.cloudMapNamespace, "pixell-runtime.local");
    assert.equal(run.outputs.cloudMapService, "agents");
  });

  it("builds a new VPC over two zones with public and private subnets and a NAT per zone", () => {
    assert.equal(run.one("aws:ec2/vpc:Vpc").inputs.cidrBlock, "10.0.0.0/16");
    const subnets = run.ofType("aws:ec2/subnet:Subnet").map((s) => [s.inputs.availabilityZone, s.inputs.cidrBlock]).sort();
    assert.deepEqual(subnets, [["us-east-2a", "10.0.0.0/20"], ["us-east-2a", "10.0.128.0/20"], ["us-east-2b", "10.0.144.0/20"], ["us-east-2b", "10.0.16.0/20"]]);
    const nats = run.ofType("aws:ec2/natGateway:NatGateway");
    assert.deepEqual(nats.map((n) => n.inputs.subnetId).sort(), ["a2a-public-us-east-2a-id", "a2a-public-us-east-2b-id"]);
    assert.equal(run.ofType("aws:ec2/eip:Eip").length, 2);
    // natGateways: perZone: each zone's private subnet leaves through its own zone's NAT.
    for (const az of ["us-east-2a", "us-east-2b"]) {
      assert.deepEqual(run.one("aws:ec2/routeTable:RouteTable", `a2a-private-${az}`).inputs.routes, [{ cidrBlock: "0.0.0.0/0", natGatewayId: `a2a-nat-${az}-id` }]);
    }
  });

  // ECR keeps image layers in S3; a gateway endpoint on the private route tables lets Fargate pull
  // them without the NAT (AWS: Amazon ECR User Guide, "Amazon ECR interface VPC endpoints",
  // section "Create the Amazon S3 gateway endpoint"; gateway endpoints have no charge).
  it("routes S3 (ECR's image layers) from the private subnets through a gateway endpoint", () => {
    const s3 = run.one("aws:ec2/vpcEndpoint:VpcEndpoint", "a2a-s3").inputs;
    assert.deepEqual([s3.serviceName, s3.vpcEndpointType, s3.vpcId], ["com.amazonaws.us-east-2.s3", "Gateway", "a2a-vpc-id"]);
    assert.deepEqual([...s3.routeTableIds].sort(), ["a2a-private-us-east-2a-id", "a2a-private-us-east-2b-id"]);
    assert.equal(s3.policy, undefined, "default policy: agents' own S3 traffic takes this route too");
  });

  it("puts an internet-facing NLB with its own security group in the public subnets", () => {
    const nlb = run.one("aws:lb/loadBalancer:LoadBalancer", "a2a-nlb").inputs;
    assert.equal(nlb.loadBalancerType, "network");
    assert.equal(nlb.internal, false);
    assert.equal(nlb.subnets.length, 2);
    assert.ok(nlb.subnets.every((id: string) => id.includes("-public-")));
    assert.deepEqual(nlb.securityGroups, ["a2a-nlb-id"]);
  });

  // An internet-facing NLB's name resolves to public addresses: a VPC client reaches it from its
  // NAT's public IP, so a VPC CIDR in its group never matches. REST goes on an internal NLB instead,
  // whose group sees the client's private address (NLB security groups filter client traffic:
  // Elastic Load Balancing, "Update the security groups for your Network Load Balancer").
  it("serves PAR's REST API from an internal NLB of its own, admitting restAllowedCidrs there", () => {
    const rest = run.one("aws:lb/loadBalancer:LoadBalancer", "a2a-rest-nlb").inputs;
    assert.deepEqual([rest.loadBalancerType, rest.internal], ["network", true]);
    assert.deepEqual(rest.subnets, ["a2a-private-us-east-2a-id", "a2a-private-us-east-2b-id"]);
    assert.deepEqual(rest.securityGroups, ["a2a-rest-id"]);
    assert.equal(run.one("aws:lb/listener:Listener", "a2a-rest").inputs.loadBalancerArn, `${MOCK_ARN}:loadbalancer/a2a-rest-nlb`);
    assert.equal(run.one("aws:lb/listener:Listener", "a2a-a2a").inputs.loadBalancerArn, `${MOCK_ARN}:loadbalancer/a2a-nlb`);
    assert.deepEqual(ingress(run, "rest").map((r) => [r.fromPort, r.toPort, r.cidrIpv4]), [[8080, 8080, "10.0.0.0/16"]]);
    assert.deepEqual(egress(run, "rest").map((r) => [r.fromPort, r.referencedSecurityGroupId]), [[8080, "a2a-tasks-id"]]);
    assert.ok(ingress(run, "nlb").every((r) => r.fromPort !== 8080), "the internet-facing NLB has no REST rule");
    assert.ok(egress(run, "nlb").every((r) => r.fromPort !== 8080));
    // The dashboard's REST target rows carry the REST NLB's dimension (a metric of another NLB would be empty).
    const body = run.one("aws:cloudwatch/dashboard:Dashboard").inputs.dashboardBody as string;
    assert.ok(body.includes('"TargetGroup","targetgroup/a2a-rest/0123456789abcdef","LoadBalancer","net/a2a-rest-nlb/0123456789abcdef"'));
  });

  it("checks Envoy's readiness over HTTP for A2A and PAR's /health for REST, with short deregistration", () => {
    const a2a = run.one("aws:lb/targetGroup:TargetGroup", "a2a-a2a").inputs;
    assert.deepEqual([a2a.port, a2a.protocol, a2a.targetType, a2a.deregistrationDelay, a2a.connectionTermination], [50051, "TCP", "ip", 120, true]);
    assert.deepEqual([a2a.healthCheck.protocol, a2a.healthCheck.port, a2a.healthCheck.path, a2a.healthCheck.matcher], ["HTTP", "15021", "/ready", "200"]);
    assert.deepEqual([a2a.healthCheck.interval, a2a.healthCheck.healthyThreshold, a2a.healthCheck.unhealthyThreshold], [10, 2, 2]);
    const rest = run.one("aws:lb/targetGroup:TargetGroup", "a2a-rest").inputs;
    assert.deepEqual([rest.port, rest.protocol, rest.targetType], [8080, "TCP", "ip"]);
    assert.deepEqual([rest.healthCheck.protocol, rest.healthCheck.port, rest.healthCheck.path], ["HTTP", "traffic-port", "/health"]);
  });

  it("listens on 50051 (TCP) and 8080, each forwarding to its target group", () => {
    const listeners = run.ofType("aws:lb/listener:Listener").map((l) => [l.inputs.port, l.inputs.protocol, l.inputs.defaultActions[0].targetGroupArn]).sort();
    assert.deepEqual(listeners, [
      [50051, "TCP", "arn:aws:mock:us-east-2:123456789012:targetgroup/a2a-a2a"],
      [8080, "TCP", "arn:aws:mock:us-east-2:123456789012:targetgroup/a2a-rest"],
    ]);
    assert.equal(run.one("aws:lb/listener:Listener", "a2a-a2a").inputs.certificateArn, undefined);
  });

  it("runs PAR, the router and Envoy in one awsvpc Fargate task, started in that order", () => {
    const td = run.one("aws:ecs/taskDefinition:TaskDefinition").inputs;
    assert.deepEqual([td.networkMode, td.requiresCompatibilities, td.cpu, td.memory], ["awsvpc", ["FARGATE"], "1024", "2048"]);
    const [par, router, envoy] = containers(run);
    assert.deepEqual([par!.name, router!.name, envoy!.name], ["par", "router", "envoy"]);
    assert.equal(par!.image, "ghcr.io/pixell-global/pixell-agent-runtime:1.4.2");
    assert.deepEqual(par!.portMappings.map((p: Inputs) => p.containerPort ?? p.containerPortRange), [8080, "50054-50153"]);
    assert.deepEqual([env(par!).SERVICE_DISCOVERY_NAMESPACE, env(par!).SERVICE_DISCOVERY_SERVICE], ["pixell-runtime.local", "agents"]);
    assert.match(par!.healthCheck.command[1], /127\.0\.0\.1:8080\/health/);

    assert.equal(router!.image, run.outputs.routerImageUri);
    assert.deepEqual(router!.dependsOn, [{ containerName: "par", condition: "HEALTHY" }]);
    assert.deepEqual(env(router!), {
      ROUTER_LISTEN: "0.0.0.0:50052",
      ROUTER_ADMIN: "127.0.0.1:9902",
      ROUTER_REGISTRY: "par:http://127.0.0.1:8080,cloudmap:pixell-runtime.local/agents",
      ROUTER_DRAIN_MS: "20000",
      LOG_LEVEL: "info",
      // The dev stack ships with bearer auth and lets the stack create the tokens secret.
      ROUTER_AUTH: "bearer",
      ROUTER_AUTH_TOKENS: "secretsmanager:arn:aws:secretsmanager:us-east-2:123456789012:secret:pixell-a2a/dev/router-tokens-AbCdEf",
    });
    assert.deepEqual(router!.healthCheck.command.slice(0, 3), ["CMD", "node", "-e"]);
    assert.match(router!.healthCheck.command[3], /http:\/\/127\.0\.0\.1:9902\/readyz/);

    assert.equal(envoy!.image, run.outputs.envoyImageUri);
    assert.deepEqual(envoy!.dependsOn, [{ containerName: "router", condition: "HEALTHY" }]);
    assert.deepEqual(envoy!.portMappings.map((p: Inputs) => p.containerPort), [50051, 15021]);
    for (const c of [par!, router!, envoy!]) {
      assert.equal(c.logConfiguration.logDriver, "awslogs");
      assert.equal(c.logConfiguration.options["awslogs-group"], `/ecs/pixell-a2a-dev/${c.name}`);
    }
  });

  it("gives every container and the probe a log group with the configured retention", () => {
    const groups = run.ofType("aws:cloudwatch/logGroup:LogGroup").map((g) => [g.inputs.name, g.inputs.retentionInDays]).sort();
    assert.deepEqual(groups, [
      ["/aws/lambda/pixell-a2a-dev-probe", 30],
      ["/ecs/pixell-a2a-dev/envoy", 30],
      ["/ecs/pixell-a2a-dev/par", 30],
      ["/ecs/pixell-a2a-dev/router", 30],
    ]);
  });

  it("registers the Fargate service with both target groups, a grace period and the rollback circuit breaker", () => {
    const svc = run.one("aws:ecs/service:Service").inputs;
    assert.deepEqual(svc.deploymentCircuitBreaker, { enable: true, rollback: true });
    assert.equal(svc.healthCheckGracePeriodSeconds, 120);
    assert.equal(svc.desiredCount, 2);
    assert.equal(svc.launchType, "FARGATE");
    assert.deepEqual(svc.loadBalancers.map((lb: Inputs) => [lb.containerName, lb.containerPort]), [["envoy", 50051], ["par", 8080]]);
    assert.equal(svc.networkConfiguration.assignPublicIp, false);
    assert.ok(svc.networkConfiguration.subnets.every((id: string) => id.includes("-private-")));
    assert.deepEqual(run.one("aws:ecs/cluster:Cluster").inputs.settings, [{ name: "containerInsights", value: "enabled" }]);
  });

  it("creates the Cloud Map namespace and the agents service with custom health checks", () => {
    assert.equal(run.one("aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace").inputs.name, "pixell-runtime.local");
    const svc = run.one("aws:servicediscovery/service:Service").inputs;
    assert.equal(svc.name, "agents");
    assert.ok(svc.healthCheckCustomConfig);
    assert.equal(svc.dnsConfig.dnsRecords[0].type, "SRV");
  });

  it("admits the NLBs to the tasks only on 50051, 15021 (A2A) and 8080 (REST); router and agent ports only from the tasks", () => {
    const fromNlb = ingress(run, "tasks").filter((r) => r.referencedSecurityGroupId === "a2a-nlb-id").map((r) => r.fromPort).sort();
    assert.deepEqual(fromNlb, [15021, 50051]);
    assert.deepEqual(ingress(run, "tasks").filter((r) => r.referencedSecurityGroupId === "a2a-rest-id").map((r) => r.fromPort), [8080]);
    const fromTasks = ingress(run, "tasks").filter((r) => r.referencedSecurityGroupId === "a2a-tasks-id").map((r) => [r.fromPort, r.toPort]).sort();
    // No 9902: the router admin listens on 127.0.0.1 in the task (docs/security.md, "Trust boundary").
    assert.deepEqual(fromTasks, [[50052, 50052], [50054, 50153]]);
    assert.ok(ingress(run, "tasks").every((r) => r.cidrIpv4 === undefined), "no CIDR reaches the tasks directly");
    // The probe reaches the internet-facing NLB through NAT: the NAT gateways' Elastic IPs are admitted
    // (198.51.100.x are the mock's addresses for them), so it still gets in when allowedCidrs is narrowed.
    assert.deepEqual(ingress(run, "nlb").map((r) => [r.fromPort, r.cidrIpv4]), [[50051, "0.0.0.0/0"], [50051, "198.51.100.1/32"], [50051, "198.51.100.2/32"]]);
  });

  it("grants least privilege: no wildcard actions, conditions on PutMetricData and DiscoverInstances", () => {
    const all = policies(run);
    for (const { doc } of all) for (const s of doc.Statement) for (const a of s.Action) assert.ok(!a.includes("*"), `wildcard action ${a}`);
    const probe = all.find((p) => p.name.includes("policy"))!.doc.Statement;
    const put = probe.find((s) => s.Action.includes("cloudwatch:PutMetricData"))!;
    assert.deepEqual(put.Condition, { StringEquals: { "cloudwatch:namespace": "Pixell/A2A" } });
    const discover = probe.find((s) => s.Action.includes("servicediscovery:DiscoverInstances"))!;
    assert.deepEqual(discover.Condition.StringEquals, { "servicediscovery:NamespaceName": "pixell-runtime.local", "servicediscovery:ServiceName": "agents" });
    const task = all.find((p) => p.name === "a2a-task")!.doc.Statement;
    const register = task.find((s) => s.Action.includes("servicediscovery:RegisterInstance"))!;
    assert.equal(register.Resource, "arn:aws:servicediscovery:us-east-2:123456789012:service/srv-a2a-agents");
    assert.equal(run.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment").inputs.policyArn, "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy");
  });

  it("runs the probe Lambda every minute in the private subnets with the probe's environment", () => {
    const fn = run.one("aws:lambda/function:Function").inputs;
    assert.equal(fn.handler, "index.handler");
    assert.match(fn.runtime, /^nodejs(2[0-9])\.x$/);
    assert.deepEqual([fn.memorySize, fn.timeout], [256, 30]);
    assert.deepEqual(fn.vpcConfig, { subnetIds: ["a2a-private-us-east-2a-id", "a2a-private-us-east-2b-id"], securityGroupIds: ["a2a-probe-id"] });
    // It calls the NLB's public addresses (no group names them) and the AWS APIs, both through NAT, and each task directly.
    assert.deepEqual(egress(run, "probe").map((r) => [r.fromPort, r.cidrIpv4 ?? r.referencedSecurityGroupId]).sort(), [[443, "0.0.0.0/0"], [50051, "0.0.0.0/0"], [50051, "a2a-tasks-id"]]);
    assert.deepEqual(ingress(run, "tasks").filter((r) => r.referencedSecurityGroupId === "a2a-probe-id").map((r) => [r.fromPort, r.toPort]), [[50051, 50051]]);
    assert.deepEqual(fn.environment.variables, {
      PROBE_ENDPOINT: run.outputs.a2aEndpoint,
      PROBE_TLS: "false",
      CLOUDMAP_NAMESPACE: "pixell-runtime.local",
      CLOUDMAP_SERVICE: "agents",
      CLOUDMAP_SERVICE_ID: "a2a-agents-id",
      METRICS_NAMESPACE: "Pixell/A2A",
      PROBE_TIMEOUT_MS: "3000",
      PROBE_CONCURRENCY: "64",
      LOG_LEVEL: "info",
      PROBE_PLATFORM_PERCENT: "25",
      // The A2A target group's ARN: the probe lists its targets (the tasks) with DescribeTargetHealth.
      PROBE_TARGET_GROUP_ARN: "arn:aws:mock:us-east-2:123456789012:targetgroup/a2a-a2a",
      PROBE_AUTH_TOKEN_SECRET: "arn:aws:secretsmanager:us-east-2:123456789012:secret:pixell-a2a/dev/probe-token-AbCdEf",
    });
    const probePolicy = JSON.parse(run.one("aws:iam/rolePolicy:RolePolicy", "a2a-policy").inputs.policy) as { Statement: Inputs[] };
    assert.deepEqual(probePolicy.Statement.find((st) => st.Sid === "ListTasksBehindTheNlb"), { Sid: "ListTasksBehindTheNlb", Effect: "Allow", Action: ["elasticloadbalancing:DescribeTargetHealth"], Resource: "*" });
    assert.equal(run.one("aws:cloudwatch/eventRule:EventRule").inputs.scheduleExpression, "rate(1 minute)");
    assert.equal(run.one("aws:cloudwatch/eventTarget:EventTarget").inputs.arn, "arn:aws:mock:us-east-2:123456789012:function/a2a-fn");
    const permission = run.one("aws:lambda/permission:Permission").inputs;
    assert.deepEqual([permission.principal, permission.sourceArn], ["events.amazonaws.com", "arn:aws:mock:us-east-2:123456789012:eventrule/a2a-schedule"]);
  });

  it("declares the alarm plan: named <project>-<stack>-<what>, by query and dimensions, only the per-deployment and composite alarms with actions", () => {
    // The registry capacity alarms (infra/registry-capacity.ts) notify the topic directly: test/process/infra-scaling.test.ts.
    const alarms = Object.fromEntries(run.ofType("aws:cloudwatch/metricAlarm:MetricAlarm").filter((a) => !a.name.startsWith("a2a-registry-")).map((a) => [a.inputs.name as string, a.inputs]));
    assert.deepEqual(Object.keys(alarms).sort(), [
      "deployment-failing", "deployments-not-probed", "deployments-probed-low", "discovery-errors", "endpoint-unreachable", "fleet-unhealthy",
      "nlb-unhealthy-targets", "probe-duration-near-timeout", "probe-errors", "probe-throttled", "task-failing",
    ].map((k) => `pixell-a2a-dev-${k}`));
    const topic = run.outputs.alarmTopicArn;
    const perDeployment = alarms["pixell-a2a-dev-deployment-failing"]!;
    assert.deepEqual(perDeployment.metricQueries, [{
      id: "failing", returnData: true, period: 60, label: "failing deployments",
      expression: 'SELECT MAX(DeploymentFailing) FROM SCHEMA("Pixell/A2A", DeploymentId) GROUP BY DeploymentId ORDER BY MAX() DESC',
    }]);
    assert.deepEqual([perDeployment.alarmActions, perDeployment.okActions, perDeployment.treatMissingData, perDeployment.evaluationPeriods, perDeployment.datapointsToAlarm], [[topic], [topic], "notBreaching", 3, 2]);
    for (const [name, a] of Object.entries(alarms)) {
      if (name !== "pixell-a2a-dev-deployment-failing") assert.deepEqual([a.alarmActions, a.okActions], [[], []], `${name} pages through the composite`);
      assert.match(a.alarmDescription, /Check: 1\) .* 2\) .* 3\) .* Dashboard: https:\/\/us-east-2\.console\.aws\.amazon\.com\/cloudwatch\/home\?region=us-east-2#dashboards:name=pixell-a2a-dev$/);
      assert.equal(a.metricName, undefined, `${name}: every alarm is expressed as metricQueries`);
    }
    assert.deepEqual(alarms["pixell-a2a-dev-nlb-unhealthy-targets"]!.metricQueries[0].metric.dimensions, { LoadBalancer: "net/a2a-nlb/0123456789abcdef", TargetGroup: "targetgroup/a2a-a2a/0123456789abcdef" });
    assert.deepEqual(alarms["pixell-a2a-dev-probe-errors"]!.metricQueries.map((q: Inputs) => q.expression ?? q.metric.dimensions), [{ FunctionName: "pixell-a2a-dev-probe" }, "FILL(m, 0)"]);
    assert.equal(alarms["pixell-a2a-dev-deployments-probed-low"]!.treatMissingData, "breaching");

    const composite = run.one("aws:cloudwatch/compositeAlarm:CompositeAlarm").inputs;
    assert.equal(composite.alarmName, "pixell-a2a-dev-platform");
    assert.deepEqual([composite.alarmActions, composite.okActions], [[topic], [topic]]);
    const members = Object.keys(alarms).filter((n) => n !== "pixell-a2a-dev-deployment-failing");
    assert.deepEqual([...composite.alarmRule.matchAll(/ALARM\("([^"]+)"\)/g)].map((m) => m[1]).sort(), members.sort());
    assert.equal(run.outputs.platformAlarmName, "pixell-a2a-dev-platform");
    assert.equal(run.ofType("aws:sns/topicSubscription:TopicSubscription").length, 0, "no subscription without alarmEmail or alarmHttpsEndpoint");
  });

  it("publishes a dashboard whose JSON parses and names the probe, NLB, ECS and Lambda metrics", () => {
    const body = JSON.parse(run.one("aws:cloudwatch/dashboard:Dashboard").inputs.dashboardBody) as { widgets: { type: string; properties: { metrics?: unknown[]; query?: string } }[] };
    const text = JSON.stringify(body);
    assert.ok(!text.includes("SEARCH("), "no per-deployment SEARCH widget (capped at 500 series)");
    const logs = body.widgets.filter((w) => w.type === "log").map((w) => w.properties.query!);
    assert.ok(logs.some((q) => q.startsWith("SOURCE '/aws/lambda/pixell-a2a-dev-probe' | filter msg = \"deployment failing\"")), "the failing deployments table reads the probe's log group");
    assert.ok(logs.some((q) => q.startsWith("SOURCE '/ecs/pixell-a2a-dev/router' | filter msg = \"call refused\"")), "router refusals by code from the router's log group");
    for (const metric of ["DeploymentFailing", "TaskFailing", "ProbeLatency", "DeploymentsProbed", "DeploymentsUnhealthy", "DeploymentsNotProbed", "EndpointReachable", "EndpointConnectTime", "TasksUnhealthy", "HealthyHostCount", "UnHealthyHostCount", "ActiveFlowCount", "CPUUtilization", "MemoryUtilization", "Errors", "Throttles", "Duration"]) {
      assert.ok(text.includes(metric), `dashboard names ${metric}`);
    }
    assert.ok(text.includes("net/a2a-nlb/0123456789abcdef") && text.includes("a2a-cluster") && text.includes("pixell-a2a-dev-probe"));
  });

  it("builds the router and Envoy images from their Dockerfiles in router mode", () => {
    const images = Object.fromEntries(run.ofType("awsx:ecr:Image").map((i) => [i.name, i.inputs]));
    assert.match(images["a2a-router"]!.dockerfile, /router\/Dockerfile$/);
    assert.equal(images["a2a-envoy"]!.dockerfile, path.join(__dirname, "..", "..", "envoy", "Dockerfile"));
    assert.equal(images["a2a-envoy"]!.context, path.join(__dirname, "..", "..", "envoy"));
    assert.deepEqual(images["a2a-envoy"]!.args, { ENVOY_MODE: "router" });
  });
});

describe("infra stack under mocks: variants", function () {
  this.timeout(60000);
  const base = loadStackConfigFile();
  const existingVpc = {
    "pixell-a2a:vpcId": "vpc-0123456789abcdef0",
    "pixell-a2a:privateSubnetIds": JSON.stringify(["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]),
    "pixell-a2a:restAllowedCidrs": JSON.stringify(["172.31.0.0/16"]),
  };

  it("uses an existing VPC with an internal NLB and puts the probe in the VPC", async () => {
    const { "pixell-a2a:vpcCidr": _cidr, "pixell-a2a:restAllowedCidrs": _rest, "pixell-a2a:natGateways": _nat, ...rest } = base;
    const run = await runProgram({ ...rest, ...existingVpc, "pixell-a2a:internetFacing": "false", "pixell-a2a:allowedCidrs": JSON.stringify(["10.20.0.0/16"]) });
    assert.equal(run.ofType("aws:ec2/vpc:Vpc").length, 0);
    assert.equal(run.ofType("aws:ec2/subnet:Subnet").length, 0);
    // The VPC's owner manages its endpoints: a second S3 gateway endpoint on a route table that has one fails.
    assert.equal(run.ofType("aws:ec2/vpcEndpoint:VpcEndpoint").length, 0);
    assert.equal(run.outputs.vpcId, "vpc-0123456789abcdef0");
    // Internal already: REST shares the one NLB (no second NLB, no rest group).
    const nlb = run.one("aws:lb/loadBalancer:LoadBalancer").inputs;
    assert.equal(run.ofType("aws:ec2/securityGroup:SecurityGroup").filter((g) => g.name === "a2a-rest").length, 0);
    assert.deepEqual(ingress(run, "nlb").map((r) => [r.fromPort, r.cidrIpv4 ?? r.referencedSecurityGroupId]), [[50051, "10.20.0.0/16"], [8080, "172.31.0.0/16"], [50051, "a2a-probe-id"]]);
    assert.match(String(run.outputs.restEndpoint), /^http:\/\/a2a-nlb-\S+:8080$/);
    assert.equal(nlb.internal, true);
    assert.deepEqual(nlb.subnets, ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]);
    assert.equal(run.one("aws:lb/targetGroup:TargetGroup", "a2a-a2a").inputs.vpcId, "vpc-0123456789abcdef0");
    const fn = run.one("aws:lambda/function:Function").inputs;
    assert.deepEqual(fn.vpcConfig, { subnetIds: ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"], securityGroupIds: ["a2a-probe-id"] });
    assert.ok(ingress(run, "nlb").some((r) => r.fromPort === 50051 && r.referencedSecurityGroupId === "a2a-probe-id"), "the probe may reach the NLB");
    const probePolicy = policies(run).find((p) => p.name.includes("policy"))!.doc.Statement;
    assert.ok(probePolicy.some((s) => s.Action.includes("ec2:CreateNetworkInterface")));
  });

  it("in xds mode bakes ENVOY_MODE=xds into Envoy and turns on the router's xDS server on its Unix socket", async () => {
    const run = await runProgram({ ...base, "pixell-a2a:envoyMode": "xds", "pixell-a2a:callerAuth": "off", "pixell-a2a:allowedCidrs": JSON.stringify(["203.0.113.0/24"]) });
    assert.deepEqual(run.one("awsx:ecr:Image", "envoy").inputs.args, { ENVOY_MODE: "xds" });
    assert.equal(env(containers(run)[1]!).ROUTER_XDS, "unix:/var/run/pixell-xds/xds.sock");
  });

  it("terminates TLS on the A2A listener when a certificate is set and tells the probe", async () => {
    const arn = "arn:aws:acm:us-east-2:123456789012:certificate/0b1c2d3e-aaaa-bbbb-cccc-000000000000";
    const run = await runProgram({ ...base, "pixell-a2a:tlsCertificateArn": arn, "pixell-a2a:alarmEmail": "oncall@example.com" });
    const listener = run.one("aws:lb/listener:Listener", "a2a-a2a").inputs;
    assert.deepEqual([listener.port, listener.protocol, listener.certificateArn, listener.alpnPolicy], [50051, "TLS", arn, "HTTP2Preferred"]);
    assert.equal(run.one("aws:lambda/function:Function").inputs.environment.variables.PROBE_TLS, "true");
    const sub = run.one("aws:sns/topicSubscription:TopicSubscription").inputs;
    assert.deepEqual([sub.protocol, sub.endpoint], ["email", "oncall@example.com"]);
  });

  it("subscribes a pager's HTTPS webhook beside the email when alarmHttpsEndpoint is set", async () => {
    const hook = "https://events.pagerduty.com/integration/0123456789abcdef/enqueue";
    const run = await runProgram({ ...base, "pixell-a2a:alarmEmail": "oncall@example.com", "pixell-a2a:alarmHttpsEndpoint": hook });
    const subs = run.ofType("aws:sns/topicSubscription:TopicSubscription").map((r) => r.inputs);
    assert.deepEqual(subs.map((x) => [x.protocol, x.endpoint, x.topic]), [["email", "oncall@example.com", run.outputs.alarmTopicArn], ["https", hook, run.outputs.alarmTopicArn]]);
    assert.equal(subs[1]!.endpointAutoConfirms, true);
  });

  it("fails before declaring anything when a value is bad, naming key, value and what is accepted", async () => {
    await assert.rejects(runProgram({ ...base, "pixell-a2a:memory": "3000", "pixell-a2a:envoyMode": "sidecar" }), (err: Error) => {
      assert.equal(err.name, "ConfigError");
      assert.match(err.message, /pixell-a2a:memory = "3000" is not valid: expected a Fargate memory size for cpu 1024/);
      assert.match(err.message, /pixell-a2a:envoyMode = "sidecar" is not valid: expected one of router, xds/);
      return true;
    });
  });

  it("rejects a key it does not read (a typo would otherwise be silently ignored)", async () => {
    await assert.rejects(runProgram({ ...base, "pixell-a2a:desiredcount": "3" }), /pixell-a2a:desiredcount is not a key this stack reads/);
  });
});
