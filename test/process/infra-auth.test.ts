import { strict as assert } from "node:assert";
import { configWarnings, parseStackConfig, unknownKeys, type RawConfig } from "../../infra/config";
import { EMPTY_TOKENS_DOCUMENT, routerAuthEnvironment } from "../../infra/caller-auth";
import { containerDefinitions, type ContainerInputs } from "../../infra/containers";
import { probeRolePolicy, taskRolePolicy } from "../../infra/iam";
import { probeEnvironment } from "../../infra/probe";
import { a2aTlsViolations, iamViolations, type StackResource } from "../../infra/policy/policies";
import { policies, requireTls } from "../../infra/policy/pack";
import { parseAuthConfig } from "../../router/auth/config";
import { parseTokensDocument } from "../../router/auth/tokens";
import { readProbeConfig } from "../../probe-lambda/config";
import type { PolicyResource, StackValidationArgs } from "@pulumi/policy";
import { loadStackConfigFile, runProgram, type Inputs, type ProgramRun } from "../helpers/pulumi-program";
import { configProblems } from "../helpers/config-problems";

// The PAR image and callers from one range (TEST-NET-3): the defaults alone (internet-facing,
// 0.0.0.0/0, callerAuth off) are an anonymous internet endpoint, which test/process/security-defaults.test.ts covers.
const MINIMAL: RawConfig = { parImage: "ghcr.io/pixell-global/pixell-agent-runtime:1.4.2", allowedCidrs: "203.0.113.0/24" };
const TOKENS_ARN = "arn:aws:secretsmanager:us-east-2:123456789012:secret:pixell/a2a-tokens-AbC123";
const PROBE_ARN = "arn:aws:secretsmanager:us-east-2:123456789012:secret:pixell/a2a-probe-jwt-XyZ789";
const CERT_ARN = "arn:aws:acm:us-east-2:123456789012:certificate/0b1c2d3e-aaaa-bbbb-cccc-000000000000";
const JWT: RawConfig = {
  callerAuth: "jwt",
  callerAuthJwksUrl: "https://idp.example.com/.well-known/jwks.json",
  callerAuthIssuer: "https://idp.example.com/",
  probeAuthTokenSecretArn: PROBE_ARN,
};


