import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import * as analyzerRpc from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import * as analyzerPb from "@pulumi/pulumi/proto/analyzer_pb";
import { ROUTER_PORT } from "../../lib/ports";

/**
 * The policy pack as the Pulumi CLI runs it: `infra/policy/index.ts` started by
 * @pulumi/pulumi's run-policy-pack (Pulumi's own ts-node, type-checked), then driven over
 * the Analyzer gRPC protocol the CLI speaks. Resources are sent as a preview sends them,
 * with unknown ids left out and property dependencies filled in.
 */
const ROOT = path.resolve(__dirname, "..", "..");
const URN = (type: string, name: string) => `urn:pulumi:dev::pixell-a2a::${type}::${name}`;
const SG = "aws:ec2/securityGroup:SecurityGroup";
const RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule";
const LISTENER = "aws:lb/listener:Listener";
const LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup";

function resource(type: string, name: string, props: Record<string, unknown>, deps: Record<string, string[]> = {}): analyzerPb.AnalyzerResource {
  const r = new analyzerPb.AnalyzerResource();
  r.setType(type);
  r.setName(name);
  r.setUrn(URN(type, name));
  r.setProperties(Struct.fromJavaScript(props as Record<string, never>));
  r.setOptions(new analyzerPb.AnalyzerResourceOptions());
  const map = r.getPropertydependenciesMap();
  for (const [key, urns] of Object.entries(deps)) map.set(key, new analyzerPb.AnalyzerPropertyDependencies().setUrnsList(urns));
  return r;
}

describe("policy pack: served as the Pulumi CLI runs it", function () {
  this.timeout(180_000);
  let pack: ChildProcess;
  let client: analyzerRpc.AnalyzerClient;
  const unary = <Req, Res>(method: (req: Req, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown, req: Req): Promise<Res> =>
    new Promise((resolve, reject) => method.call(client, req, (err, res) => (err ? reject(err) : resolve(res))));

  before(async () => {
    pack = spawn(process.execPath, [path.join(ROOT, "node_modules/@pulumi/pulumi/cmd/run-policy-pack"), "127.0.0.1:1", "."], {
      cwd: path.join(ROOT, "infra/policy"),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    pack.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    // The pack prints the port of its Analyzer server on its first line, as the CLI expects.
    const port = await new Promise<number>((resolve, reject) => {
      let out = "";
      pack.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /^(\d+)\s*\n/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      pack.once("exit", (code) => reject(new Error(`policy pack exited with ${code}: ${stderr.slice(0, 2000)}`)));
    });
    client = new analyzerRpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });
  after(async () => {
    client?.close();
    if (pack && pack.exitCode === null) {
      pack.kill("SIGKILL");
      await once(pack, "exit");
    }
  });

  it("describes its five mandatory policies", async () => {
    const info = await unary<Empty, analyzerPb.AnalyzerInfo>(client.getAnalyzerInfo, new Empty());
    assert.equal(info.getName(), "pixell-a2a-security");
    const policies = info.getPoliciesList().map((p) => [p.getName(), p.getEnforcementlevel()]);
    assert.deepEqual(policies.sort(), [
      ["a2a-listener-tls", analyzerPb.EnforcementLevel.MANDATORY],
      ["iam-least-privilege", analyzerPb.EnforcementLevel.MANDATORY],
      ["log-groups-have-retention", analyzerPb.EnforcementLevel.MANDATORY],
      ["no-anonymous-internet-endpoint", analyzerPb.EnforcementLevel.MANDATORY],
      ["task-internal-ports-closed", analyzerPb.EnforcementLevel.MANDATORY],
    ]);
  });

  it("judges a preview's resources, recognising self references by dependency while ids are unknown", async () => {
    const config = new analyzerPb.ConfigureAnalyzerRequest();
    const tls = new analyzerPb.PolicyConfig().setEnforcementlevel(analyzerPb.EnforcementLevel.MANDATORY).setProperties(Struct.fromJavaScript({ requireTls: true }));
    config.getPolicyconfigMap().set("a2a-listener-tls", tls);
    await unary<analyzerPb.ConfigureAnalyzerRequest, Empty>(client.configure, config);

    const tasks = URN(SG, "tasks");
    const nlb = URN(SG, "nlb");
    const request = new analyzerPb.AnalyzeStackRequest().setResourcesList([
      resource(SG, "tasks", { vpcId: "vpc-1", description: "tasks" }),
      resource(SG, "nlb", { vpcId: "vpc-1", description: "nlb" }),
      // ids unknown in a first preview: only the dependencies say which groups these are
      resource(RULE, "router-self", { ipProtocol: "tcp", fromPort: ROUTER_PORT, toPort: ROUTER_PORT }, { securityGroupId: [tasks], referencedSecurityGroupId: [tasks] }),
      resource(RULE, "router-from-nlb", { ipProtocol: "tcp", fromPort: ROUTER_PORT, toPort: ROUTER_PORT }, { securityGroupId: [tasks], referencedSecurityGroupId: [nlb] }),
      resource(LOG_GROUP, "router-logs", { retentionInDays: 30 }),
      resource(LOG_GROUP, "forever", {}),
      resource(LISTENER, "a2a", { port: 50051, protocol: "TCP" }),
      // An internet-facing NLB open to everyone on 50051; the task definition's containers wait for the
      // images (unknown in a preview), so only its pixell:callerAuth tag says the router checks nobody.
      resource("aws:lb/loadBalancer:LoadBalancer", "nlb", { loadBalancerType: "network", internal: false }),
      resource(RULE, "a2a-from-anywhere", { ipProtocol: "tcp", fromPort: 50051, toPort: 50051, cidrIpv4: "0.0.0.0/0" }, { securityGroupId: [nlb] }),
      resource("aws:ecs/taskDefinition:TaskDefinition", "task", { family: "a2a", tags: { "pixell:callerAuth": "off" } }),
    ]);
    const response = await unary<analyzerPb.AnalyzeStackRequest, analyzerPb.AnalyzeResponse>(client.analyzeStack, request);
    const found = response.getDiagnosticsList().map((d) => ({ policy: d.getPolicyname(), urn: d.getUrn(), level: d.getEnforcementlevel(), message: d.getMessage() }));
    assert.deepEqual(found.map((d) => [d.policy, d.urn.slice(d.urn.lastIndexOf("::") + 2)]).sort(), [
      ["a2a-listener-tls", "a2a"],
      ["log-groups-have-retention", "forever"],
      ["no-anonymous-internet-endpoint", "a2a"],
      ["task-internal-ports-closed", "router-from-nlb"],
    ]);
    assert.ok(found.every((d) => d.level === analyzerPb.EnforcementLevel.MANDATORY));
    assert.match(found.find((d) => d.policy === "task-internal-ports-closed")!.message, /opens router gRPC 50052 to an unknown source/);
  });
});
