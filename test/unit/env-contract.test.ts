/**
 * The seam between the stack and the programs it starts: the environment infra writes into each
 * container and into the probe Lambda is read, unchanged, by the program's own config reader, and
 * every name in lib/env-contract.ts has a reader. A name spelled differently at one end (the kind of
 * bug that only shows on the first deploy: a setting silently left at its default) fails here.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { containerDefinitions, type ContainerInputs } from "../../infra/containers";
import { probeEnvironment } from "../../infra/probe";
import { ENVOY_ENV, PAR_ENV, PROBE_ENV, ROUTER_AUTH_ENV, ROUTER_ENV } from "../../lib/env-contract";
import { ROUTER_ADMIN_PORT, ROUTER_PORT, XDS_SOCKET } from "../../lib/ports";
import { readProbeConfig } from "../../probe-lambda/config";
import { AUTH_ENV_FLAGS } from "../../router/auth/config";
import { parseRouterConfig, ROUTER_SETTINGS } from "../../router/config";

const INPUTS: ContainerInputs = {
  region: "us-east-2", parImage: "par:1", routerImage: "router:1", envoyImage: "envoy:1",
  logGroups: { par: "/p", router: "/r", envoy: "/e" }, envoyMode: "xds", routerDrainMs: 30000, logLevel: "warn",
  cloudMapNamespace: "pixell-runtime.local", cloudMapService: "agents", cloudMapShards: ["agents", "agents-1"],
  routerMetrics: { namespace: "Pixell/A2A", dimensions: { Stack: "dev", Shard: "0" } },
  agentPortFirst: 50054, agentPortLast: 50153, memory: 2048,
};

function envOf(inputs: ContainerInputs, container: "par" | "router" | "envoy"): Record<string, string> {
  const def = containerDefinitions(inputs).find((c) => c.name === container)!;
  const names = def.environment.map((e) => e.name);
  assert.equal(new Set(names).size, names.length, `${container} sets a variable twice: ${names.join(", ")}`);
  return Object.fromEntries(def.environment.map((e) => [e.name, e.value]));
}

describe("environment contract: infra writes what the programs read", () => {
  it("gives the router an environment its own parser accepts, every value arriving as infra meant it", () => {
    const env = envOf(INPUTS, "router");
    const config = parseRouterConfig([], env);
    assert.deepEqual(config.listen, { host: "0.0.0.0", port: ROUTER_PORT });
    assert.deepEqual(config.admin, { host: "127.0.0.1", port: ROUTER_ADMIN_PORT });
    assert.equal(config.drainMs, 30000);
    assert.equal(config.logLevel, "warn");
    assert.deepEqual(config.xds, { socketPath: XDS_SOCKET });
    assert.match(config.registry, /^par:http:\/\/127\.0\.0\.1:8080,cloudmap:pixell-runtime\.local\/agents/);
    assert.ok(config.registry.includes("agents-1"), config.registry);
    assert.deepEqual(config.emf && { namespace: config.emf.namespace, dimensions: config.emf.dimensions }, { namespace: "Pixell/A2A", dimensions: { Stack: "dev", Shard: "0" } });
    assert.equal(config.auth.mode, "off");
  });

  it("carries each caller-auth mode through to the router's auth config", () => {
    const bearerArn = "arn:aws:secretsmanager:us-east-2:123456789012:secret:pixell/a2a-tokens-AbCdEf";
    const bearer = parseRouterConfig([], envOf({ ...INPUTS, routerAuth: { mode: "bearer", tokensSecretArn: bearerArn } }, "router")).auth;
    assert.deepEqual(bearer.mode === "bearer" && bearer.tokens, { kind: "secretsmanager", secretId: bearerArn });
    const jwt = parseRouterConfig([], envOf({ ...INPUTS, routerAuth: { mode: "jwt", jwksUrl: "https://idp.example/jwks.json", issuer: "https://idp.example/", audience: "a2a", allowClaim: "a2a_allow" } }, "router")).auth;
    assert.deepEqual(jwt.mode === "jwt" && [jwt.jwksUrl, jwt.issuer, jwt.audience, jwt.allowClaim], ["https://idp.example/jwks.json", "https://idp.example/", "a2a", "a2a_allow"]);
  });

  it("names in the contract are exactly the names the router's parser reads", () => {
    const read = new Set<string>([...Object.values(ROUTER_SETTINGS).map((s) => s.env), ...Object.keys(AUTH_ENV_FLAGS)]);
    assert.deepEqual([...read].sort(), [...new Set([...Object.values(ROUTER_ENV), ...Object.values(ROUTER_AUTH_ENV)])].sort());
  });

  it("gives the probe an environment its config reader accepts, and the reader reads every name in the contract", () => {
    const env = probeEnvironment({
      endpoint: "a2a-nlb.elb.us-east-2.amazonaws.com:50051", tls: false, cloudMapNamespace: "pixell-runtime.local", cloudMapService: "agents,agents-1",
      cloudMapServiceId: "srv-a,srv-b", metricsNamespace: "Pixell/A2A", timeoutMs: 2500, concurrency: 16, logLevel: "info", platformPercent: 25,
      authTokenSecret: "arn:aws:secretsmanager:us-east-2:123456789012:secret:pixell/probe-token-AbCdEf",
    });
    const asked = new Set<string>();
    const recording = new Proxy(env as Record<string, string | undefined>, { get: (t, k) => { if (typeof k === "string") asked.add(k); return t[k as string]; } });
    const config = readProbeConfig(recording);
    assert.deepEqual([config.endpoint, config.tls, config.cloudMapServices, config.timeoutMs, config.concurrency, config.platformPercent, config.authTokenSecret],
      ["a2a-nlb.elb.us-east-2.amazonaws.com:50051", false, [{ service: "agents", serviceId: "srv-a" }, { service: "agents-1", serviceId: "srv-b" }], 2500, 16, 25, env[PROBE_ENV.authTokenSecret]]);
    // LOG_LEVEL is read by lib/log.ts when the logger is made, not by the config reader.
    const unread = Object.values(PROBE_ENV).filter((n) => n !== PROBE_ENV.logLevel && !asked.has(n));
    assert.deepEqual(unread, [], "names in PROBE_ENV that readProbeConfig never reads");
  });

  it("sets Envoy only variables its entrypoint reads, and the entrypoint reads each name in the contract", () => {
    const script = fs.readFileSync(path.join(__dirname, "..", "..", "envoy", "entrypoint.sh"), "utf8");
    for (const name of Object.values(ENVOY_ENV)) assert.ok(script.includes(`\${${name}`), `envoy/entrypoint.sh does not read ${name}`);
    const written = Object.keys(envOf(INPUTS, "envoy"));
    assert.deepEqual(written.filter((n) => !(Object.values(ENVOY_ENV) as string[]).includes(n)), []);
    assert.ok(written.includes(ENVOY_ENV.drainSeconds) && written.includes(ENVOY_ENV.bootstrapOverride));
  });

  it("sets PAR's registration variables from the stack's Cloud Map names", () => {
    const env = envOf(INPUTS, "par");
    assert.deepEqual(env, { [PAR_ENV.cloudMapNamespace]: "pixell-runtime.local", [PAR_ENV.cloudMapService]: "agents", [PAR_ENV.region]: "us-east-2" });
  });
});
