import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import type { PolicyResource, StackValidationArgs } from "@pulumi/policy";
import {
  a2aTlsViolations,
  anonymousInternetViolations,
  iamViolations,
  internalPortsOpened,
  logRetentionViolations,
  policyDocumentViolations,
  securityGroupViolations,
  type StackResource,
  type Violation,
} from "../../infra/policy/policies";
import { policies, requireTls } from "../../infra/policy/pack";

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, "..", "..");

/**
 * Records a program's resources under Pulumi mocks in a child process (mocks are
 * process-global; this keeps them out of the mocha process and its other test files).
 */
async function record(program: string, config: Record<string, string> = {}): Promise<StackResource[]> {
  const { stdout } = await run(process.execPath, ["--require", "tsx/cjs", path.join(ROOT, "test/fixtures/record-resources.ts"), program], {
    cwd: ROOT,
    timeout: 90_000,
    maxBuffer: 32 * 1024 * 1024,
    env: { ...process.env, PULUMI_CONFIG: JSON.stringify(config) },
  });
  return JSON.parse(stdout) as StackResource[];
}

const byName = (violations: readonly Violation[]): Map<string, string[]> => {
  const out = new Map<string, string[]>();
  for (const v of violations) {
    const name = v.urn.slice(v.urn.lastIndexOf("::") + 2);
    out.set(name, [...(out.get(name) ?? []), v.message]);
  }
  return out;
};

