import { strict as assert } from "node:assert";
import { iamViolations, type StackResource } from "../../infra/policy/policies";
import { loadStackConfigFile, runProgram, type Inputs, type ProgramRun } from "../helpers/pulumi-program";

/**
 * The stack under mocks for the network and image options: natGateways, an existing VPC behind an
 * internet-facing NLB with a narrowed allowedCidrs, and registry credentials for PAR.
 */

const rules = (run: ProgramRun, kind: "in" | "out", group: string): Inputs[] =>
  run.resources.filter((r) => r.type.startsWith("aws:vpc/securityGroup") && r.name.includes(`-${group}-${kind}-`)).map((r) => r.inputs);
const parContainer = (run: ProgramRun): Inputs => JSON.parse(run.one("aws:ecs/taskDefinition:TaskDefinition").inputs.containerDefinitions)[0];
const asStackResources = (run: ProgramRun): StackResource[] =>
  run.resources.map((r) => ({ type: r.type, name: r.name, urn: `urn:pulumi:dev::pixell-a2a::${r.type}::${r.name}`, props: r.inputs }));

describe("infra stack under mocks: network and image options", function () {
  this.timeout(60000);
  const base = loadStackConfigFile();

  it("natGateways: one builds a single NAT in the first zone that every private route table uses", async () => {
    const run = await runProgram({ ...base, "pixell-a2a:natGateways": "one", "pixell-a2a:allowedCidrs": JSON.stringify(["203.0.113.0/24"]) });
    const nat = run.one("aws:ec2/natGateway:NatGateway").inputs;
    assert.equal(nat.subnetId, "a2a-public-us-east-2a-id");
    assert.equal(run.ofType("aws:ec2/eip:Eip").length, 1);
    for (const az of ["us-east-2a", "us-east-2b"]) {
      assert.deepEqual(run.one("aws:ec2/routeTable:RouteTable", `a2a-private-${az}`).inputs.routes, [{ cidrBlock: "0.0.0.0/0", natGatewayId: "a2a-nat-us-east-2a-id" }]);
    }
    assert.equal(run.one("aws:ec2/vpcEndpoint:VpcEndpoint").inputs.routeTableIds.length, 2);
    // Narrowed allowedCidrs: the probe still gets in, from the one NAT's address.
    assert.deepEqual(rules(run, "in", "nlb").map((r) => [r.fromPort, r.cidrIpv4]), [[50051, "203.0.113.0/24"], [50051, "198.51.100.1/32"]]);
  });

  it("existing VPC, internet-facing, narrowed allowedCidrs: REST on an internal NLB, the probe admitted by probeEgressCidrs", async () => {
    const { "pixell-a2a:vpcCidr": _c, "pixell-a2a:natGateways": _n, ...rest } = base;
    const run = await runProgram({
      ...rest,
      "pixell-a2a:vpcId": "vpc-0123456789abcdef0",
      "pixell-a2a:privateSubnetIds": JSON.stringify(["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]),
      "pixell-a2a:publicSubnetIds": JSON.stringify(["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"]),
      "pixell-a2a:restAllowedCidrs": JSON.stringify(["172.31.0.0/16"]),
      "pixell-a2a:allowedCidrs": JSON.stringify(["203.0.113.0/24"]),
      "pixell-a2a:probeEgressCidrs": JSON.stringify(["198.51.100.7/32"]),
    });
    assert.equal(run.ofType("aws:ec2/eip:Eip").length + run.ofType("aws:ec2/vpcEndpoint:VpcEndpoint").length, 0, "nothing of the VPC's own is declared");
    const a2a = run.one("aws:lb/loadBalancer:LoadBalancer", "a2a-nlb").inputs;
    const restNlb = run.one("aws:lb/loadBalancer:LoadBalancer", "a2a-rest-nlb").inputs;
    assert.deepEqual([a2a.internal, a2a.subnets], [false, ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"]]);
    assert.deepEqual([restNlb.internal, restNlb.subnets], [true, ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]]);
    assert.deepEqual(rules(run, "in", "nlb").map((r) => [r.fromPort, r.cidrIpv4]), [[50051, "203.0.113.0/24"], [50051, "198.51.100.7/32"]]);
    assert.deepEqual(rules(run, "in", "rest").map((r) => [r.fromPort, r.cidrIpv4]), [[8080, "172.31.0.0/16"]]);
    assert.deepEqual(run.one("aws:lambda/function:Function").inputs.vpcConfig, { subnetIds: ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"], securityGroupIds: ["a2a-probe-id"] });
  });

  it("declares no registry credentials or execution-role grant for a public PAR image", async () => {
    const run = await runProgram(base);
    assert.equal(parContainer(run).repositoryCredentials, undefined);
    assert.equal(run.ofType("aws:iam/rolePolicy:RolePolicy").filter((p) => p.name.includes("execution")).length, 0);
  });

  // ECS developer guide, "Private registry authentication for tasks": repositoryCredentials on the
  // container, secretsmanager:GetSecretValue (and kms:Decrypt for a customer-managed key) on the
  // task EXECUTION role, which pulls the image.
  it("passes registry credentials to PAR and grants exactly them to the execution role", async () => {
    const secret = "arn:aws:secretsmanager:us-east-2:123456789012:secret:pixell/ghcr-pull-AbCdEf";
    const key = "arn:aws:kms:us-east-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const run = await runProgram({ ...base, "pixell-a2a:parImageCredentialsSecretArn": secret, "pixell-a2a:parImageCredentialsKmsKeyArn": key });
    assert.deepEqual(parContainer(run).repositoryCredentials, { credentialsParameter: secret });
    const grant = run.one("aws:iam/rolePolicy:RolePolicy", "a2a-execution-registry").inputs;
    assert.equal(grant.role, "a2a-execution-id");
    const statements = JSON.parse(grant.policy).Statement as Inputs[];
    assert.deepEqual(statements.map((s) => [s.Action, s.Resource]), [[["secretsmanager:GetSecretValue"], secret], [["kms:Decrypt"], key]]);
    assert.deepEqual(statements[1]!.Condition, { StringEquals: { "kms:ViaService": "secretsmanager.us-east-2.amazonaws.com" } });
    const taskPolicy = run.one("aws:iam/rolePolicy:RolePolicy", "a2a-task").inputs.policy as string;
    assert.ok(!taskPolicy.includes(secret), "the task role (the containers' own) cannot read the registry credentials");
    assert.deepEqual(iamViolations(asStackResources(run)), [], "the policy pack's IAM policy passes");
  });
});
