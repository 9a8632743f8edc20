/**
 * Envoy's overload protection (infra/envoy/overload.ts): limits sized from the task, the block the
 * entrypoint merges into the baked bootstrap, and the per-connection stream limit on the A2A listener.
 */
import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { fargateMemoryOptions } from "../../infra/config";
import { containerDefinitions, type ContainerInputs } from "../../infra/containers";
import { A2A_LISTENER, buildBootstrap, buildXdsSnapshot, DEFAULT_ENVOY_INPUT, ENVOY_MODES, READY_LISTENER } from "../../envoy/config";
import { BOOTSTRAP_TYPE } from "../../envoy/cli";
import {
  bootstrapOverride, buildOverloadManager, DOWNSTREAM_CONNECTIONS_MONITOR, ENVOY_NOFILE_LIMIT, FIXED_HEAP_MONITOR,
  MAX_ENVOY_HEAP_BYTES, MIN_ENVOY_HEAP_BYTES, overloadPlan, SHRINK_HEAP_ACTION, STOP_ACCEPTING_REQUESTS_ACTION,
} from "../../envoy/overload";
import type { Listener } from "../../envoy/types";
import { assertValidEnvoyConfig } from "../helpers/envoy-validate";

const MIB = 1024 * 1024;
const FARGATE_CPUS = [256, 512, 1024, 2048, 4096, 8192, 16384];

describe("envoy overload: limits from the task size", () => {
  it("gives the default 2 GiB task a 256 MiB heap budget and 3,072 connections", () => {
    assert.deepEqual(overloadPlan(2048), { maxHeapBytes: 256 * MIB, maxDownstreamConnections: 3072, shrinkHeapAt: 0.95, stopAcceptingRequestsAt: 0.98 });
  });

  it("keeps the heap budget in [128 MiB, 2 GiB] and the connection cap under half the nofile limit, for every Fargate size", () => {
    const sizes = [...new Set(FARGATE_CPUS.flatMap((cpu) => fargateMemoryOptions(cpu)))].sort((a, b) => a - b);
    assert.ok(sizes.includes(512) && sizes.includes(122880), "every Fargate memory size, smallest to largest");
    let previous = overloadPlan(sizes[0]!);
    for (const memory of sizes) {
      const plan = overloadPlan(memory);
      assert.ok(plan.maxHeapBytes >= MIN_ENVOY_HEAP_BYTES && plan.maxHeapBytes <= MAX_ENVOY_HEAP_BYTES, `${memory} MiB: heap ${plan.maxHeapBytes}`);
      // Envoy never takes more than a quarter of the task: PAR and the agents need the rest.
      assert.ok(plan.maxHeapBytes <= (memory * MIB) / 4, `${memory} MiB: heap ${plan.maxHeapBytes / MIB} MiB is over a quarter of the task`);
      assert.ok(plan.maxDownstreamConnections >= 1024 && plan.maxDownstreamConnections <= ENVOY_NOFILE_LIMIT / 2, `${memory} MiB: ${plan.maxDownstreamConnections} connections`);
      assert.ok(plan.maxHeapBytes >= previous.maxHeapBytes && plan.maxDownstreamConnections >= previous.maxDownstreamConnections, "a larger task never gets less");
      previous = plan;
    }
    assert.equal(overloadPlan(512).maxHeapBytes, 128 * MIB);
    assert.equal(overloadPlan(122880).maxHeapBytes, 2048 * MIB);
  });

  it("refuses a memory size no Fargate task has", () => {
    assert.throws(() => overloadPlan(256), /task memory 256 MiB is not a Fargate task size/);
    assert.throws(() => overloadPlan(2048.5), /not a Fargate task size/);
  });
});

