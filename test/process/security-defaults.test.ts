/**
 * Secure by default (docs/security.md, "Secure by default"; docs/decisions/secure-by-default.md):
 * the config defaults and the shipped dev stack never give an A2A endpoint that is internet-facing,
 * admits every address and authenticates no caller. `pulumi preview` refuses that combination unless
 * `allowAnonymousInternet: true`, which then warns on every preview; the policy pack's
 * `no-anonymous-internet-endpoint` refuses the same resources.
 */
import { strict as assert } from "node:assert";
import type { PolicyResource, StackValidationArgs } from "@pulumi/policy";
import { configWarnings, parseStackConfig, type RawConfig } from "../../infra/config";
import { allowAnonymousInternet, policies } from "../../infra/policy/pack";
import { anonymousInternetViolations, CALLER_AUTH_TAG, taskCallerAuth, type StackResource } from "../../infra/policy/policies";
import { loadStackConfigFile, runProgram, type ProgramRun } from "../helpers/pulumi-program";
import { configProblemsIfAny } from "../helpers/config-problems";

const PAR = { parImage: "ghcr.io/pixell-global/pixell-agent-runtime:1.4.2" };

const problemsOf = (raw: RawConfig): string[] => [...configProblemsIfAny(raw)];

/** Pulumi.dev.yaml's `pixell-a2a:` keys without the namespace, as parseStackConfig takes them. */
function devStackRaw(): RawConfig {
  const raw: Record<string, string> = {};
  for (const [k, v] of Object.entries(loadStackConfigFile())) if (k.startsWith("pixell-a2a:")) raw[k.slice("pixell-a2a:".length)] = v;
  return raw;
}

describe("security defaults: pulumi preview refuses an anonymous internet endpoint", () => {
  it("refuses the config defaults (internet-facing, 0.0.0.0/0, callerAuth off), naming the keys and every way out", () => {
    const problems = problemsOf(PAR);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /pixell-a2a:callerAuth is off while pixell-a2a:internetFacing is true and pixell-a2a:allowedCidrs \(0\.0\.0\.0\/0\) admits every address/);
    for (const way of ["pixell-a2a:callerAuth: bearer", "pixell-a2a:tlsCertificateArn", "pixell-a2a:allowedCidrs", "pixell-a2a:internetFacing: false", "pixell-a2a:allowAnonymousInternet: true"]) {
      assert.ok(problems[0]!.includes(way), `the message names ${way}`);
    }
  });

  it("counts ranges that add up to every address as 0.0.0.0/0", () => {
    assert.equal(problemsOf({ ...PAR, allowedCidrs: "0.0.0.0/1,128.0.0.0/1" }).length, 1);
    assert.equal(problemsOf({ ...PAR, allowedCidrs: "0.0.0.0/2,64.0.0.0/2,128.0.0.0/1" }).length, 1);
    assert.deepEqual(problemsOf({ ...PAR, allowedCidrs: "0.0.0.0/1,128.0.0.0/2" }), [], "a quarter of the internet is missing");
  });

  it("accepts each way out without an exposure warning: bearer, jwt, an internal NLB, callers from named ranges", () => {
    const ways: RawConfig[] = [
      { ...PAR, callerAuth: "bearer" },
      { ...PAR, callerAuth: "jwt", callerAuthJwksUrl: "https://idp.example.com/jwks.json", callerAuthIssuer: "https://idp.example.com/", probeAuthTokenSecretArn: "arn:aws:secretsmanager:us-east-2:123456789012:secret:pixell/probe-jwt-AbC123" },
      { ...PAR, internetFacing: "false" },
      { ...PAR, allowedCidrs: "203.0.113.0/24,198.51.100.0/24" },
    ];
    for (const raw of ways) {
      assert.deepEqual(problemsOf(raw), [], JSON.stringify(raw));
      assert.deepEqual(configWarnings(parseStackConfig(raw)).filter((w) => /ANONYMOUS/.test(w)), [], JSON.stringify(raw));
    }
  });

  it("with allowAnonymousInternet: true, accepts the defaults and warns loudly on every preview", () => {
    const config = parseStackConfig({ ...PAR, allowAnonymousInternet: "true" });
    assert.deepEqual([config.internetFacing, config.allowedCidrs, config.callerAuth.mode, config.allowAnonymousInternet], [true, ["0.0.0.0/0"], "off", true]);
    const warnings = configWarnings(config);
    assert.match(warnings[0]!, /^ANONYMOUS INTERNET ENDPOINT \(pixell-a2a:allowAnonymousInternet is true\): .*anyone can invoke any agent/);
  });

  it("refuses allowAnonymousInternet where nothing is anonymous, so it cannot apply again unnoticed, and a value that is not a boolean", () => {
    assert.match(problemsOf({ ...PAR, callerAuth: "bearer", allowAnonymousInternet: "true" })[0]!, /allowAnonymousInternet is true but the endpoint is not anonymous \(pixell-a2a:callerAuth is bearer\): remove the key/);
    assert.match(problemsOf({ ...PAR, internetFacing: "false", allowAnonymousInternet: "true" })[0]!, /not anonymous \(the NLB is internal\)/);
    assert.match(problemsOf({ ...PAR, allowAnonymousInternet: "yes" }).join("\n"), /pixell-a2a:allowAnonymousInternet = "yes" is not valid: expected true or false/);
    assert.deepEqual(problemsOf({ ...PAR, callerAuth: "bearer", allowAnonymousInternet: "false" }), []);
  });

  it("the shipped dev stack turns on bearer auth, so its preview passes; its one warning recommends TLS for the tokens", () => {
    const config = parseStackConfig(devStackRaw(), "us-east-2");
    assert.deepEqual([config.internetFacing, config.allowedCidrs, config.callerAuth.mode], [true, ["0.0.0.0/0"], "bearer"]);
    const warnings = configWarnings(config);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /callerAuth is bearer but the A2A listener is plain TCP: callers' tokens cross the network in clear text .*Set pixell-a2a:tlsCertificateArn and pixell-a2a:requireTls: true/);
  });
});

