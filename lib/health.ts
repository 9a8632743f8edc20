/**
 * One `AgentService/Health` call, with its outcome as data. The probe Lambda, the
 * router's `/deployments/{id}/health` and the command-line tool all ask this way.
 */
import * as grpc from "@grpc/grpc-js";
import { agentServiceDefinition, HEALTH_METHOD_PATH, type HealthStatus } from "../proto";

export interface HealthCheckResult {
  readonly deploymentId: string;
  /** True only when the call returned OK and `HealthStatus.ok` is true. */
  readonly ok: boolean;
  /** gRPC status code of the call (0 when it returned, even if `ok` is false). */
  readonly code: number;
  /** Name of `code`, e.g. `NOT_FOUND`. */
  readonly codeName: string;
  /** The agent's message, or the gRPC error's details. */
  readonly message: string;
  readonly latencyMs: number;
}

export const STATUS_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(grpc.status).filter(([, v]) => typeof v === "number").map(([k, v]) => [v, k]),
);

/** Calls Health on `deploymentId` through `client`'s channel. Never rejects: failures are results. */
export function checkHealth(client: grpc.Client, deploymentId: string, timeoutMs: number): Promise<HealthCheckResult> {
  const method = agentServiceDefinition().Health!;
  const metadata = new grpc.Metadata();
  metadata.set("x-deployment-id", deploymentId);
  const started = performance.now();
  return new Promise((resolve) => {
    client.makeUnaryRequest<unknown, HealthStatus>(
      HEALTH_METHOD_PATH,
      method.requestSerialize as (v: unknown) => Buffer,
      method.responseDeserialize as (b: Buffer) => HealthStatus,
      {},
      metadata,
      { deadline: Date.now() + timeoutMs },
      (err, res) => {
        const latencyMs = Math.round((performance.now() - started) * 1000) / 1000;
        if (err || !res) {
          const code = err?.code ?? grpc.status.UNKNOWN;
          resolve({ deploymentId, ok: false, code, codeName: STATUS_NAMES[code] ?? String(code), message: err?.details ?? "no response", latencyMs });
        } else {
          resolve({ deploymentId, ok: res.ok === true, code: 0, codeName: "OK", message: res.message, latencyMs });
        }
      },
    );
  });
}
