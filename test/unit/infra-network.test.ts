import { strict as assert } from "node:assert";
import { admitsEveryone, isPrivateCidr, probeSource, restPlacement } from "../../infra/reachability";
import { natRouting, s3GatewayEndpointSpec } from "../../infra/network";
import { securityGroupRules, type RuleSpec } from "../../infra/security-groups";
import { imagePin, isEcrImage, parseImageReference } from "../../infra/image-reference";
import { registryCredentialsPolicy } from "../../infra/iam";
import { containerDefinitions, type ContainerInputs } from "../../infra/containers";
import { dashboardBody } from "../../infra/dashboard";
import { A2A_PORT, PAR_REST_PORT } from "../../lib/ports";

const peerOf = (r: RuleSpec): string => ("cidr" in r.peer ? r.peer.cidr : `group:${r.peer.group}`);

describe("infra decisions: reachability", () => {
  // An internet-facing NLB's DNS name has only public addresses, so VPC clients arrive from NAT:
  // REST (meant for the VPC) needs an internal NLB then; an internal A2A NLB can carry it.
  it("puts REST on its own internal NLB exactly when the A2A NLB is internet-facing", () => {
    assert.deepEqual(restPlacement(true), { ownLoadBalancer: true, internal: true });
    assert.deepEqual(restPlacement(false), { ownLoadBalancer: false, internal: true });
  });

  it("admits the probe by group on an internal NLB and by NAT address on an internet-facing one", () => {
    assert.deepEqual(probeSource({ internetFacing: false, existingVpc: true, probeEgressCidrs: [] }), { kind: "group" });
    assert.deepEqual(probeSource({ internetFacing: true, existingVpc: false, probeEgressCidrs: [] }), { kind: "nat", cidrs: "created" });
    assert.deepEqual(probeSource({ internetFacing: true, existingVpc: true, probeEgressCidrs: ["198.51.100.7/32"] }), { kind: "nat", cidrs: ["198.51.100.7/32"] });
  });

  it("tells private address space from public", () => {
    assert.deepEqual(
      ["10.0.0.0/16", "172.31.0.0/16", "192.168.1.0/24", "100.64.0.0/10", "172.32.0.0/16", "203.0.113.0/24", "0.0.0.0/0", "10.0.0.0/7", "10.1.2.3/16"].map(isPrivateCidr),
      [true, true, true, true, false, false, false, false, true],
    );
    assert.deepEqual([admitsEveryone(["0.0.0.0/0"]), admitsEveryone(["203.0.113.0/24", "10.0.0.0/8"])], [true, false]);
  });
});

