import { strict as assert } from "node:assert";
import { ConfigError, fargateMemoryOptions, isCidr, parseStackConfig, unknownKeys, type RawConfig } from "../infra/config";

const MINIMAL: RawConfig = { parImage: "ghcr.io/pixell-global/pixell-agent-runtime:1.4.2" };

function problemsOf(raw: RawConfig, region?: string): readonly string[] {
  try {
    parseStackConfig(raw, region);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail("expected the config to be rejected");
}

describe("infra config: parseStackConfig", () => {
  it("fills every default from the PAR image alone", () => {
    const c = parseStackConfig(MINIMAL);
    assert.equal(c.region, "us-east-2");
    assert.deepEqual(c.network, { vpcId: undefined, publicSubnetIds: [], privateSubnetIds: [], vpcCidr: "10.0.0.0/16", availabilityZones: ["us-east-2a", "us-east-2b"], natGateways: "perZone" });
    assert.deepEqual([c.parImageCredentials, c.probeEgressCidrs], [undefined, []]);
    assert.deepEqual([c.internetFacing, c.allowedCidrs, c.restAllowedCidrs], [true, ["0.0.0.0/0"], ["10.0.0.0/16"]]);
    assert.deepEqual([c.desiredCount, c.cpu, c.memory, c.envoyMode, c.logRetentionDays], [2, 1024, 2048, "router", 30]);
    assert.deepEqual([c.probeSchedule, c.probeTimeoutMs, c.probeLambdaTimeoutSeconds, c.probeMemoryMb], ["rate(1 minute)", 3000, 30, 256]);
    assert.deepEqual([c.cloudMapNamespace, c.cloudMapService, c.alarmEmail, c.tlsCertificateArn], ["pixell-runtime.local", "agents", undefined, undefined]);
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
    const problems = problemsOf({
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
    assert.match(problemsOf({}).join("\n"), /pixell-a2a:parImage is required/);
    assert.match(problemsOf({ parImage: "Not An Image" }).join("\n"), /pixell-a2a:parImage = "Not An Image" is not valid/);
  });

  it("rejects memory that does not fit the CPU size, saying which sizes fit", () => {
    assert.match(problemsOf({ ...MINIMAL, cpu: "256", memory: "4096" }).join(), /memory = "4096" .* for cpu 256: 512 to 2048 MiB/);
    assert.equal(parseStackConfig({ ...MINIMAL, cpu: "4096", memory: "30720" }).memory, 30720);
  });

  it("requires subnets with an existing VPC and refuses subnets without one", () => {
    assert.match(problemsOf({ ...MINIMAL, vpcId: "vpc-0123456789abcdef0" }).join("\n"), /privateSubnetIds must list at least two subnets/);
    assert.match(problemsOf({ ...MINIMAL, vpcId: "vpc-0123456789abcdef0", internetFacing: "false", privateSubnetIds: "subnet-0aaaaaaaaaaaaaaa1,subnet-0aaaaaaaaaaaaaaa2" }).join("\n"),
      /restAllowedCidrs must list at least one IPv4 CIDR .*required with pixell-a2a:vpcId/);
    assert.match(problemsOf({ ...MINIMAL, privateSubnetIds: "subnet-0aaaaaaaaaaaaaaa1" }).join("\n"), /only used with an existing VPC/);
  });

  it("rejects zones outside the region and a single zone", () => {
    assert.match(problemsOf({ ...MINIMAL, availabilityZones: "us-east-2a" }).join(), /availabilityZones = "us-east-2a" .* 2 to 4 distinct zones of us-east-2/);
    assert.match(problemsOf({ ...MINIMAL, availabilityZones: "us-west-2a,us-west-2b" }).join(), /availabilityZones/);
  });

  it("keeps the probe Lambda's timeout above the call deadline plus the metrics reserve", () => {
    assert.match(problemsOf({ ...MINIMAL, probeTimeoutMs: "10000", probeLambdaTimeoutSeconds: "15" }).join(), /probeLambdaTimeoutSeconds = "15" .* at least 16 s/);
    assert.equal(parseStackConfig({ ...MINIMAL, probeTimeoutMs: "10000", probeLambdaTimeoutSeconds: "16" }).probeLambdaTimeoutSeconds, 16);
  });

  it("rejects a malformed region", () => {
    assert.match(problemsOf(MINIMAL, "ohio").join(), /aws:region = "ohio"/);
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
