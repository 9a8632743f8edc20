import { strict as assert } from "node:assert";
import { PROBE_DEFAULTS, ProbeConfigError, readProbeConfig } from "../../probe-lambda/config";

describe("probe config", () => {
  it("applies the documented defaults", () => {
    assert.deepEqual(readProbeConfig({ PROBE_ENDPOINT: "a2a.example.com:50051" }), {
      endpoint: "a2a.example.com:50051",
      tls: false,
      cloudMapNamespace: "pixell-runtime.local",
      cloudMapServices: [{ service: "agents" }],
      metricsNamespace: "Pixell/A2A",
      timeoutMs: 3000,
      concurrency: 64,
      reserveMs: PROBE_DEFAULTS.reserveMs,
      authTokenSecret: undefined,
      targetGroupArn: undefined,
      endpointSample: 3,
      platformPercent: 25,
    });
  });

  it("reads every key", () => {
    const c = readProbeConfig({
      PROBE_ENDPOINT: "[::1]:50051", PROBE_TLS: "true", CLOUDMAP_NAMESPACE: "ns.local", CLOUDMAP_SERVICE: "svc", CLOUDMAP_SERVICE_ID: "srv-123",
      METRICS_NAMESPACE: "Team/A2A", PROBE_TIMEOUT_MS: "1500", PROBE_CONCURRENCY: "8", PROBE_RESERVE_MS: "2000",
      PROBE_AUTH_TOKEN_SECRET: "arn:aws:secretsmanager:us-east-2:123456789012:secret:probe-token",
      PROBE_TARGET_GROUP_ARN: "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/a2a-a2a-1234567/0123456789abcdef",
      PROBE_ENDPOINT_SAMPLE: "5", PROBE_PLATFORM_PERCENT: "40",
    });
    assert.deepEqual(c, {
      endpoint: "[::1]:50051", tls: true, cloudMapNamespace: "ns.local", cloudMapServices: [{ service: "svc", serviceId: "srv-123" }], metricsNamespace: "Team/A2A", timeoutMs: 1500, concurrency: 8, reserveMs: 2000,
      authTokenSecret: "arn:aws:secretsmanager:us-east-2:123456789012:secret:probe-token",
      targetGroupArn: "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/a2a-a2a-1234567/0123456789abcdef", endpointSample: 5, platformPercent: 40,
    });
  });

  const rejects = (env: Record<string, string>, pattern: RegExp): void => {
    assert.throws(() => readProbeConfig({ PROBE_ENDPOINT: "h:50051", ...env }), (err: Error) => err instanceof ProbeConfigError && pattern.test(err.message));
  };

  it("reads every shard of a sharded registry, with their service ids in the same order", () => {
    const c = readProbeConfig({ PROBE_ENDPOINT: "h:50051", CLOUDMAP_SERVICE: "agents, agents-1,agents-2", CLOUDMAP_SERVICE_ID: "srv-a,srv-b,srv-c" });
    assert.deepEqual(c.cloudMapServices, [{ service: "agents", serviceId: "srv-a" }, { service: "agents-1", serviceId: "srv-b" }, { service: "agents-2", serviceId: "srv-c" }]);
    assert.deepEqual(readProbeConfig({ PROBE_ENDPOINT: "h:50051", CLOUDMAP_SERVICE: "agents,agents-1" }).cloudMapServices, [{ service: "agents" }, { service: "agents-1" }]);
    rejects({ CLOUDMAP_SERVICE: "agents,agents-1", CLOUDMAP_SERVICE_ID: "srv-a" }, /CLOUDMAP_SERVICE_ID="srv-a" is not accepted: expected one service id per CLOUDMAP_SERVICE entry \(2, same order\), or none/);
    rejects({ CLOUDMAP_SERVICE: "agents,,x" }, /CLOUDMAP_SERVICE="agents,,x" is not accepted: expected Cloud Map service names, comma-separated/);
    rejects({ CLOUDMAP_SERVICE: "agents,agents" }, /names a service twice/);
  });

  it("names the key, the value and what is accepted", () => {
    assert.throws(() => readProbeConfig({}), /PROBE_ENDPOINT is not set: set it to the host:port/);
    rejects({ PROBE_ENDPOINT: "nlb.example.com" }, /PROBE_ENDPOINT must be HOST:PORT.*got "nlb.example.com"/);
    rejects({ PROBE_ENDPOINT: "h:70000" }, /a port from 1 to 65535.*got "h:70000"/);
    rejects({ PROBE_TIMEOUT_MS: "3s" }, /PROBE_TIMEOUT_MS must be a whole number from 100 to 60000, got "3s"/);
    rejects({ PROBE_CONCURRENCY: "0" }, /PROBE_CONCURRENCY must be a whole number from 1 to 1024, got "0"/);
    rejects({ PROBE_TLS: "yes" }, /PROBE_TLS must be true, false, 1 or 0, got "yes"/);
    rejects({ METRICS_NAMESPACE: "AWS/Lambda" }, /METRICS_NAMESPACE="AWS\/Lambda" is not accepted/);
    rejects({ CLOUDMAP_SERVICE: " " }, /CLOUDMAP_SERVICE is set but empty/);
    rejects({ PROBE_TARGET_GROUP_ARN: "targetgroup/a2a/123" }, /PROBE_TARGET_GROUP_ARN="targetgroup\/a2a\/123" is not accepted: expected a target group ARN/);
    rejects({ PROBE_PLATFORM_PERCENT: "0" }, /PROBE_PLATFORM_PERCENT must be a whole number from 1 to 100, got "0"/);
  });
});