describe("infra decisions: security groups with an internet-facing NLB", () => {
  const rules = securityGroupRules({
    allowedCidrs: ["203.0.113.0/24"],
    restAllowedCidrs: ["10.0.0.0/16"],
    agentPortFirst: 50054,
    agentPortLast: 50153,
    probeInVpc: true,
    internetFacing: true,
    probeEgressCidrs: ["198.51.100.1/32", "198.51.100.2/32"],
  });

  it("moves REST to the rest group: its clients there, the tasks admit it on 8080 only", () => {
    assert.deepEqual(rules.rest.ingress.map((r) => [r.fromPort, peerOf(r)]), [[PAR_REST_PORT, "10.0.0.0/16"]]);
    assert.deepEqual(rules.rest.egress.map((r) => [r.fromPort, peerOf(r)]), [[PAR_REST_PORT, "group:tasks"]]);
    assert.ok(rules.nlb.ingress.concat(rules.nlb.egress).every((r) => r.fromPort !== PAR_REST_PORT));
    const restToTasks = rules.tasks.ingress.filter((r) => peerOf(r) === "group:rest");
    assert.deepEqual(restToTasks.map((r) => [r.fromPort, r.toPort]), [[PAR_REST_PORT, PAR_REST_PORT]]);
    assert.ok(rules.tasks.ingress.every((r) => r.fromPort !== PAR_REST_PORT || peerOf(r) === "group:rest"));
  });

  it("admits the probe's NAT addresses to 50051 and lets the probe out to the NLB's public addresses", () => {
    assert.deepEqual(rules.nlb.ingress.map((r) => [r.fromPort, peerOf(r)]), [
      [A2A_PORT, "203.0.113.0/24"], [A2A_PORT, "198.51.100.1/32"], [A2A_PORT, "198.51.100.2/32"],
    ]);
    assert.ok(rules.nlb.ingress.every((r) => peerOf(r) !== "group:probe"), "a group never matches traffic arriving through NAT");
    // 50051 to the tasks too: the probe checks every task directly from inside the VPC.
    assert.deepEqual(rules.probe.egress.map((r) => [r.fromPort, peerOf(r)]), [[A2A_PORT, "0.0.0.0/0"], [A2A_PORT, "group:tasks"], [443, "0.0.0.0/0"]]);
    assert.deepEqual(rules.tasks.ingress.filter((r) => peerOf(r) === "group:probe").map((r) => [r.fromPort, r.toPort]), [[A2A_PORT, A2A_PORT]]);
  });

  it("with an internal NLB admits the probe by group and keeps REST on the shared NLB", () => {
    const internal = securityGroupRules({ allowedCidrs: ["10.20.0.0/16"], restAllowedCidrs: ["10.0.0.0/16"], agentPortFirst: 50054, agentPortLast: 50153, probeInVpc: true, internetFacing: false, probeEgressCidrs: [] });
    assert.deepEqual(internal.nlb.ingress.map((r) => [r.fromPort, peerOf(r)]), [[A2A_PORT, "10.20.0.0/16"], [PAR_REST_PORT, "10.0.0.0/16"], [A2A_PORT, "group:probe"]]);
    assert.deepEqual(internal.rest, { ingress: [], egress: [] });
    assert.deepEqual(internal.probe.egress.map((r) => [r.fromPort, peerOf(r)]), [[A2A_PORT, "group:nlb"], [A2A_PORT, "group:tasks"], [443, "0.0.0.0/0"]]);
  });
});

describe("infra decisions: NAT gateways and the S3 endpoint", () => {
  it("routes each zone through its own NAT (perZone) or every zone through the first (one)", () => {
    assert.deepEqual(natRouting("perZone", 3), [0, 1, 2]);
    assert.deepEqual(natRouting("one", 3), [0, 0, 0]);
  });

  // Service name format of gateway endpoints: com.amazonaws.<region>.s3 (Amazon VPC, "Gateway endpoints for Amazon S3").
  it("names the region's S3 gateway service", () => {
    assert.deepEqual(s3GatewayEndpointSpec("eu-west-1"), { serviceName: "com.amazonaws.eu-west-1.s3", vpcEndpointType: "Gateway" });
  });
});

