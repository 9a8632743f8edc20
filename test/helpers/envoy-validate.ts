/**
 * Strict validation of Envoy configs against the v3 protos `@grpc/grpc-js-xds` ships
 * (see envoy/proto.ts for exactly what is checked). For tests: one call per config.
 */
import { strict as assert } from "node:assert";
import { EnvoyConfigError, toProtoObject } from "../../envoy/proto";

/** Every problem Envoy's API finds in `json` read as message `typeName` (empty when it parses). */
export function envoyConfigProblems(typeName: string, json: unknown): string[] {
  try {
    toProtoObject(typeName, json);
    return [];
  } catch (err) {
    if (err instanceof EnvoyConfigError) return [...err.problems];
    throw err;
  }
}

/** Fails the test with every problem listed when `json` does not parse strictly as `typeName`. */
export function assertValidEnvoyConfig(typeName: string, json: unknown): void {
  const problems = envoyConfigProblems(typeName, json);
  assert.deepEqual(problems, [], `${typeName} does not parse:\n  ${problems.join("\n  ")}`);
}