describe("infra auth: config", () => {
  it("defaults to callerAuth off and TLS not required", () => {
    const c = parseStackConfig(MINIMAL);
    assert.deepEqual(c.callerAuth, { mode: "off" });
    assert.equal(c.requireTls, false);
  });

  it("reads bearer mode with created secrets, or with the ARNs of existing ones", () => {
    assert.deepEqual(parseStackConfig({ ...MINIMAL, callerAuth: "bearer" }).callerAuth, { mode: "bearer", tokensSecretArn: undefined, probeTokenSecretArn: undefined });
    assert.deepEqual(
      parseStackConfig({ ...MINIMAL, callerAuth: "bearer", callerAuthTokensSecretArn: TOKENS_ARN, probeAuthTokenSecretArn: PROBE_ARN }).callerAuth,
      { mode: "bearer", tokensSecretArn: TOKENS_ARN, probeTokenSecretArn: PROBE_ARN },
    );
  });

  it("reads jwt mode with its issuer, JWKS, optional audience and claim", () => {
    assert.deepEqual(parseStackConfig({ ...MINIMAL, ...JWT, callerAuthAudience: "pixell-a2a", callerAuthAllowClaim: "a2a:allow" }).callerAuth, {
      mode: "jwt",
      jwksUrl: "https://idp.example.com/.well-known/jwks.json",
      issuer: "https://idp.example.com/",
      audience: "pixell-a2a",
      allowClaim: "a2a:allow",
      probeTokenSecretArn: PROBE_ARN,
    });
  });

  it("knows every new key (no 'not a key this stack reads')", () => {
    const keys = ["requireTls", "a2aDomainName", "callerAuth", "callerAuthTokensSecretArn", "callerAuthJwksUrl", "callerAuthIssuer", "callerAuthAudience", "callerAuthAllowClaim", "probeAuthTokenSecretArn"];
    assert.deepEqual(unknownKeys(keys), []);
  });

  it("names the key, the value and what is accepted for bad auth values", () => {
    let problems = configProblems({
      ...MINIMAL,
      callerAuth: "bearer",
      callerAuthTokensSecretArn: "arn:aws:secretsmanager:us-east-2:123456789012:secret:pixell/a2a",
      probeAuthTokenSecretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:probe-AbC123",
    });
    assert.equal(problems.length, 2);
    problems = [...problems].sort();
    assert.match(problems[0]!, /^pixell-a2a:callerAuthTokensSecretArn = ".*secret:pixell\/a2a" is not valid: expected the complete ARN of a Secrets Manager secret, .*<name>-<6 characters>/);
    assert.match(problems[1]!, /^pixell-a2a:probeAuthTokenSecretArn = ".*" is not valid: expected a secret in the stack's region us-east-2/);
    assert.match(configProblems({ ...MINIMAL, callerAuth: "yes" })[0]!, /^pixell-a2a:callerAuth = "yes" is not valid: expected one of off, bearer, jwt$/);
  });

  it("requires the JWKS URL (https), the issuer and the probe's token secret in jwt mode", () => {
    const problems = configProblems({ ...MINIMAL, callerAuth: "jwt" }).join("\n");
    assert.match(problems, /pixell-a2a:callerAuthJwksUrl is required when pixell-a2a:callerAuth is jwt/);
    assert.match(problems, /pixell-a2a:callerAuthIssuer is required when pixell-a2a:callerAuth is jwt/);
    assert.match(problems, /pixell-a2a:probeAuthTokenSecretArn is required when pixell-a2a:callerAuth is jwt: .*the stack cannot mint one.*long-lived JWT/);
    const bad = configProblems({ ...MINIMAL, ...JWT, callerAuthJwksUrl: "http://idp.example.com/jwks.json", callerAuthAllowClaim: "allow claim!" });
    assert.match(bad[0]!, /^pixell-a2a:callerAuthJwksUrl = "http:\/\/idp\.example\.com\/jwks\.json" is not valid: expected an https URL/);
    assert.match(bad[1]!, /^pixell-a2a:callerAuthAllowClaim = "allow claim!" is not valid: expected a claim name/);
  });

  it("refuses keys of another mode, so a half-switched configuration cannot pass", () => {
    assert.match(configProblems({ ...MINIMAL, callerAuthTokensSecretArn: TOKENS_ARN })[0]!, /pixell-a2a:callerAuthTokensSecretArn = ".*" is not used when pixell-a2a:callerAuth is off/);
    assert.match(configProblems({ ...MINIMAL, probeAuthTokenSecretArn: PROBE_ARN })[0]!, /pixell-a2a:probeAuthTokenSecretArn = ".*" is not used when pixell-a2a:callerAuth is off/);
    assert.match(configProblems({ ...MINIMAL, callerAuth: "bearer", callerAuthIssuer: "https://idp/" })[0]!, /pixell-a2a:callerAuthIssuer = "https:\/\/idp\/" is not used when pixell-a2a:callerAuth is bearer/);
    assert.match(configProblems({ ...MINIMAL, ...JWT, callerAuthTokensSecretArn: TOKENS_ARN })[0]!, /pixell-a2a:callerAuthTokensSecretArn = ".*" is not used when pixell-a2a:callerAuth is jwt/);
  });

  it("refuses caller authentication with envoyMode xds, saying why", () => {
    for (const auth of [{ callerAuth: "bearer" }, JWT]) {
      const problems = configProblems({ ...MINIMAL, ...auth, envoyMode: "xds" });
      assert.equal(problems.length, 1);
      assert.match(problems[0]!, /pixell-a2a:callerAuth = "(bearer|jwt)" cannot be combined with pixell-a2a:envoyMode = "xds": in xds mode Envoy sends calls for known deployments straight to the agents, so they would never pass the router's authentication/);
    }
    assert.equal(parseStackConfig({ ...MINIMAL, envoyMode: "xds" }).envoyMode, "xds", "xds without auth is still fine");
  });

  it("refuses requireTls without a certificate, and accepts it with one", () => {
    assert.match(configProblems({ ...MINIMAL, requireTls: "true" })[0]!, /pixell-a2a:requireTls is true but pixell-a2a:tlsCertificateArn is not set: the A2A listener would be plain TCP/);
    assert.match(configProblems({ ...MINIMAL, requireTls: "yes" })[0]!, /pixell-a2a:requireTls = "yes" is not valid: expected true or false/);
    assert.equal(parseStackConfig({ ...MINIMAL, requireTls: "true", tlsCertificateArn: CERT_ARN }).requireTls, true);
  });
});

describe("infra auth: preview warnings", () => {
  it("warns when tokens would cross a plain-TCP listener, and when the probe would check the certificate against the NLB's name", () => {
    assert.deepEqual(configWarnings(parseStackConfig(MINIMAL)), []);
    const clear = configWarnings(parseStackConfig({ ...MINIMAL, callerAuth: "bearer" }));
    assert.equal(clear.length, 1);
    assert.match(clear[0]!, /callerAuth is bearer but the A2A listener is plain TCP: callers' tokens cross the network in clear text \(the NLB is internet-facing\)/);
    const noName = configWarnings(parseStackConfig({ ...MINIMAL, tlsCertificateArn: CERT_ARN }));
    assert.equal(noName.length, 1);
    assert.match(noName[0]!, /tlsCertificateArn is set without pixell-a2a:a2aDomainName: the probe connects to the NLB's own DNS name/);
    assert.deepEqual(configWarnings(parseStackConfig({ ...MINIMAL, callerAuth: "bearer", tlsCertificateArn: CERT_ARN, a2aDomainName: "a2a.example.com", requireTls: "true" })), []);
  });

  it("accepts a2aDomainName only as a DNS name and only with TLS", () => {
    assert.match(configProblems({ ...MINIMAL, a2aDomainName: "a2a.example.com" })[0]!, /pixell-a2a:a2aDomainName = "a2a.example.com" is only used with TLS: set pixell-a2a:tlsCertificateArn too/);
    assert.match(configProblems({ ...MINIMAL, tlsCertificateArn: CERT_ARN, a2aDomainName: "https://a2a.example.com" })[0]!, /pixell-a2a:a2aDomainName = "https:\/\/a2a.example.com" is not valid: expected a lower-case DNS name/);
  });
});

describe("infra auth: router environment, IAM and probe environment (pure)", () => {
  it("gives the router ROUTER_AUTH* keys that the router's own parser accepts", () => {
    assert.deepEqual(routerAuthEnvironment({ mode: "off" }), []);
    const bearer = routerAuthEnvironment({ mode: "bearer", tokensSecretArn: TOKENS_ARN });
    assert.deepEqual(bearer, [{ name: "ROUTER_AUTH", value: "bearer" }, { name: "ROUTER_AUTH_TOKENS", value: `secretsmanager:${TOKENS_ARN}` }]);
    const jwt = routerAuthEnvironment({ mode: "jwt", jwksUrl: "https://idp.example.com/jwks.json", issuer: "https://idp.example.com/", audience: "pixell-a2a" });
    const asEnv = (kv: { name: string; value: string }[]): Record<string, string> => Object.fromEntries(kv.map((e) => [e.name, e.value]));
    assert.deepEqual(parseAuthConfig(asEnv(bearer)), { mode: "bearer", tokens: { kind: "secretsmanager", secretId: TOKENS_ARN }, refreshMs: 60000 });
    assert.deepEqual(parseAuthConfig(asEnv(jwt)), {
      mode: "jwt", jwksUrl: "https://idp.example.com/jwks.json", issuer: "https://idp.example.com/", audience: "pixell-a2a", allowClaim: "pixell:deployments", cacheSize: 10000,
    });
  });

  it("puts the keys on the router container only", () => {
    const inputs: ContainerInputs = {
      region: "us-east-2", parImage: "par:1", routerImage: "router:1", envoyImage: "envoy:1",
      logGroups: { par: "p", router: "r", envoy: "e" }, envoyMode: "router", routerDrainMs: 20000, logLevel: "info",
      cloudMapNamespace: "pixell-runtime.local", cloudMapService: "agents", agentPortFirst: 50054, agentPortLast: 50153, memory: 2048,
      routerAuth: { mode: "bearer", tokensSecretArn: TOKENS_ARN },
    };
    const [par, router, envoy] = containerDefinitions(inputs);
    assert.ok(router!.environment.some((e) => e.name === "ROUTER_AUTH" && e.value === "bearer"));
    for (const c of [par!, envoy!]) assert.ok(c.environment.every((e) => !e.name.startsWith("ROUTER_AUTH")), `${c.name} gets no auth keys`);
  });

  it("grants GetSecretValue on exactly the named secret, and nothing when no secret is used", () => {
    const names = { namespaceName: "pixell-runtime.local", serviceName: "agents", serviceArn: "arn:aws:servicediscovery:us-east-2:123456789012:service/srv-1", namespaceArn: "arn:aws:servicediscovery:us-east-2:123456789012:namespace/ns-1", hostedZoneId: "Z1" };
    const reads = (doc: { Statement: readonly { Action: readonly string[]; Resource: unknown }[] }) => doc.Statement.filter((s) => s.Action.some((a) => a.startsWith("secretsmanager:")));
    assert.deepEqual(reads(taskRolePolicy(names)), []);
    assert.deepEqual(reads(taskRolePolicy(names, TOKENS_ARN)), [{ Sid: "RouterReadsCallerTokens", Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: TOKENS_ARN }]);
    const probeInput = { ...names, metricsNamespace: "Pixell/A2A", logGroupArn: "arn:aws:logs:us-east-2:123456789012:log-group:/aws/lambda/p", inVpc: false };
    assert.deepEqual(reads(probeRolePolicy(probeInput)), []);
    assert.deepEqual(reads(probeRolePolicy({ ...probeInput, authTokenSecretArn: PROBE_ARN })), [{ Sid: "ReadProbeToken", Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: PROBE_ARN }]);
    const asResource = (doc: object): StackResource => ({ type: "aws:iam/rolePolicy:RolePolicy", name: "p", urn: "urn:p", props: { policy: JSON.stringify(doc) } });
    assert.deepEqual(iamViolations([asResource(taskRolePolicy(names, TOKENS_ARN)), asResource(probeRolePolicy({ ...probeInput, authTokenSecretArn: PROBE_ARN }))]), []);
  });

  it("passes the probe its token secret as PROBE_AUTH_TOKEN_SECRET, which the probe's config reads", () => {
    const base = { endpoint: "nlb.example.com:50051", tls: true, cloudMapNamespace: "ns.local", cloudMapService: "agents", cloudMapServiceId: "srv-1", metricsNamespace: "Pixell/A2A", timeoutMs: 3000, concurrency: 64, logLevel: "info", platformPercent: 25 };
    assert.equal("PROBE_AUTH_TOKEN_SECRET" in probeEnvironment(base), false);
    const env = probeEnvironment({ ...base, authTokenSecret: PROBE_ARN });
    assert.equal(env.PROBE_AUTH_TOKEN_SECRET, PROBE_ARN);
    assert.equal(readProbeConfig(env).authTokenSecret, PROBE_ARN);
  });

  it("seeds a created tokens secret with a document the router accepts and that admits nobody", () => {
    assert.equal(parseTokensDocument(EMPTY_TOKENS_DOCUMENT).size, 0);
  });
});

// ---------------------------------------------------------------------------------------------
// The stack program under mocks.
// ---------------------------------------------------------------------------------------------

const env = (container: Inputs): Record<string, string> =>
  Object.fromEntries((container.environment as { name: string; value: string }[]).map((e) => [e.name, e.value]));
const routerEnv = (run: ProgramRun): Record<string, string> =>
  env((JSON.parse(run.one("aws:ecs/taskDefinition:TaskDefinition").inputs.containerDefinitions) as Inputs[]).find((c) => c.name === "router")!);
const policyDoc = (run: ProgramRun, name: string): { Statement: Inputs[] } => JSON.parse(run.one("aws:iam/rolePolicy:RolePolicy", name).inputs.policy);
const secretReads = (run: ProgramRun, name: string): Inputs[] => policyDoc(run, name).Statement.filter((s) => (s.Action as string[]).some((a) => a.startsWith("secretsmanager:")));
const probeEnv = (run: ProgramRun): Record<string, string> => run.one("aws:lambda/function:Function").inputs.environment.variables;
const asStackResources = (run: ProgramRun): StackResource[] =>
  run.resources.map((r) => ({ type: r.type, name: r.name, urn: `urn:pulumi:dev::pixell-a2a::${r.type}::${r.name}`, props: r.inputs }));

describe("infra auth: the stack under mocks", function () {
  this.timeout(60000);
  const base = loadStackConfigFile();
  const MOCK_ROUTER_SECRET = "arn:aws:secretsmanager:us-east-2:123456789012:secret:pixell-a2a/dev/router-tokens-AbCdEf";
  const MOCK_PROBE_SECRET = "arn:aws:secretsmanager:us-east-2:123456789012:secret:pixell-a2a/dev/probe-token-AbCdEf";

  it("off (callers from one range): no secrets, no ROUTER_AUTH keys, no secret access, no probe token", async () => {
    const run = await runProgram({ ...base, "pixell-a2a:callerAuth": "off", "pixell-a2a:allowedCidrs": JSON.stringify(["203.0.113.0/24"]) });
    assert.equal(run.ofType("pixell:a2a:CallerAuthSecrets").length, 0, "nothing new in an existing stack's preview");
    assert.equal(run.ofType("aws:secretsmanager/secret:Secret").length, 0);
    assert.deepEqual(Object.keys(routerEnv(run)).filter((k) => k.startsWith("ROUTER_AUTH")), []);
    assert.deepEqual(secretReads(run, "a2a-task"), []);
    assert.deepEqual(secretReads(run, "a2a-policy"), []);
    assert.equal(probeEnv(run).PROBE_AUTH_TOKEN_SECRET, undefined);
    assert.equal(run.outputs.callerAuthTokensSecretArn, undefined);
    assert.ok(run.resources.every((r) => r.inputs.tags === undefined || !("pixell:requireTls" in r.inputs.tags)));
  });

  it("bearer with created secrets: the router reads its tokens secret, the probe its own, each role only its own", async () => {
    const run = await runProgram({ ...base, "pixell-a2a:callerAuth": "bearer" });
    const secrets = Object.fromEntries(run.ofType("aws:secretsmanager/secret:Secret").map((s) => [s.name, s.inputs]));
    assert.deepEqual(Object.keys(secrets).sort(), ["a2a-probe-token", "a2a-router-tokens"]);
    assert.equal(secrets["a2a-router-tokens"]!.name, "pixell-a2a/dev/router-tokens");
    assert.equal(secrets["a2a-probe-token"]!.name, "pixell-a2a/dev/probe-token");
    assert.equal(secrets["a2a-router-tokens"]!.kmsKeyId, undefined, "the AWS-managed key: no kms:Decrypt grant needed");
    // Only the router's secret gets a first value (an empty tokens document); the probe's token is the operator's to put.
    const versions = run.ofType("aws:secretsmanager/secretVersion:SecretVersion");
    // The provider marks secretString secret: under mocks it arrives wrapped as { <sig>: ..., value }.
    const plain = (v: unknown): unknown => (typeof v === "object" && v !== null && "value" in v ? (v as { value: unknown }).value : v);
    assert.deepEqual(versions.map((v) => [v.name, v.inputs.secretId, plain(v.inputs.secretString)]), [["a2a-router-tokens", "a2a-router-tokens-id", '{"tokens":[]}']]);

    const router = routerEnv(run);
    assert.equal(router.ROUTER_AUTH, "bearer");
    assert.equal(router.ROUTER_AUTH_TOKENS, `secretsmanager:${MOCK_ROUTER_SECRET}`);
    assert.deepEqual(secretReads(run, "a2a-task"), [{ Sid: "RouterReadsCallerTokens", Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: MOCK_ROUTER_SECRET }]);
    assert.deepEqual(secretReads(run, "a2a-policy"), [{ Sid: "ReadProbeToken", Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: MOCK_PROBE_SECRET }]);
    assert.equal(probeEnv(run).PROBE_AUTH_TOKEN_SECRET, MOCK_PROBE_SECRET);
    assert.deepEqual([run.outputs.callerAuthTokensSecretArn, run.outputs.probeAuthTokenSecretArn], [MOCK_ROUTER_SECRET, MOCK_PROBE_SECRET]);
    assert.deepEqual(iamViolations(asStackResources(run)), [], "the policy pack's IAM policy passes");
  });

  it("bearer with existing secrets: creates none and grants on exactly the given ARNs", async () => {
    const run = await runProgram({ ...base, "pixell-a2a:callerAuth": "bearer", "pixell-a2a:callerAuthTokensSecretArn": TOKENS_ARN, "pixell-a2a:probeAuthTokenSecretArn": PROBE_ARN });
    assert.equal(run.ofType("aws:secretsmanager/secret:Secret").length, 0);
    assert.equal(run.ofType("aws:secretsmanager/secretVersion:SecretVersion").length, 0);
    assert.equal(routerEnv(run).ROUTER_AUTH_TOKENS, `secretsmanager:${TOKENS_ARN}`);
    assert.deepEqual(secretReads(run, "a2a-task").map((s) => s.Resource), [TOKENS_ARN]);
    assert.deepEqual(secretReads(run, "a2a-policy").map((s) => s.Resource), [PROBE_ARN]);
    assert.equal(probeEnv(run).PROBE_AUTH_TOKEN_SECRET, PROBE_ARN);
    assert.deepEqual(iamViolations(asStackResources(run)), []);
  });

  it("bearer with only the tokens secret given creates just the probe's", async () => {
    const run = await runProgram({ ...base, "pixell-a2a:callerAuth": "bearer", "pixell-a2a:callerAuthTokensSecretArn": TOKENS_ARN });
    assert.deepEqual(run.ofType("aws:secretsmanager/secret:Secret").map((s) => s.name), ["a2a-probe-token"]);
    assert.equal(run.ofType("aws:secretsmanager/secretVersion:SecretVersion").length, 0);
    assert.deepEqual(secretReads(run, "a2a-task").map((s) => s.Resource), [TOKENS_ARN]);
    assert.equal(probeEnv(run).PROBE_AUTH_TOKEN_SECRET, MOCK_PROBE_SECRET);
  });

  it("jwt: the router verifies JWTs (no secret access), the probe reads its JWT from the given secret", async () => {
    const run = await runProgram({
      ...base,
      "pixell-a2a:callerAuth": "jwt",
      "pixell-a2a:callerAuthJwksUrl": "https://idp.example.com/.well-known/jwks.json",
      "pixell-a2a:callerAuthIssuer": "https://idp.example.com/",
      "pixell-a2a:callerAuthAudience": "pixell-a2a",
      "pixell-a2a:probeAuthTokenSecretArn": PROBE_ARN,
    });
    assert.equal(run.ofType("aws:secretsmanager/secret:Secret").length, 0);
    const router = routerEnv(run);
    assert.deepEqual(Object.fromEntries(Object.entries(router).filter(([k]) => k.startsWith("ROUTER_AUTH"))), {
      ROUTER_AUTH: "jwt",
      ROUTER_AUTH_JWKS_URL: "https://idp.example.com/.well-known/jwks.json",
      ROUTER_AUTH_ISSUER: "https://idp.example.com/",
      ROUTER_AUTH_AUDIENCE: "pixell-a2a",
    });
    assert.equal(parseAuthConfig(router).mode, "jwt", "the router's own parser accepts the container's environment");
    assert.deepEqual(secretReads(run, "a2a-task"), []);
    assert.deepEqual(secretReads(run, "a2a-policy").map((s) => s.Resource), [PROBE_ARN]);
    assert.equal(probeEnv(run).PROBE_AUTH_TOKEN_SECRET, PROBE_ARN);
    assert.equal(run.outputs.callerAuthTokensSecretArn, undefined);
    assert.equal(run.outputs.probeAuthTokenSecretArn, PROBE_ARN);
  });

  it("fails before declaring anything for auth with xds, or requireTls without a certificate", async () => {
    await assert.rejects(runProgram({ ...base, "pixell-a2a:callerAuth": "bearer", "pixell-a2a:envoyMode": "xds" }), (err: Error) => {
      assert.equal(err.name, "ConfigError");
      assert.match(err.message, /cannot be combined with pixell-a2a:envoyMode = "xds"/);
      return true;
    });
    await assert.rejects(runProgram({ ...base, "pixell-a2a:requireTls": "true" }), /pixell-a2a:requireTls is true but pixell-a2a:tlsCertificateArn is not set/);
  });
});

describe("infra auth: requireTls and the policy pack on the recorded program", function () {
  this.timeout(60000);
  const base = loadStackConfigFile();

  /** Runs the pack's CrossGuard a2a-listener-tls policy as the CLI would, with no policy config and the given stack tags. */
  async function tlsPolicy(resources: StackResource[], stackTags: Record<string, string> = {}): Promise<string[]> {
    const policy = policies.find((p) => p.name === "a2a-listener-tls")!;
    const args = {
      resources: resources.map((r) => ({ ...r, propertyDependencies: {} }) as unknown as PolicyResource),
      stackTags: new Map(Object.entries(stackTags)),
      getConfig: () => ({}),
    } as unknown as StackValidationArgs;
    const messages: string[] = [];
    await policy.validateStack!(args, (message: string) => messages.push(message));
    return messages;
  }

  it("with requireTls and a certificate, tags every taggable resource and passes the TLS policy", async () => {
    const run = await runProgram({ ...base, "pixell-a2a:requireTls": "true", "pixell-a2a:tlsCertificateArn": CERT_ARN, "pixell-a2a:a2aDomainName": "a2a.example.com", "pixell-a2a:callerAuth": "bearer" });
    assert.deepEqual([probeEnv(run).PROBE_ENDPOINT, probeEnv(run).PROBE_TLS], ["a2a.example.com:50051", "true"], "the probe uses the name on the certificate");
    const listener = run.one("aws:lb/listener:Listener", "a2a-a2a").inputs;
    assert.equal(listener.protocol, "TLS");
    assert.equal(listener.tags["pixell:requireTls"], "true");
    assert.equal(run.one("aws:lb/loadBalancer:LoadBalancer", "a2a-nlb").inputs.tags["pixell:requireTls"], "true");
    const resources = asStackResources(run);
    assert.equal(requireTls({}, new Map(), resources), true, "the pack reads the requirement from the stack's resources");
    assert.equal(requireTls({ requireTls: false }, new Map(), resources), false, "policy config still wins");
    assert.deepEqual(await tlsPolicy(resources), []);
    assert.deepEqual(iamViolations(resources), []);
  });

  it("fails the TLS policy when the listener is plain TCP while the stack's resources say TLS is required", async () => {
    // Config validation stops requireTls without a certificate, so simulate a code change that drops
    // TLS from the listener while the stack still declares the requirement.
    const run = await runProgram({ ...base, "pixell-a2a:requireTls": "true", "pixell-a2a:tlsCertificateArn": CERT_ARN });
    const resources = asStackResources(run).map((r) =>
      r.name === "a2a-a2a" && r.type === "aws:lb/listener:Listener"
        ? { ...r, props: { ...r.props, protocol: "TCP", certificateArn: undefined, sslPolicy: undefined, alpnPolicy: undefined } }
        : r);
    const messages = await tlsPolicy(resources);
    assert.equal(messages.length, 1);
    assert.match(messages[0]!, /A2A listener a2a-a2a on 50051 is plain TCP but this stack requires TLS/);
  });

  it("without requireTls the plain-TCP dev stack passes, and fails only when the stack tag requires TLS", async () => {
    const resources = asStackResources(await runProgram(base));
    assert.equal(requireTls({}, new Map(), resources), false);
    assert.deepEqual(await tlsPolicy(resources), []);
    assert.equal(a2aTlsViolations(resources, false).length, 0);
    const tagged = await tlsPolicy(resources, { "pixell:requireTls": "true" });
    assert.equal(tagged.length, 1);
    assert.match(tagged[0]!, /is plain TCP but this stack requires TLS: set tlsCertificateArn/);
  });
});