describe("infra decisions: PAR's image", () => {
  // The reference grammar of distribution/reference: a colon before the last '/' is a registry port.
  it("parses tags, digests and registry ports", () => {
    assert.deepEqual(parseImageReference("ghcr.io/pixell-global/par:1.4.2"), { name: "ghcr.io/pixell-global/par", tag: "1.4.2" });
    assert.deepEqual(parseImageReference("registry.local:5000/par"), { name: "registry.local:5000/par" });
    assert.deepEqual(parseImageReference("registry.local:5000/par:2@sha256:" + "b".repeat(64)), { name: "registry.local:5000/par", tag: "2", digest: "sha256:" + "b".repeat(64) });
  });

  it("calls :latest and untagged images unpinned, a tag or a digest pinned", () => {
    const digest = "@sha256:" + "a".repeat(64);
    assert.deepEqual(
      ["par:latest", "par", "registry.local:5000/par", "par:1.4.2", `par${digest}`, `par:latest${digest}`].map(imagePin),
      ["latest", "untagged", "untagged", "tag", "digest", "digest"],
    );
  });

  it("recognises Amazon ECR private registries", () => {
    assert.equal(isEcrImage("123456789012.dkr.ecr.us-east-2.amazonaws.com/par:1"), true);
    assert.equal(isEcrImage("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/par:1"), true);
    assert.equal(isEcrImage("ghcr.io/pixell-global/par:1"), false);
    assert.equal(isEcrImage("public.ecr.aws/pixell/par:1"), false);
  });

  // ECS developer guide, "Private registry authentication for tasks": repositoryCredentials.credentialsParameter
  // names the secret; the task execution role needs secretsmanager:GetSecretValue on it and kms:Decrypt on
  // a customer-managed key (not for the default key).
  it("puts the credentials secret on the PAR container only", () => {
    const inputs: ContainerInputs = {
      region: "us-east-2", parImage: "ghcr.io/pixell-global/par:1.4.2", routerImage: "r", envoyImage: "e",
      logGroups: { par: "p", router: "r", envoy: "e" }, envoyMode: "router", routerDrainMs: 20000, logLevel: "info",
      cloudMapNamespace: "pixell-runtime.local", cloudMapService: "agents", agentPortFirst: 50054, agentPortLast: 50153, memory: 2048,
    };
    const arn = "arn:aws:secretsmanager:us-east-2:123456789012:secret:ghcr-pull-AbCdEf";
    const [par, router, envoy] = containerDefinitions({ ...inputs, parImageCredentialsSecretArn: arn });
    assert.deepEqual(par!.repositoryCredentials, { credentialsParameter: arn });
    assert.equal(router!.repositoryCredentials, undefined);
    assert.equal(envoy!.repositoryCredentials, undefined);
    assert.ok(!("repositoryCredentials" in containerDefinitions(inputs)[0]!), "no key at all without credentials");
  });

  it("grants the execution role read on the secret and decrypt via Secrets Manager on a customer-managed key", () => {
    const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ghcr-pull-AbCdEf";
    assert.deepEqual(registryCredentialsPolicy(arn).Statement, [
      { Sid: "ReadParRegistryCredentials", Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: arn },
    ]);
    const key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const decrypt = registryCredentialsPolicy(arn, key).Statement[1]!;
    assert.deepEqual([decrypt.Action, decrypt.Resource], [["kms:Decrypt"], key]);
    assert.deepEqual(decrypt.Condition, { StringEquals: { "kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com" } });
  });
});

describe("infra decisions: dashboard with a REST NLB of its own", () => {
  it("gives the REST target rows the REST NLB's dimension and the A2A rows the A2A NLB's", () => {
    const ids = {
      region: "us-east-2", namespace: "Pixell/A2A", loadBalancer: "net/a/1", a2aTargetGroup: "targetgroup/t/1", restTargetGroup: "targetgroup/r/1", clusterName: "c", serviceName: "s", probeFunctionName: "probe",
      probeLogGroup: "/aws/lambda/p", routerLogGroup: "/ecs/p/router", probeLambdaTimeoutSeconds: 30,
    };
    const rows = (body: unknown): string[][] => JSON.stringify(body).match(/\["AWS\/NetworkELB","(Un)?HealthyHostCount","TargetGroup","[^"]+","LoadBalancer","[^"]+"/g)!.map((r) => JSON.parse(`${r}]`) as string[]);
    const own = rows(dashboardBody({ ...ids, restLoadBalancer: "net/rest/2" }));
    assert.deepEqual(own.map((r) => [r[3], r[5]]), [["targetgroup/t/1", "net/a/1"], ["targetgroup/t/1", "net/a/1"], ["targetgroup/r/1", "net/rest/2"], ["targetgroup/r/1", "net/rest/2"]]);
    assert.ok(rows(dashboardBody(ids)).every((r) => r[5] === "net/a/1"), "shared NLB: one dimension");
  });
});
