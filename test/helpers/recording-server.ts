/** A real AgentService that records what clients sent, for tests that assert on metadata. */
import * as grpc from "@grpc/grpc-js";
import { agentServiceDefinition } from "../../proto";

/** Records each call's x-deployment-id and authorization; answers NOT_FOUND for Ping. */
export async function startRecordingServer(credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure()): Promise<{ port: number; seen: string[]; auth: string[]; stop: () => void }> {
  const seen: string[] = [];
  const auth: string[] = [];
  const server = new grpc.Server();
  const record = (call: grpc.ServerUnaryCall<unknown, unknown>): void => {
    seen.push(String(call.metadata.get("x-deployment-id")[0] ?? ""));
    auth.push(String(call.metadata.get("authorization")[0] ?? "(none)"));
  };
  server.addService(agentServiceDefinition(), {
    Health: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => { record(call); cb(null, { ok: true, message: "recorded", timestamp: "1" }); },
    DescribeCapabilities: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => { record(call); cb(null, { methods: [], metadata: {} }); },
    Invoke: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => { record(call); cb(null, { success: true, result: "", error: "", requestId: "", durationMs: "0" }); },
    Ping: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      record(call);
      cb({ code: grpc.status.NOT_FOUND, details: "deployment nope is not registered" });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", credentials, (err, p) => (err ? reject(err) : resolve(p))));
  return { port, seen, auth, stop: () => server.forceShutdown() };
}