describe("policy pack: on recorded stacks", function () {
  this.timeout(120_000);
  let compliant: StackResource[];
  let broken: StackResource[];

  before(async () => {
    [compliant, broken] = await Promise.all([record("test/fixtures/policy-compliant-stack.ts"), record("test/fixtures/policy-broken-stack.ts")]);
    assert.ok(compliant.length >= 10 && broken.length >= 10, "the fixtures were recorded");
  });

  it("finds nothing wrong with the compliant stack, TLS required or not", () => {
    assert.deepEqual(securityGroupViolations(compliant), []);
    assert.deepEqual(iamViolations(compliant), []);
    assert.deepEqual(logRetentionViolations(compliant), []);
    assert.deepEqual(a2aTlsViolations(compliant, true), []);
    assert.deepEqual(a2aTlsViolations(compliant, false), []);
  });

  it("reports each security group rule that opens a task-internal port beyond the tasks' own group", () => {
    const found = byName(securityGroupViolations(broken));
    assert.deepEqual([...found.keys()].sort(), ["agents-from-nlb", "everything-from-anywhere", "tasks", "wide-range", "xds-from-vpc"]);
    assert.match(found.get("tasks")![0], /opens router gRPC 50052 to cidrBlocks=10\.0\.0\.0\/8/);
    assert.match(found.get("agents-from-nlb")![0], /opens agent ports 50054-50153 to referencedSecurityGroupId=nlb-id/);
    assert.match(found.get("everything-from-anywhere")![0], /router gRPC 50052, router admin 9902, xDS 18000, agent ports 50054-50153 to cidrIpv4=0\.0\.0\.0\/0/);
    assert.match(found.get("xds-from-vpc")![0], /opens xDS 18000 to cidrBlocks=10\.0\.0\.0\/16/);
    assert.match(found.get("wide-range")![0], /opens router admin 9902 to sourceSecurityGroupId=nlb-id: .*allow only the tasks' own security group/);
  });

  it("reports wildcard actions, NotAction, and Resource \"*\" where a narrower resource or condition exists", () => {
    const found = byName(iamViolations(broken));
    assert.deepEqual([...found.keys()].sort(), ["admin", "task", "task-extra"]);
    assert.deepEqual(found.get("admin")!.length, 1);
    assert.match(found.get("admin")![0], /statement #0 has wildcard action "\*"/);
    const task = found.get("task")!.join("\n");
    assert.match(task, /inline policy "unscoped" statement "Metrics" grants "cloudwatch:PutMetricData" on Resource "\*"/);
    assert.match(task, /inline policy "unscoped" statement "Discover" grants "servicediscovery:DiscoverInstances" on Resource "\*"/);
    const extra = found.get("task-extra")!.join("\n");
    assert.match(extra, /statement "AllOfS3" has wildcard action "s3:\*"/);
    assert.match(extra, /statement "LogsAnywhere" grants "logs:PutLogEvents" on Resource "\*"/);
    assert.match(extra, /statement "AllButIam" allows NotAction/);
    assert.equal(found.get("task-extra")!.length, 3);
  });

  it("reports a log group without retention", () => {
    assert.deepEqual([...byName(logRetentionViolations(broken)).keys()], ["forever-logs"]);
  });

  it("reports a plain-TCP A2A listener only when the stack requires TLS", () => {
    const found = a2aTlsViolations(broken, true);
    assert.equal(found.length, 1);
    assert.match(found[0].message, /A2A listener a2a-plain on 50051 is plain TCP but this stack requires TLS/);
    assert.deepEqual(a2aTlsViolations(broken, false), []);
  });

  it("reports the broken stack's internet-facing NLB whose A2A port every address reaches, with no router checking callers", () => {
    // The compliant stack admits only 10.0.0.0/8 to 50051; the broken one has an all-protocol rule from 0.0.0.0/0 and no task definition.
    assert.deepEqual(anonymousInternetViolations(compliant, false), []);
    const found = anonymousInternetViolations(broken, false);
    assert.equal(found.length, 1);
    assert.match(found[0]!.message, /A2A listener a2a-plain on 50051 is on an internet-facing load balancer that admits every address, and no ECS task definition in the stack says the router authenticates callers/);
    assert.deepEqual(anonymousInternetViolations(broken, true), []);
  });

  it("wires the checks into CrossGuard stack policies with their config and the stack tag", async () => {
    const asPolicyResources = (resources: StackResource[]): PolicyResource[] =>
      resources.map((r) => ({ ...r, props: { ...r.props }, opts: { protect: false, ignoreChanges: [], aliases: [], customTimeouts: {} }, dependencies: [], propertyDependencies: {}, isType: () => false, asType: () => undefined }) as unknown as PolicyResource);
    const runPack = async (resources: StackResource[], config: object, tags: Record<string, string> = {}): Promise<Map<string, string[]>> => {
      const out = new Map<string, string[]>();
      for (const policy of policies) {
        const args = { resources: asPolicyResources(resources), stackTags: new Map(Object.entries(tags)), getConfig: () => (config as Record<string, unknown>)[policy.name] ?? {}, notApplicable: () => { throw new Error("not applicable"); } } as unknown as StackValidationArgs;
        const messages: string[] = [];
        await policy.validateStack!(args, (message: string) => messages.push(message));
        out.set(policy.name, messages);
      }
      return out;
    };
    const clean = await runPack(compliant, { "a2a-listener-tls": { requireTls: true } });
    assert.deepEqual([...clean.values()].flat(), []);
    const dirty = await runPack(broken, {}, { "pixell:requireTls": "true" });
    assert.equal(dirty.get("task-internal-ports-closed")!.length, 5);
    assert.equal(dirty.get("iam-least-privilege")!.length, 6);
    assert.equal(dirty.get("log-groups-have-retention")!.length, 1);
    assert.equal(dirty.get("a2a-listener-tls")!.length, 1, "the stack tag turns the TLS requirement on");
    const allowed = await runPack(broken, { "iam-least-privilege": { extraWildcardResourceActions: ["logs:putlogevents"] }, "a2a-listener-tls": { requireTls: false } }, { "pixell:requireTls": "true" });
    assert.equal(allowed.get("iam-least-privilege")!.length, 5, "policy config extends the Resource \"*\" table");
    assert.equal(allowed.get("a2a-listener-tls")!.length, 0, "policy config wins over the stack tag");
    assert.ok(policies.every((p) => p.enforcementLevel === "mandatory"));
  });

  it("runs over the real stack's recorded resources when the program is present", async function () {
    if (!existsSync(path.join(ROOT, "index.ts"))) this.skip(); // the stack program lands from the infra branch
    const real = await record("index.ts", {
      "aws:region": "us-east-2",
      "pixell-a2a:parImage": "123456789012.dkr.ecr.us-east-2.amazonaws.com/par:1.0.0",
      "pixell-a2a:tlsCertificateArn": "arn:aws:acm:us-east-2:123456789012:certificate/0f0e0d0c-0000-4000-8000-000000000001",
      "pixell-a2a:callerAuth": "bearer",
    });
    assert.ok(real.length > 0);
    assert.deepEqual(securityGroupViolations(real), []);
    assert.deepEqual(iamViolations(real), []);
    assert.deepEqual(logRetentionViolations(real), []);
    assert.deepEqual(a2aTlsViolations(real, true), []);
    assert.deepEqual(anonymousInternetViolations(real, false), []);
  });
});

describe("policy pack: pure checks", () => {
  const rule = (props: Record<string, unknown>, deps: Record<string, string[]> = {}): StackResource => ({
    type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", name: "r", urn: "urn:r", props, propertyDependencies: deps,
  });

  it("sees which internal ports a protocol and range cover", () => {
    assert.deepEqual(internalPortsOpened("tcp", 50052, 50052).map((p) => p.from), [50052]);
    assert.deepEqual(internalPortsOpened("6", 50000, 50060).map((p) => p.from), [50052, 50054]);
    assert.equal(internalPortsOpened("-1", 0, 0).length, 4);
    assert.equal(internalPortsOpened("udp", 0, 65535).length, 0);
    assert.deepEqual(internalPortsOpened("tcp", 50051, 50051), []);
    assert.equal(internalPortsOpened("tcp", undefined, undefined).length, 4, "an unknown range is assumed to cover everything");
  });

  it("recognises a self reference during a preview, when ids are unknown, by the resource both inputs come from", () => {
    const self = rule({ ipProtocol: "tcp", fromPort: 50052, toPort: 50052 }, { securityGroupId: ["urn:sg:tasks"], referencedSecurityGroupId: ["urn:sg:tasks"] });
    const other = rule({ ipProtocol: "tcp", fromPort: 50052, toPort: 50052 }, { securityGroupId: ["urn:sg:tasks"], referencedSecurityGroupId: ["urn:sg:nlb"] });
    assert.deepEqual(securityGroupViolations([self]), []);
    assert.equal(securityGroupViolations([other]).length, 1);
  });

  it("accepts Resource \"*\" for actions without a resource type, and needs the scoping condition where one exists", () => {
    const doc = (statement: object) => ({ Version: "2012-10-17", Statement: [{ Effect: "Allow", ...statement }] });
    assert.deepEqual(policyDocumentViolations(doc({ Action: ["ecr:GetAuthorizationToken", "ec2:DescribeSubnets", "ec2:Describe*"], Resource: "*" }), "p"), []);
    assert.deepEqual(policyDocumentViolations(doc({ Action: "CloudWatch:PutMetricData", Resource: ["*"], Condition: { StringLike: { "CloudWatch:Namespace": "Pixell/*" } } }), "p"), []);
    assert.equal(policyDocumentViolations(doc({ Action: "cloudwatch:PutMetricData", Resource: "*", Condition: { StringEquals: { "aws:RequestedRegion": "us-east-2" } } }), "p").length, 1);
    assert.equal(policyDocumentViolations(doc({ Action: "ec2:Describe*Volumes*", Resource: "*" }), "p").length, 0);
    assert.equal(policyDocumentViolations(doc({ Action: "ec2:TerminateInstances", Resource: "*" }), "p").length, 1);
    assert.equal(policyDocumentViolations(doc({ Action: "iam:PassRole", Resource: "arn:aws:iam::1:role/x", NotResource: "arn:aws:iam::1:role/y" }), "p").length, 1);
    assert.deepEqual(policyDocumentViolations("{not json", "p"), ["p: policy is not valid JSON"]);
    assert.deepEqual(policyDocumentViolations(undefined, "p"), [], "an unknown document (preview) is not judged");
  });

  it("judges TLS listeners: certificate present, no TLS 1.0/1.1 policy, other ports ignored", () => {
    const listener = (props: Record<string, unknown>): StackResource => ({ type: "aws:lb/listener:Listener", name: "l", urn: "urn:l", props });
    assert.equal(a2aTlsViolations([listener({ port: 50051, protocol: "TLS", sslPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06" })], true)[0].message, "A2A listener l is TLS but has no certificateArn: set the stack's tlsCertificateArn");
    assert.match(a2aTlsViolations([listener({ port: 50051, protocol: "TLS", certificateArn: "arn:c", sslPolicy: "ELBSecurityPolicy-2016-08" })], false)[0].message, /accepts TLS 1\.0\/1\.1/);
    assert.deepEqual(a2aTlsViolations([listener({ port: 8080, protocol: "TCP" })], true), []);
  });

  it("takes TLS requirement from policy config first, then the stack tag", () => {
    assert.equal(requireTls({}, new Map()), false);
    assert.equal(requireTls({}, new Map([["pixell:requireTls", "true"]])), true);
    assert.equal(requireTls({ requireTls: false }, new Map([["pixell:requireTls", "true"]])), false);
    assert.equal(requireTls({ requireTls: true }, new Map()), true);
  });
});