const asStackResources = (run: ProgramRun): StackResource[] =>
  run.resources.map((r) => ({ type: r.type, name: r.name, urn: `urn:pulumi:dev::pixell-a2a::${r.type}::${r.name}`, props: r.inputs }));

/** The pack's CrossGuard policy as the CLI runs it, with the given policy config and stack tags. */
async function anonymousPolicy(resources: StackResource[], config: Record<string, unknown> = {}, stackTags: Record<string, string> = {}): Promise<string[]> {
  const policy = policies.find((p) => p.name === "no-anonymous-internet-endpoint")!;
  const args = {
    resources: resources.map((r) => ({ ...r, propertyDependencies: {} }) as unknown as PolicyResource),
    stackTags: new Map(Object.entries(stackTags)),
    getConfig: () => config,
  } as unknown as StackValidationArgs;
  const messages: string[] = [];
  await policy.validateStack!(args, (message: string) => messages.push(message));
  return messages;
}

describe("security defaults: the policy pack on the recorded program", function () {
  this.timeout(60000);
  const base = loadStackConfigFile();
  let dev: StackResource[];
  let anonymous: StackResource[];
  before(async () => {
    dev = asStackResources(await runProgram(base));
    anonymous = asStackResources(await runProgram({ ...base, "pixell-a2a:callerAuth": "off", "pixell-a2a:allowAnonymousInternet": "true" }));
  });
  const taskDefinition = (resources: StackResource[]): StackResource => resources.find((r) => r.type === "aws:ecs/taskDefinition:TaskDefinition")!;
  /** A preview before the images are built: containerDefinitions waits for their digests. */
  const inPreview = (resources: StackResource[]): StackResource[] =>
    resources.map((r) => (r.type === "aws:ecs/taskDefinition:TaskDefinition" ? { ...r, props: { ...r.props, containerDefinitions: undefined } } : r));

  it("the dev stack passes: the router authenticates (ROUTER_AUTH=bearer), also when only the task definition's tag says so", async () => {
    assert.equal(taskCallerAuth(taskDefinition(dev)), "bearer");
    assert.equal(taskDefinition(dev).props.tags && (taskDefinition(dev).props.tags as Record<string, string>)[CALLER_AUTH_TAG], "bearer");
    assert.deepEqual(await anonymousPolicy(dev), []);
    assert.deepEqual(await anonymousPolicy(inPreview(dev)), []);
  });

  it("an opted-in anonymous stack tags every taggable resource, and the policy lets it through", async () => {
    const tagged = anonymous.filter((r) => typeof r.props.tags === "object" && r.props.tags !== null);
    assert.ok(tagged.length > 20);
    for (const r of tagged) assert.equal((r.props.tags as Record<string, string>)["pixell:allowAnonymousInternet"], "true", r.name);
    assert.equal(allowAnonymousInternet({}, new Map(), anonymous), true);
    assert.deepEqual(await anonymousPolicy(anonymous), []);
    assert.ok(dev.every((r) => typeof r.props.tags !== "object" || r.props.tags === null || !("pixell:allowAnonymousInternet" in r.props.tags)), "no opt-in tag on the dev stack");
  });

  it("refuses the same resources without the opt-in (a program changed past the config check), in a preview too", async () => {
    const stripped = anonymous.map((r) => {
      if (typeof r.props.tags !== "object" || r.props.tags === null) return r;
      const { "pixell:allowAnonymousInternet": _optIn, ...tags } = r.props.tags as Record<string, string>;
      return { ...r, props: { ...r.props, tags } };
    });
    for (const resources of [stripped, inPreview(stripped)]) {
      const messages = await anonymousPolicy(resources);
      assert.equal(messages.length, 1);
      assert.match(messages[0]!, /A2A listener a2a-a2a on 50051 is on an internet-facing load balancer that admits every address, and the router's caller authentication is off: anyone could invoke any agent/);
    }
    // Policy config and the stack tag can still accept it; policy config wins over the tag.
    assert.deepEqual(await anonymousPolicy(stripped, { allowAnonymousInternet: true }), []);
    assert.deepEqual(await anonymousPolicy(stripped, {}, { "pixell:allowAnonymousInternet": "true" }), []);
    assert.equal((await anonymousPolicy(anonymous, { allowAnonymousInternet: false })).length, 1);
  });
});

describe("security defaults: the policy's pure check", () => {
  const r = (type: string, name: string, props: Record<string, unknown>): StackResource => ({ type, name, urn: `urn:${name}`, props });
  const nlb = (internal?: boolean): StackResource => r("aws:lb/loadBalancer:LoadBalancer", "nlb", { loadBalancerType: "network", ...(internal === undefined ? {} : { internal }) });
  const listener = r("aws:lb/listener:Listener", "a2a", { port: 50051, protocol: "TCP" });
  const open = (cidrIpv4?: string, cidrIpv6?: string): StackResource => r("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", `in-${cidrIpv4 ?? cidrIpv6}`, { ipProtocol: "tcp", fromPort: 50051, toPort: 50051, cidrIpv4, cidrIpv6 });
  const task = (env: Record<string, string>): StackResource => r("aws:ecs/taskDefinition:TaskDefinition", "task", {
    containerDefinitions: JSON.stringify([{ name: "router", environment: Object.entries(env).map(([name, value]) => ({ name, value })) }]),
  });

  it("reports an internet-facing NLB (internal unset is internet-facing) open to everyone on 50051 without ROUTER_AUTH", () => {
    assert.equal(anonymousInternetViolations([nlb(), listener, open("0.0.0.0/0"), task({})], false).length, 1);
    assert.equal(anonymousInternetViolations([nlb(false), listener, open(undefined, "::/0"), task({ ROUTER_AUTH: "off" })], false).length, 1);
    assert.equal(anonymousInternetViolations([nlb(), listener, open("0.0.0.0/1"), open("128.0.0.0/1"), task({})], false).length, 1);
    assert.match(anonymousInternetViolations([nlb(), listener, open("0.0.0.0/0")], false)[0]!.message, /no ECS task definition in the stack says the router authenticates callers/);
  });

  it("passes an internal NLB, named source ranges, a router with bearer or jwt, and the opt-in", () => {
    assert.deepEqual(anonymousInternetViolations([nlb(true), listener, open("0.0.0.0/0"), task({})], false), []);
    assert.deepEqual(anonymousInternetViolations([nlb(), listener, open("203.0.113.0/24"), task({})], false), []);
    assert.deepEqual(anonymousInternetViolations([nlb(), listener, open("0.0.0.0/0"), task({ ROUTER_AUTH: "bearer" })], false), []);
    assert.deepEqual(anonymousInternetViolations([nlb(), listener, open("0.0.0.0/0"), task({ ROUTER_AUTH: "jwt" })], false), []);
    assert.deepEqual(anonymousInternetViolations([nlb(), listener, open("0.0.0.0/0"), task({})], true), []);
  });
});
