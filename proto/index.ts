/**
 * The agents' wire contract (proto/agent.proto), loaded for code that must decode
 * messages: the demo agent, the probe, the A2A client. The router never loads it.
 */
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

export const AGENT_PROTO_PATH = path.join(__dirname, "agent.proto");
export const AGENT_SERVICE_NAME = "pixell.agent.AgentService";
export const HEALTH_METHOD_PATH = `/${AGENT_SERVICE_NAME}/Health`;

export interface HealthStatus { ok: boolean; message: string; timestamp: string }
export interface Capabilities { methods: string[]; metadata: Record<string, string> }
export interface ActionRequest { action: string; parameters: Record<string, string>; requestId: string }
export interface ActionResult { success: boolean; result: string; error: string; requestId: string; durationMs: string }
export interface Pong { message: string; timestamp: string }

// int64 as strings (no precision loss), defaults filled in so callers see every field.
const LOADER_OPTIONS: protoLoader.Options = { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true };

let cached: grpc.ServiceDefinition | undefined;

/** The AgentService definition (cached): for `server.addService` and `grpc.makeGenericClientConstructor`. */
export function agentServiceDefinition(): grpc.ServiceDefinition {
  if (!cached) {
    const pkgDef = protoLoader.loadSync(AGENT_PROTO_PATH, LOADER_OPTIONS);
    cached = pkgDef[AGENT_SERVICE_NAME] as grpc.ServiceDefinition;
  }
  return cached;
}
