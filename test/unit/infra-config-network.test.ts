import { strict as assert } from "node:assert";
import { configWarnings, parseStackConfig, type RawConfig } from "../../infra/config";
import { configProblems } from "../helpers/config-problems";

// The PAR image and callers from one range (TEST-NET-3): the defaults alone (internet-facing,
// 0.0.0.0/0, callerAuth off) are an anonymous internet endpoint, which test/process/security-defaults.test.ts covers.
const MINIMAL: RawConfig = { parImage: "ghcr.io/pixell-global/pixell-agent-runtime:1.4.2", allowedCidrs: "203.0.113.0/24" };
const EXISTING_VPC: RawConfig = {
  ...MINIMAL,
  vpcId: "vpc-0123456789abcdef0",
  privateSubnetIds: "subnet-0aaaaaaaaaaaaaaa1,subnet-0aaaaaaaaaaaaaaa2",
  publicSubnetIds: "subnet-0bbbbbbbbbbbbbbb1,subnet-0bbbbbbbbbbbbbbb2",
  restAllowedCidrs: "172.31.0.0/16",
};
const SECRET = "arn:aws:secretsmanager:us-east-2:123456789012:secret:pixell/ghcr-pull-AbCdEf";
const KEY = "arn:aws:kms:us-east-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

const problemsOf = (raw: RawConfig): string => configProblems(raw).join("\n");

describe("infra config: PAR image pinning and registry credentials", () => {
  it("refuses :latest and untagged images, naming the key and suggesting a tag or a digest", () => {
    assert.match(problemsOf({ parImage: "ghcr.io/pixell-global/pixell-agent-runtime:latest" }),
      /pixell-a2a:parImage = "ghcr\.io\/pixell-global\/pixell-agent-runtime:latest" is not valid: expected an image pinned to a release tag or a digest, e\.g\. ghcr\.io\/pixell-global\/pixell-agent-runtime:1\.4\.2 or ghcr\.io\/pixell-global\/pixell-agent-runtime@sha256:<digest>/);
    assert.match(problemsOf({ parImage: "registry.local:5000/par" }), /pixell-a2a:parImage = "registry.local:5000\/par" is not valid: .*no tag \(:latest\)/);
  });

  it("accepts a release tag and a digest", () => {
    assert.equal(parseStackConfig({ ...MINIMAL, parImage: "registry.local:5000/par:2.0.1" }).parImage, "registry.local:5000/par:2.0.1");
    const digest = `ghcr.io/pixell-global/pixell-agent-runtime@sha256:${"c".repeat(64)}`;
    assert.equal(parseStackConfig({ ...MINIMAL, parImage: digest }).parImage, digest);
  });

  it("reads the credentials secret and its customer-managed key", () => {
    assert.deepEqual(parseStackConfig({ ...MINIMAL, parImageCredentialsSecretArn: SECRET }).parImageCredentials, { secretArn: SECRET, kmsKeyArn: undefined });
    assert.deepEqual(parseStackConfig({ ...MINIMAL, parImageCredentialsSecretArn: SECRET, parImageCredentialsKmsKeyArn: KEY }).parImageCredentials, { secretArn: SECRET, kmsKeyArn: KEY });
  });

  it("refuses a partial secret ARN, a bad key ARN, a key without a secret, and credentials for an ECR image", () => {
    assert.match(problemsOf({ ...MINIMAL, parImageCredentialsSecretArn: "arn:aws:secretsmanager:us-east-2:123456789012:secret:pixell/ghcr-pull" }), /pixell-a2a:parImageCredentialsSecretArn = .* is not valid: expected the complete ARN/);
    assert.match(problemsOf({ ...MINIMAL, parImageCredentialsSecretArn: SECRET, parImageCredentialsKmsKeyArn: "alias/mine" }), /pixell-a2a:parImageCredentialsKmsKeyArn = "alias\/mine" is not valid: expected a KMS key ARN/);
    assert.match(problemsOf({ ...MINIMAL, parImageCredentialsKmsKeyArn: KEY }), /parImageCredentialsKmsKeyArn is only used with pixell-a2a:parImageCredentialsSecretArn/);
    assert.match(problemsOf({ parImage: "123456789012.dkr.ecr.us-east-2.amazonaws.com/par:1.4.2", parImageCredentialsSecretArn: SECRET }), /parImageCredentialsSecretArn is set but .* is in Amazon ECR, which ECS pulls with the task execution role/);
  });
});

