/** An AgentService on 127.0.0.1 that answers Health ok and keeps each call's metadata, for asserting what a client sent. */
import * as grpc from "@grpc/grpc-js";
import { agentServiceDefinition } from "../../proto";

export interface RecordingAgent {
  readonly port: number;
  /** The metadata of every Health call, in arrival order. */
  readonly seen: grpc.Metadata[];
  stop(): void;
}

export async function startRecordingAgent(): Promise<RecordingAgent> {
  const server = new grpc.Server();
  const seen: grpc.Metadata[] = [];
  const unimplemented = (_c: unknown, cb: grpc.sendUnaryData<unknown>): void => cb({ code: grpc.status.UNIMPLEMENTED });
  server.addService(agentServiceDefinition(), {
    Health: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      seen.push(call.metadata);
      cb(null, { ok: true, message: "recorded", timestamp: "0" });
    },
    DescribeCapabilities: unimplemented, Invoke: unimplemented, Ping: unimplemented,
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { port, seen, stop: () => server.forceShutdown() };
}

