/**
 * A real AgentService implementation for the local mode and the tests.
 * Health answers ok with its deployment id; Invoke echoes its action and parameters.
 * Behaviour switches let tests model sick agents (unhealthy, hung) without mocks.
 */
import * as grpc from "@grpc/grpc-js";
import { agentServiceDefinition, type ActionRequest } from "../proto";

export interface DemoAgentOptions {
  /** The deployment id this agent serves; echoed in Health and Ping. */
  readonly deploymentId: string;
  /** Port to bind on 127.0.0.1 (0 picks a free one). */
  readonly port?: number;
  readonly host?: string;
  /** Health answers `ok: false` when true. */
  readonly unhealthy?: boolean;
  /** Every call is accepted and never answered (until the caller's deadline or cancel). */
  readonly hang?: boolean;
}

export interface DemoAgent {
  readonly deploymentId: string;
  readonly host: string;
  readonly port: number;
  /** Number of calls received, by method name. */
  readonly calls: Map<string, number>;
  /** Stops the server: graceful by default, `force` drops open calls (models a crash). */
  stop(force?: boolean): Promise<void>;
}

export async function startDemoAgent(opts: DemoAgentOptions): Promise<DemoAgent> {
  const host = opts.host ?? "127.0.0.1";
  const server = new grpc.Server();
  const calls = new Map<string, number>();
  const count = (method: string): void => { calls.set(method, (calls.get(method) ?? 0) + 1); };
  const now = (): string => String(Date.now());

  // A hung agent parks its callbacks; they are dropped when the server stops.
  const answer = <T>(method: string, cb: grpc.sendUnaryData<T>, value: () => T): void => {
    count(method);
    if (opts.hang) return;
    cb(null, value());
  };

  server.addService(agentServiceDefinition(), {
    Health: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) =>
      answer("Health", cb, () => ({
        ok: !opts.unhealthy,
        message: opts.unhealthy ? `deployment ${opts.deploymentId} is unhealthy` : `deployment ${opts.deploymentId} is healthy`,
        timestamp: now(),
      })),
    DescribeCapabilities: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) =>
      answer("DescribeCapabilities", cb, () => ({
        methods: ["Health", "DescribeCapabilities", "Invoke", "Ping"],
        metadata: { deploymentId: opts.deploymentId, kind: "demo" },
      })),
    Invoke: (call: grpc.ServerUnaryCall<ActionRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const started = Date.now();
      const req = call.request;
      answer("Invoke", cb, () => ({
        success: true,
        result: JSON.stringify({ deploymentId: opts.deploymentId, action: req.action, parameters: req.parameters }),
        error: "",
        requestId: req.requestId,
        durationMs: String(Date.now() - started),
      }));
    },
    Ping: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) =>
      answer("Ping", cb, () => ({ message: `pong from ${opts.deploymentId}`, timestamp: now() })),
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${opts.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound));
  });

  return {
    deploymentId: opts.deploymentId,
    host,
    port,
    calls,
    stop: (force = false) =>
      new Promise<void>((resolve) => {
        if (force) {
          server.forceShutdown();
          resolve();
        } else {
          server.tryShutdown(() => resolve());
        }
      }),
  };
}

// `tsx local/demo-agent.ts <deploymentId> [port]`: one agent in its own process (the local mode and fault tests use this).
if (require.main === module) {
  const [deploymentId, port] = process.argv.slice(2);
  if (!deploymentId) {
    process.stderr.write("usage: tsx local/demo-agent.ts <deploymentId> [port]\n");
    process.exit(2);
  }
  startDemoAgent({ deploymentId, port: port ? Number(port) : 0 }).then((agent) => {
    // The parent reads this one JSON line to learn the port.
    process.stdout.write(JSON.stringify({ deploymentId, host: agent.host, port: agent.port }) + "\n");
    const stop = (): void => { void agent.stop(true).then(() => process.exit(0)); };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  }, (err: unknown) => {
    process.stderr.write(`demo agent failed to start: ${String(err)}\n`);
    process.exit(1);
  });
}
