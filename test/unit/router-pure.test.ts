import { strict as assert } from "node:assert";
import { parseRouterConfig, ConfigError } from "../../router/config";
import { parseRegistrySpec } from "../../registry/chain";
import { parseRegistryFile } from "../../registry/file";
import { ChangeListeners } from "../../registry/listeners";
import pino from "pino";
import { targetFromParHealth } from "../../registry/par";
import { encodeGrpcMessage, extractDeploymentId, parseGrpcTimeout, readHopCount } from "../../router/routing";

describe("router config", () => {
  it("uses the defaults, then environment variables, then flags", () => {
    const base = parseRouterConfig([], { ROUTER_REGISTRY: "file:/r.json" });
    assert.deepEqual(base.listen, { host: "0.0.0.0", port: 50052 });
    assert.deepEqual(base.admin, { host: "127.0.0.1", port: 9902 });
    assert.equal(base.drainMs, 20_000);
    assert.equal(base.maxHops, 3);
    assert.equal(base.xds, undefined);
    const env = parseRouterConfig([], { ROUTER_REGISTRY: "file:/r.json", ROUTER_LISTEN: "[::1]:6000", ROUTER_XDS: "127.0.0.1:18000" });
    assert.deepEqual(env.listen, { host: "::1", port: 6000 });
    assert.deepEqual(env.xds, { host: "127.0.0.1", port: 18000 });
    const flags = parseRouterConfig(["--listen", "127.0.0.1:7000", "--registry", "par:http://127.0.0.1:8080"], { ROUTER_LISTEN: "0.0.0.0:1" });
    assert.deepEqual(flags.listen, { host: "127.0.0.1", port: 7000 });
    assert.equal(flags.registry, "par:http://127.0.0.1:8080");
  });

  it("names the setting and what it accepts when a value is bad", () => {
    const bad: Array<[string[], RegExp]> = [
      [[], /--registry \(ROUTER_REGISTRY\) is required: file:PATH, par:URL or cloudmap:NAMESPACE\/SERVICE/],
      [["--registry", "redis:x"], /--registry \(ROUTER_REGISTRY\): registry entry "redis:x" is not understood/],
      [["--registry", "par:ftp://x"], /par: needs an http\(s\) URL/],
      [["--registry", "file:/r", "--listen", "50052"], /--listen \(ROUTER_LISTEN\) must be HOST:PORT/],
      [["--registry", "file:/r", "--drain-ms", "soon"], /--drain-ms \(ROUTER_DRAIN_MS\) must be a whole number from 0/],
      [["--registry", "file:/r", "--max-hops", "0"], /--max-hops \(ROUTER_MAX_HOPS\) must be a whole number from 1 to 16/],
      [["--registry", "file:/r", "--log-level", "loud"], /--log-level \(LOG_LEVEL\) must be one of trace, debug/],
      [["--registry", "file:/r", "--bogus", "1"], /Unknown option '--bogus'.*Flags: --listen/],
    ];
    for (const [argv, message] of bad) assert.throws(() => parseRouterConfig(argv, {}), (e: unknown) => e instanceof ConfigError && message.test(e.message), argv.join(" "));
  });
});