describe("envoy overload: the overload manager Envoy gets", () => {
  const plan = overloadPlan(4096);
  const manager = buildOverloadManager(plan);

  it("uses the resource monitors' and actions' registered names", () => {
    // Envoy's source registers the downstream connections monitor under this name
    // (source/extensions/resource_monitors/downstream_connections/config.h:
    // ProactiveFactoryBase("envoy.resource_monitors.global_downstream_max_connections")), the name its
    // start-up warning asks for; the proto's extension name (downstream_connections) is not it.
    assert.deepEqual(manager.resource_monitors.map((m) => m.name), [FIXED_HEAP_MONITOR, DOWNSTREAM_CONNECTIONS_MONITOR]);
    assert.equal(DOWNSTREAM_CONNECTIONS_MONITOR, "envoy.resource_monitors.global_downstream_max_connections");
    assert.equal(FIXED_HEAP_MONITOR, "envoy.resource_monitors.fixed_heap");
    // Envoy's overload manager docs list these actions; the edge guide's thresholds (0.95, 0.98).
    assert.deepEqual(manager.actions.map((a) => [a.name, a.triggers.map((t) => [t.name, t.threshold.value])]), [
      [SHRINK_HEAP_ACTION, [[FIXED_HEAP_MONITOR, 0.95]]],
      [STOP_ACCEPTING_REQUESTS_ACTION, [[FIXED_HEAP_MONITOR, 0.98]]],
    ]);
    assert.equal(SHRINK_HEAP_ACTION, "envoy.overload_actions.shrink_heap");
    assert.equal(STOP_ACCEPTING_REQUESTS_ACTION, "envoy.overload_actions.stop_accepting_requests");
    const limits = manager.resource_monitors.map((m) => m.typed_config);
    assert.equal(limits[0]!.max_heap_size_bytes, plan.maxHeapBytes);
    assert.equal(limits[1]!.max_active_downstream_connections, plan.maxDownstreamConnections);
  });

  for (const mode of ENVOY_MODES) {
    it(`merged into the baked ${mode} bootstrap (--config-yaml), parses strictly against Envoy's v3 protos`, () => {
      const baked = buildBootstrap({ ...DEFAULT_ENVOY_INPUT, mode });
      // A merge appends repeated fields: a baked overload_manager would give Envoy every monitor twice.
      assert.equal(baked.overload_manager, undefined);
      const override = JSON.parse(bootstrapOverride(plan)) as Record<string, unknown>;
      assert.deepEqual(Object.keys(override), ["overload_manager"]);
      assertValidEnvoyConfig(BOOTSTRAP_TYPE, { ...baked, ...override });
    });
  }

  it("the strict check catches a misspelt limit and a threshold above 1", () => {
    const bad = JSON.parse(bootstrapOverride(plan)) as { overload_manager: { resource_monitors: { typed_config: Record<string, unknown> }[]; actions: { triggers: { threshold: { value: number } }[] }[] } };
    bad.overload_manager.resource_monitors[1]!.typed_config = { ...bad.overload_manager.resource_monitors[1]!.typed_config, max_active_connections: 1 };
    bad.overload_manager.actions[0]!.triggers[0]!.threshold.value = 1.5;
    assert.throws(() => assertValidEnvoyConfig(BOOTSTRAP_TYPE, { ...buildBootstrap(), ...bad }), /unknown field "max_active_connections"[\s\S]*must be <= 1/);
  });

  it("the task definition hands Envoy the limits of the task's own memory", () => {
    const inputs: ContainerInputs = {
      region: "us-east-2", parImage: "par:1", routerImage: "router:1", envoyImage: "envoy:1",
      logGroups: { par: "/p", router: "/r", envoy: "/e" }, envoyMode: "router", routerDrainMs: 20000, logLevel: "info",
      cloudMapNamespace: "ns.local", cloudMapService: "agents", agentPortFirst: 50054, agentPortLast: 50153, memory: 2048,
    };
    const override = (memory: number): string | undefined =>
      containerDefinitions({ ...inputs, memory }).find((c) => c.name === "envoy")!.environment.find((e) => e.name === "ENVOY_BOOTSTRAP_OVERRIDE")?.value;
    assert.equal(override(2048), bootstrapOverride(overloadPlan(2048)));
    assert.equal(override(8192), bootstrapOverride(overloadPlan(8192)));
    assert.notEqual(override(2048), override(8192));
  });
});

describe("envoy overload: per-connection limits on the A2A listener", () => {
  const hcm = (l: Listener): Record<string, unknown> => l.filter_chains![0]!.filters[0]!.typed_config as Record<string, unknown>;
  const a2aListeners: [string, Listener][] = [
    ["mode router", buildBootstrap().static_resources.listeners.find((l) => l.name === A2A_LISTENER)!],
    ["mode xds", buildXdsSnapshot([]).listener.find((l) => l.name === A2A_LISTENER)!.resource as Listener],
  ];

  for (const [mode, listener] of a2aListeners) {
    it(`${mode}: HTTP/2 max_concurrent_streams is set (Envoy's default is 2^31-1), with the edge guide's window sizes`, () => {
      const h2 = hcm(listener).http2_protocol_options as Record<string, unknown>;
      assert.equal(h2.max_concurrent_streams, DEFAULT_ENVOY_INPUT.maxConcurrentStreams);
      assert.ok(DEFAULT_ENVOY_INPUT.maxConcurrentStreams >= 100 && DEFAULT_ENVOY_INPUT.maxConcurrentStreams <= 1024);
      assert.deepEqual([h2.initial_stream_window_size, h2.initial_connection_window_size], [65536, 1048576]);
      assert.notEqual(listener.ignore_global_conn_limit, true, "A2A connections count against the global limit");
      assertValidEnvoyConfig("envoy.config.listener.v3.Listener", listener);
    });
  }

  it("the readiness listener is outside the global connection limit, so a full task still answers the NLB's checks", () => {
    for (const mode of ENVOY_MODES) {
      const ready = buildBootstrap({ ...DEFAULT_ENVOY_INPUT, mode }).static_resources.listeners.find((l) => l.name === READY_LISTENER)!;
      assert.equal(ready.ignore_global_conn_limit, true);
    }
  });

  it("a gRPC caller past SETTINGS_MAX_CONCURRENT_STREAMS waits for a free stream instead of failing (grpc-js against a real server)", async function () {
    this.timeout(20000);
    // RFC 9113 section 5.1.2: an endpoint must not exceed the peer's limit; grpc-js holds the call
    // until a stream closes. The server advertises 2; ten slow calls all succeed, at most 2 at a time.
    const server = new grpc.Server({ "grpc.max_concurrent_streams": 2 });
    let active = 0;
    let peak = 0;
    const identity = (b: Buffer): Buffer => b;
    server.register("/test.Slow/Call", (_call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => {
      active++;
      peak = Math.max(peak, active);
      setTimeout(() => { active--; done(null, Buffer.from("ok")); }, 100);
    }, identity, identity, "unary");
    const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      const results = await Promise.all(Array.from({ length: 10 }, () => new Promise<string>((resolve) => {
        client.makeUnaryRequest("/test.Slow/Call", identity, identity, Buffer.from("x"), { deadline: Date.now() + 15000 }, (err, res) => resolve(err ? `error ${err.code}` : String(res)));
      })));
      assert.deepEqual(results, Array(10).fill("ok"));
      assert.equal(peak, 2);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});