describe("infra config: NAT gateways and the probe's egress", () => {
  it("defaults to a NAT per zone and accepts one", () => {
    assert.equal(parseStackConfig(MINIMAL).network.natGateways, "perZone");
    assert.equal(parseStackConfig({ ...MINIMAL, natGateways: "one" }).network.natGateways, "one");
  });

  it("refuses another mode, and natGateways with an existing VPC", () => {
    assert.match(problemsOf({ ...MINIMAL, natGateways: "two" }), /pixell-a2a:natGateways = "two" is not valid: expected one of perZone, one/);
    assert.match(problemsOf({ ...EXISTING_VPC, natGateways: "one" }), /pixell-a2a:natGateways = "one" is only used when the stack builds the VPC/);
  });

  it("takes probeEgressCidrs only with an existing VPC and an internet-facing NLB", () => {
    assert.deepEqual(parseStackConfig({ ...EXISTING_VPC, probeEgressCidrs: "198.51.100.7/32,198.51.100.8/32" }).probeEgressCidrs, ["198.51.100.7/32", "198.51.100.8/32"]);
    assert.match(problemsOf({ ...MINIMAL, probeEgressCidrs: "198.51.100.7/32" }), /pixell-a2a:probeEgressCidrs is only used with an existing VPC .*the stack admits its own NAT gateways' addresses/);
    assert.match(problemsOf({ ...EXISTING_VPC, internetFacing: "false", probeEgressCidrs: "198.51.100.7/32" }), /probeEgressCidrs is only used .*an internal NLB admits the probe by its security group/);
    assert.match(problemsOf({ ...EXISTING_VPC, probeEgressCidrs: "198.51.100.7" }), /pixell-a2a:probeEgressCidrs = "198.51.100.7" is not valid: expected IPv4 CIDRs/);
  });
});

describe("infra config: reachability warnings", () => {
  it("warns when the probe, leaving an existing VPC through its NAT, would be refused by a narrowed allowedCidrs", () => {
    const narrowed = parseStackConfig({ ...EXISTING_VPC, allowedCidrs: "203.0.113.0/24" });
    assert.ok(configWarnings(narrowed).some((w) => /pixell-a2a:allowedCidrs does not admit every address and pixell-a2a:probeEgressCidrs is not set/.test(w)));
    for (const fine of [
      { ...EXISTING_VPC, allowedCidrs: "203.0.113.0/24", probeEgressCidrs: "198.51.100.7/32" },
      { ...EXISTING_VPC, allowedCidrs: "0.0.0.0/0", callerAuth: "bearer" }, // everyone admitted, the probe too
      { ...MINIMAL, allowedCidrs: "203.0.113.0/24" }, // the stack admits its own NATs
      { ...EXISTING_VPC, internetFacing: "false", allowedCidrs: "10.20.0.0/16" },
    ]) {
      assert.deepEqual(configWarnings(parseStackConfig(fine)).filter((w) => w.includes("probeEgressCidrs")), [], JSON.stringify(fine));
    }
  });

  it("warns that a public restAllowedCidrs reaches the internal REST NLB only over a routed network", () => {
    const w = configWarnings(parseStackConfig({ ...MINIMAL, restAllowedCidrs: "10.0.0.0/16,203.0.113.0/24" }));
    assert.ok(w.some((m) => /pixell-a2a:restAllowedCidrs lists 203\.0\.113\.0\/24, outside private address space: PAR's REST API is on an internal NLB/.test(m)), w.join("\n"));
    assert.deepEqual(configWarnings(parseStackConfig(MINIMAL)), []);
  });
});
