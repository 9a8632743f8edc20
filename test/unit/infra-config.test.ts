import { strict as assert } from "node:assert";
import { fargateMemoryOptions, isCidr, parseStackConfig, unknownKeys, type RawConfig } from "../../infra/config";
import { stackNameProblems } from "../../infra/config-checks";
import { cronRunsOn, longestGapSeconds, parseSchedule, type CronSchedule } from "../../infra/schedule";
import { configProblems } from "../helpers/config-problems";

// The PAR image and callers from one range (TEST-NET-3): the defaults alone (internet-facing,
// 0.0.0.0/0, callerAuth off) are an anonymous internet endpoint, which test/process/security-defaults.test.ts covers.
const MINIMAL: RawConfig = { parImage: "ghcr.io/pixell-global/pixell-agent-runtime:1.4.2", allowedCidrs: "203.0.113.0/24" };


describe("infra config: parseStackConfig", () => {
  it("fills every default from the PAR image and the callers' range", () => {
    const c = parseStackConfig(MINIMAL);
    assert.equal(c.region, "us-east-2");
    assert.deepEqual(c.network, { vpcId: undefined, publicSubnetIds: [], privateSubnetIds: [], vpcCidr: "10.0.0.0/16", availabilityZones: ["us-east-2a", "us-east-2b"], natGateways: "perZone" });
    assert.deepEqual([c.parImageCredentials, c.probeEgressCidrs], [undefined, []]);
    assert.deepEqual([c.internetFacing, c.allowedCidrs, c.restAllowedCidrs], [true, ["203.0.113.0/24"], ["10.0.0.0/16"]]);
    assert.deepEqual([c.callerAuth, c.allowAnonymousInternet], [{ mode: "off" }, false]);
    assert.deepEqual([c.desiredCount, c.cpu, c.memory, c.envoyMode, c.logRetentionDays], [2, 1024, 2048, "router", 30]);
    assert.deepEqual([c.probeSchedule, c.probeTimeoutMs, c.probeLambdaTimeoutSeconds, c.probeMemoryMb], ["rate(1 minute)", 3000, 30, 256]);
    assert.deepEqual([c.cloudMapNamespace, c.cloudMapService, c.alarmEmail, c.tlsCertificateArn], ["pixell-runtime.local", "agents", undefined, undefined]);
    assert.deepEqual([c.alarmHttpsEndpoint, c.alarmUnhealthyPercent, c.alarmMinDeploymentsProbed], [undefined, 25, 1]);
  });

  it("reads the alerting keys: a pager's HTTPS webhook, the platform share and the probed floor", () => {
    const c = parseStackConfig({ ...MINIMAL, alarmHttpsEndpoint: "https://events.pagerduty.com/integration/abc/enqueue", alarmUnhealthyPercent: "40", alarmMinDeploymentsProbed: "900" });
    assert.deepEqual([c.alarmHttpsEndpoint, c.alarmUnhealthyPercent, c.alarmMinDeploymentsProbed], ["https://events.pagerduty.com/integration/abc/enqueue", 40, 900]);
    const problems = configProblems({ ...MINIMAL, alarmHttpsEndpoint: "http://pager.example.com/hook", alarmUnhealthyPercent: "0", alarmMinDeploymentsProbed: "-1" }).join("\n");
    assert.match(problems, /pixell-a2a:alarmHttpsEndpoint = "http:\/\/pager.example.com\/hook" is not valid: expected an https:\/\/ URL of a pager's webhook/);
    assert.match(problems, /pixell-a2a:alarmUnhealthyPercent = "0" is not valid: expected an integer from 1 to 100/);
    assert.match(problems, /pixell-a2a:alarmMinDeploymentsProbed = "-1" is not valid: expected an integer from 1 to 1000000/);
  });

  it("reads lists as YAML lists (JSON, as Pulumi passes them) or comma-separated", () => {
    const a = parseStackConfig({ ...MINIMAL, allowedCidrs: '["203.0.113.0/24","198.51.100.0/24"]' });
    const b = parseStackConfig({ ...MINIMAL, allowedCidrs: "203.0.113.0/24, 198.51.100.0/24" });
    assert.deepEqual(a.allowedCidrs, ["203.0.113.0/24", "198.51.100.0/24"]);
    assert.deepEqual(b.allowedCidrs, a.allowedCidrs);
  });

  it("accepts an existing VPC with its subnets and derives zones from the region", () => {
    const c = parseStackConfig({
      ...MINIMAL,
      vpcId: "vpc-0123456789abcdef0",
      privateSubnetIds: '["subnet-0aaaaaaaaaaaaaaa1","subnet-0aaaaaaaaaaaaaaa2"]',
      publicSubnetIds: "subnet-0bbbbbbbbbbbbbbb1,subnet-0bbbbbbbbbbbbbbb2",
      restAllowedCidrs: "172.31.0.0/16",
    }, "eu-west-1");
    assert.equal(c.network.vpcId, "vpc-0123456789abcdef0");
    assert.deepEqual(c.network.publicSubnetIds, ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"]);
    assert.deepEqual(c.network.availabilityZones, ["eu-west-1a", "eu-west-1b"]);
  });

  it("names the key, the value and what is accepted, for every bad value at once", () => {
    const problems = configProblems({
      ...MINIMAL,
      cpu: "1000",
      desiredCount: "zero",
      envoyMode: "sidecar",
      internetFacing: "yes",
      allowedCidrs: "10.0.0.0/33",
      logRetentionDays: "31",
      probeSchedule: "every minute",
      alarmEmail: "oncall",
      tlsCertificateArn: "arn:aws:iam::123456789012:server-certificate/x",
    });
    const expectations: [string, RegExp][] = [
      ["cpu", /pixell-a2a:cpu = "1000" is not valid: expected a Fargate CPU size: 256, 512/],
      ["desiredCount", /pixell-a2a:desiredCount = "zero" is not valid: expected an integer from 1 to 100/],
      ["envoyMode", /pixell-a2a:envoyMode = "sidecar" is not valid: expected one of router, xds/],
      ["internetFacing", /pixell-a2a:internetFacing = "yes" is not valid: expected true or false/],
      ["allowedCidrs", /pixell-a2a:allowedCidrs = "10.0.0.0\/33" is not valid: expected IPv4 CIDRs/],
      ["logRetentionDays", /pixell-a2a:logRetentionDays = "31" is not valid: expected one of 1, 3, 5, 7, 14, 30/],
      ["probeSchedule", /pixell-a2a:probeSchedule = "every minute" is not valid: expected an EventBridge schedule/],
      ["alarmEmail", /pixell-a2a:alarmEmail = "oncall" is not valid: expected an email address/],
      ["tlsCertificateArn", /pixell-a2a:tlsCertificateArn = .* expected an ACM certificate ARN/],
    ];
    for (const [key, pattern] of expectations) assert.ok(problems.some((p) => pattern.test(p)), `${key}: ${problems.join("\n")}`);
    assert.equal(problems.length, expectations.length);
  });

  it("requires the PAR image", () => {
    assert.match(configProblems({}).join("\n"), /pixell-a2a:parImage is required/);
    assert.match(configProblems({ parImage: "Not An Image" }).join("\n"), /pixell-a2a:parImage = "Not An Image" is not valid/);
  });

  it("rejects memory that does not fit the CPU size, saying which sizes fit", () => {
    assert.match(configProblems({ ...MINIMAL, cpu: "256", memory: "4096" }).join(), /memory = "4096" .* for cpu 256: 512 to 2048 MiB/);
    assert.equal(parseStackConfig({ ...MINIMAL, cpu: "4096", memory: "30720" }).memory, 30720);
  });

  it("requires subnets with an existing VPC and refuses subnets without one", () => {
    assert.match(configProblems({ ...MINIMAL, vpcId: "vpc-0123456789abcdef0" }).join("\n"), /privateSubnetIds must list at least two subnets/);
    assert.match(configProblems({ ...MINIMAL, vpcId: "vpc-0123456789abcdef0", internetFacing: "false", privateSubnetIds: "subnet-0aaaaaaaaaaaaaaa1,subnet-0aaaaaaaaaaaaaaa2" }).join("\n"),
      /restAllowedCidrs must list at least one IPv4 CIDR .*required with pixell-a2a:vpcId/);
    assert.match(configProblems({ ...MINIMAL, privateSubnetIds: "subnet-0aaaaaaaaaaaaaaa1" }).join("\n"), /only used with an existing VPC/);
  });

  it("rejects zones outside the region and a single zone", () => {
    assert.match(configProblems({ ...MINIMAL, availabilityZones: "us-east-2a" }).join(), /availabilityZones = "us-east-2a" .* 2 to 4 distinct zones of us-east-2/);
    assert.match(configProblems({ ...MINIMAL, availabilityZones: "us-west-2a,us-west-2b" }).join(), /availabilityZones/);
  });

  it("keeps the probe Lambda's timeout above the call deadline plus the metrics reserve", () => {
    assert.match(configProblems({ ...MINIMAL, probeTimeoutMs: "10000", probeLambdaTimeoutSeconds: "15" }).join(), /probeLambdaTimeoutSeconds = "15" .* at least 16 s/);
    assert.equal(parseStackConfig({ ...MINIMAL, probeTimeoutMs: "10000", probeLambdaTimeoutSeconds: "16" }).probeLambdaTimeoutSeconds, 16);
  });

  it("rejects a malformed region", () => {
    assert.match(configProblems(MINIMAL, "ohio").join(), /aws:region = "ohio"/);
  });
});

describe("infra config: helpers", () => {
  it("knows Fargate's CPU/memory pairs", () => {
    assert.deepEqual(fargateMemoryOptions(256), [512, 1024, 2048]);
    assert.deepEqual([fargateMemoryOptions(1024)[0], fargateMemoryOptions(1024).at(-1)], [2048, 8192]);
    assert.deepEqual(fargateMemoryOptions(300), []);
  });

  it("validates IPv4 CIDRs", () => {
    assert.deepEqual(["0.0.0.0/0", "10.0.0.0/16", "256.0.0.0/8", "10.0.0.0/33", "10.0.0/8", "fd00::/8"].map(isCidr), [true, true, false, false, false, false]);
  });

  it("lists keys it does not read", () => {
    assert.deepEqual(unknownKeys(["cpu", "desiredcount", "parImage", "memroy"]), ["desiredcount", "memroy"]);
  });
});

// Values that pass a mock preview and fail `pulumi up` against AWS: each now fails parseStackConfig
// (so `pulumi preview`) with the key, the value and what is accepted.
describe("infra config: values AWS refuses at pulumi up", () => {
  const problem = (raw: RawConfig, region?: string): string => configProblems({ ...MINIMAL, ...raw }, region).join("\n");

  // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rate-expressions.html: "If the value is
  // equal to 1, then the unit must be singular. If the value is greater than 1, the unit must be plural."
  it("refuses rate(1 minutes) and rate(5 minute), saying which unit fits", () => {
    assert.match(problem({ probeSchedule: "rate(1 minutes)" }), /pixell-a2a:probeSchedule = "rate\(1 minutes\)" is not valid: expected an EventBridge schedule.*a value of 1 takes the singular unit: rate\(1 minute\)/);
    assert.match(problem({ probeSchedule: "rate(5 minute)" }), /probeSchedule = "rate\(5 minute\)" .*a value above 1 takes the plural unit: rate\(5 minutes\)/);
    assert.match(problem({ probeSchedule: "rate(0 minutes)" }), /probeSchedule = "rate\(0 minutes\)" .*positive integer/);
    for (const ok of ["rate(1 minute)", "rate(5 minutes)", "rate(1 hour)", "rate(2 days)"]) assert.equal(parseStackConfig({ ...MINIMAL, probeSchedule: ok }).probeSchedule, ok);
  });

  // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html: six fields,
  // ? in one of day-of-month/day-of-week, per-field ranges, # only alone in day-of-week.
  it("refuses cron expressions EventBridge refuses", () => {
    const cases: [string, RegExp][] = [
      ["cron(0/5 * * * *)", /six fields .* this one has 5/],
      ["cron(0/5 * * * * *)", /exactly one of day-of-month and day-of-week must be \?/],
      ["cron(0/5 * ? * ? *)", /exactly one of day-of-month and day-of-week must be \?/],
      ["cron(60 * * * ? *)", /minutes: 60 is outside 0-59/],
      ["cron(0 24 * * ? *)", /hours: 24 is outside 0-23/],
      ["cron(0 0 32 * ? *)", /day-of-month: 32 is outside 1-31/],
      ["cron(0 0 ? FOO MON *)", /month: "FOO" is not a number from 1 to 12 or JAN-DEC/],
      ["cron(0 0 ? * 8 *)", /day-of-week: 8 is outside 1-7/],
      ["cron(0 0 ? * 2#1,3#2 *)", /with # the field holds one expression only/],
      ["cron(0 0 * * ? 1969)", /year: 1969 is outside 1970-2199/],
      ["cron(0 0 * * ? 2030)", /stops running/],
    ];
    for (const [schedule, reason] of cases) {
      const p = problem({ probeSchedule: schedule });
      assert.ok(p.includes(`pixell-a2a:probeSchedule = ${JSON.stringify(schedule)} is not valid: expected an EventBridge schedule`), p);
      assert.match(p, reason, schedule);
    }
    for (const ok of ["cron(0/5 * * * ? *)", "cron(0 * ? * MON-FRI *)", "cron(*/10 * ? * 2-6 *)", "cron(0,30 * * JAN-DEC ? *)"]) {
      assert.doesNotThrow(() => parseStackConfig({ ...MINIMAL, probeSchedule: ok }), ok);
    }
    // EventBridge takes these (the guide's own examples); the probe refuses them only as too sparse (next test).
    for (const grammarOk of ["cron(15 10 ? * 6L *)", "cron(0 8 1W * ? *)", "cron(0 12 ? * 2#1 *)", "cron(0 0 L * ? *)", "cron(0 18 ? * MON-FRI *)", "cron(0/15 * * * ? 2024-2199)"]) {
      assert.equal(parseSchedule(grammarOk).ok, true, grammarOk);
    }
  });

  // The probe alarms look at three runs; CloudWatch caps period x evaluationPeriods at 604,800 s
  // (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html).
  it("refuses a schedule too sparse for three-run alarms CloudWatch accepts", () => {
    assert.match(problem({ probeSchedule: "rate(3 days)" }), /probeSchedule = "rate\(3 days\)" .*longest gap between runs is 259200 s.*Run the probe at least every 56 hours/);
    assert.match(problem({ probeSchedule: "cron(0 0 1 * ? *)" }), /probeSchedule = "cron\(0 0 1 \* \? \*\)" .*longest gap/);
  });

  // https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_PortMapping.html: "The first port in
  // the range must be less than last port in the range"; no port in two mappings; no overlapping ranges.
  it("refuses an agent port range ECS refuses or that overlaps a fixed port of the task", () => {
    assert.match(problem({ agentPortFirst: "50100", agentPortLast: "50100" }), /pixell-a2a:agentPortLast = "50100" is not valid: expected a port above agentPortFirst \(50100\): ECS requires the first port/);
    assert.match(problem({ agentPortFirst: "50100", agentPortLast: "50090" }), /agentPortLast = "50090" .*a port above agentPortFirst/);
    assert.match(problem({ agentPortFirst: "50000", agentPortLast: "50100" }), /agentPortLast = "50100" .*misses the task's fixed ports; it contains 50051 \(A2A_PORT\), 50052 \(ROUTER_PORT\)/);
    assert.match(problem({ agentPortFirst: "8000", agentPortLast: "8100" }), /8080 \(PAR_REST_PORT\)/);
    assert.match(problem({ agentPortFirst: "15000", agentPortLast: "18000" }), /15021 \(ENVOY_READY_PORT\), 18000 \(XDS_PORT\)/);
    assert.match(problem({ agentPortFirst: "70000" }), /agentPortFirst = "70000" .*an integer from 1024 to 65535/);
    assert.deepEqual([parseStackConfig({ ...MINIMAL, agentPortFirst: "20000", agentPortLast: "20001" }).agentPortLast], [20001]);
  });

  // https://docs.aws.amazon.com/acm/latest/userguide/acm-regions.html: ACM certificates are regional;
  // a load balancer uses a certificate from its own region.
  it("refuses a certificate ARN from another region or partition", () => {
    assert.match(problem({ tlsCertificateArn: "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-aaaa-bbbb-cccc-000000000000" }),
      /pixell-a2a:tlsCertificateArn = "arn:aws:acm:us-east-1:.*" is not valid: expected an ACM certificate in the stack's region us-east-2 \(this one is in us-east-1\)/);
    assert.match(problem({ tlsCertificateArn: "arn:aws-cn:acm:us-east-2:123456789012:certificate/0b1c2d3e" }), /expected an ARN of partition aws, the partition of us-east-2/);
    assert.match(problem({ tlsCertificateArn: "arn:aws:acm:cn-north-1:123456789012:certificate/0b1c" }, "cn-north-1"), /partition aws-cn, the partition of cn-north-1/);
    assert.equal(parseStackConfig({ ...MINIMAL, tlsCertificateArn: "arn:aws:acm:us-east-2:123456789012:certificate/0b1c2d3e-aaaa" }).tlsCertificateArn, "arn:aws:acm:us-east-2:123456789012:certificate/0b1c2d3e-aaaa");
  });

  // https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_iam-permissions.html (secret ARN format).
  it("refuses secret ARNs of another region, another partition, or without the 6-character suffix", () => {
    const bearer = (arn: string, region?: string): string => problem({ callerAuth: "bearer", callerAuthTokensSecretArn: arn }, region);
    assert.match(bearer("arn:aws:secretsmanager:us-east-2:123456789012:secret:pixell/router-doc"), /callerAuthTokensSecretArn = .* expected the complete ARN of a Secrets Manager secret/);
    assert.match(bearer("arn:aws:secretsmanager:eu-west-1:123456789012:secret:pixell/router-doc-AbC123"), /callerAuthTokensSecretArn = .* expected a secret in the stack's region us-east-2/);
    assert.match(bearer("arn:aws-us-gov:secretsmanager:us-east-2:123456789012:secret:pixell/router-doc-AbC123"), /callerAuthTokensSecretArn = .* expected an ARN of partition aws/);
    assert.match(problem({ callerAuth: "bearer", probeAuthTokenSecretArn: "arn:aws:ssm:us-east-2:123456789012:parameter/x" }), /probeAuthTokenSecretArn = .* expected the complete ARN/);
    const ok = parseStackConfig({ ...MINIMAL, callerAuth: "bearer", callerAuthTokensSecretArn: "arn:aws:secretsmanager:us-east-2:123456789012:secret:pixell/router-doc-AbC123" });
    assert.equal(ok.callerAuth.mode, "bearer");
  });
});

describe("infra config: project and stack names inside AWS names", () => {
  // Lambda function names: 64 characters of [a-zA-Z0-9-_] (https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html);
  // the probe is named <project>-<stack>-probe. Pulumi stack names may hold '.' and run to 100 characters.
  it("accepts the dev stack and refuses names that overflow or break a derived AWS name", () => {
    assert.deepEqual(stackNameProblems("pixell-a2a", "dev"), []);
    const longest = "s".repeat(64 - "pixell-a2a--probe".length);
    assert.deepEqual(stackNameProblems("pixell-a2a", longest), []);
    assert.match(stackNameProblems("pixell-a2a", `${longest}x`).join("\n"), /aws:lambda\/function:Function name = "pixell-a2a-s+x-probe": 65 characters, at most 64 allowed/);
    assert.match(stackNameProblems("pixell-a2a", "prod.eu").join("\n"), /aws:lambda\/function:Function name = "pixell-a2a-prod.eu-probe": only letters, digits, hyphens and underscores allowed/);
    assert.match(stackNameProblems("pixell-a2a", "prod.eu").join("\n"), /aws:cloudwatch\/dashboard:Dashboard dashboardName/);
  });
});

describe("infra schedule: EventBridge cron semantics", () => {
  const cron = (e: string): CronSchedule => {
    const r = parseSchedule(e);
    assert.ok(r.ok && r.schedule.kind === "cron", e);
    return r.schedule;
  };
  const day = (iso: string): Date => new Date(`${iso}T00:00:00Z`);

  it("runs on the days the special day forms name (L, W, #, nL), in UTC", () => {
    assert.equal(cronRunsOn(cron("cron(0 0 L * ? *)"), day("2024-02-29")), true);
    assert.equal(cronRunsOn(cron("cron(0 0 L * ? *)"), day("2024-02-28")), false);
    // 2024-06-01 is a Saturday: 1W is Monday the 3rd.
    assert.equal(cronRunsOn(cron("cron(0 0 1W * ? *)"), day("2024-06-03")), true);
    assert.equal(cronRunsOn(cron("cron(0 0 1W * ? *)"), day("2024-06-01")), false);
    // 2#1: the first Monday; 6L: the last Friday.
    assert.equal(cronRunsOn(cron("cron(0 0 ? * 2#1 *)"), day("2024-07-01")), true);
    assert.equal(cronRunsOn(cron("cron(0 0 ? * 2#1 *)"), day("2024-07-08")), false);
    assert.equal(cronRunsOn(cron("cron(0 0 ? * 6L *)"), day("2024-05-31")), true);
    assert.equal(cronRunsOn(cron("cron(0 0 ? * 6L *)"), day("2024-05-24")), false);
  });

  it("measures the longest gap between runs", () => {
    assert.equal(longestGapSeconds(cron("cron(0/5 * * * ? *)")), 300);
    assert.equal(longestGapSeconds(cron("cron(0 8-17 ? * * *)")), 15 * 3600);
    assert.equal(longestGapSeconds(cron("cron(0 0 29 2 ? *)")), (366 + 365 * 3) * 86400);
    assert.equal(longestGapSeconds(cron("cron(0 0 * * ? 2030)")), Infinity);
  });
});