describe("registry parsing", () => {
  it("parses a registry spec of several sources in order", () => {
    assert.deepEqual(parseRegistrySpec("file:/etc/r.json, par:http://127.0.0.1:8080,cloudmap:pixell-runtime.local/agents"), [
      { kind: "file", path: "/etc/r.json" },
      { kind: "par", url: "http://127.0.0.1:8080" },
      { kind: "cloudmap", namespace: "pixell-runtime.local", service: "agents" },
    ]);
    assert.throws(() => parseRegistrySpec(" , "), /registry is empty/);
    assert.throws(() => parseRegistrySpec("cloudmap:only-namespace"), /cloudmap: needs NAMESPACE\/SERVICE/);
  });

  it("reads a registry file, defaulting host to 127.0.0.1, and names the first bad entry", () => {
    assert.deepEqual(parseRegistryFile('{"deployments":[{"id":"a","port":50054},{"id":"b","host":"10.0.0.7","port":50055}]}'), [
      { id: "a", host: "127.0.0.1", port: 50054 },
      { id: "b", host: "10.0.0.7", port: 50055 },
    ]);
    assert.throws(() => parseRegistryFile("{"), /not valid JSON/);
    assert.throws(() => parseRegistryFile("[]"), /"deployments" array/);
    assert.throws(() => parseRegistryFile('{"deployments":[{"id":"../x","port":1}]}'), /deployments\[0\]\.id must match/);
    assert.throws(() => parseRegistryFile('{"deployments":[{"id":"a","port":1},{"id":"a","port":2}]}'), /deployments\[1\]\.id "a" appears twice/);
    assert.throws(() => parseRegistryFile('{"deployments":[{"id":"a","port":70000}]}'), /deployments\[0\]\.port must be an integer from 1 to 65535/);
    assert.throws(() => parseRegistryFile('{"deployments":[{"id":"a","host":"http://x/","port":1}]}'), /deployments\[0\]\.host/);
  });

  it("takes the agent's a2a port from PAR's health answer", () => {
    assert.deepEqual(targetFromParHealth({ status: "running", healthy: true, ports: { a2a: 50054, rest: 8080 } }, "127.0.0.1"), { host: "127.0.0.1", port: 50054 });
    assert.equal(targetFromParHealth({ status: "running", ports: { rest: 8080 } }, "127.0.0.1"), undefined);
    assert.equal(targetFromParHealth({ ports: { a2a: "50054" } }, "127.0.0.1"), undefined);
    assert.equal(targetFromParHealth(null, "127.0.0.1"), undefined);
  });
});

describe("registry change listeners", () => {
  it("logs a listener that throws and still runs the others; unsubscribing stops the calls", () => {
    const lines: string[] = [];
    const logger = pino({ level: "error" }, { write: (l: string) => { lines.push(l); } });
    const listeners = new ChangeListeners();
    const calls: string[] = [];
    listeners.add(() => { throw new Error("rebuild failed"); });
    const off = listeners.add(() => calls.push("second"));
    listeners.notify(logger);
    assert.deepEqual(calls, ["second"]);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /"err":"rebuild failed".*registry change listener threw/);
    off();
    listeners.notify(logger);
    assert.deepEqual(calls, ["second"]);
    assert.equal(listeners.size, 1);
  });
});

describe("request parsing", () => {
  it("reads the deployment id with x-deployment-id first", () => {
    assert.deepEqual(extractDeploymentId({ "x-deployment-id": "a", "deployment-id": "b", deployment_id: "c" }), { id: "a" });
    assert.deepEqual(extractDeploymentId({ "deployment-id": "b", deployment_id: "c" }), { id: "b" });
    assert.deepEqual(extractDeploymentId({ deployment_id: "c" }), { id: "c" });
    const missing = extractDeploymentId({});
    assert.ok("error" in missing && missing.error.code === 3 && /x-deployment-id/.test(missing.error.message));
  });

  it("parses grpc-timeout in every unit and rejects malformed values", () => {
    assert.equal(parseGrpcTimeout("100m"), 100);
    assert.equal(parseGrpcTimeout("2S"), 2000);
    assert.equal(parseGrpcTimeout("1M"), 60_000);
    assert.equal(parseGrpcTimeout("1H"), 3_600_000);
    assert.equal(parseGrpcTimeout("5000u"), 5);
    assert.equal(parseGrpcTimeout("5000000n"), 5);
    for (const bad of ["", "10", "m", "123456789m", "1.5S", "-1S", "10s", "10 m"]) assert.equal(parseGrpcTimeout(bad), undefined, bad);
  });

  it("percent-encodes grpc-message as the spec asks", () => {
    assert.equal(encodeGrpcMessage("plain text ok"), "plain text ok");
    assert.equal(encodeGrpcMessage("50% off"), "50%25 off");
    assert.equal(encodeGrpcMessage("ünmet\n"), "%C3%BCnmet%0A");
    assert.equal(decodeURIComponent(encodeGrpcMessage("ünmet 100%")), "ünmet 100%");
  });

  it("reads the hop count, treating garbage as zero", () => {
    assert.equal(readHopCount({ "x-pixell-hops": "2" }), 2);
    assert.equal(readHopCount({}), 0);
    assert.equal(readHopCount({ "x-pixell-hops": "-5" }), 0);
    assert.equal(readHopCount({ "x-pixell-hops": "many" }), 0);
  });
});
