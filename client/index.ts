/**
 * The A2A client library: what PAC and other services import to call agents.
 *
 * - `A2AClient`: typed Health / Ping / DescribeCapabilities / Invoke and a generic `call`,
 *   by deployment id, internal path first (resolver) and the external endpoint as fallback.
 * - `A2AError`: a failed call, with its gRPC `code`, `codeName` and `details`.
 * - `checkHealth`: one Health call on a channel you own, as data.
 * - `CloudMapSource` (re-exported): a resolver backed by Cloud Map for the internal path.
 *
 * Also in this folder: `cli.ts` (the `npm run a2a` command: I/O and exit codes) and
 * `cli-args.ts` (its argument parsing and output formatting, pure), and `table.ts` (the column
 * layout `a2a check` and the probe share).
 */
export {
  A2AClient,
  A2AError,
  DEFAULT_A2A_ENDPOINT,
  DEFAULT_MAX_CHANNELS,
  DEFAULT_TIMEOUT_MS,
  DEPLOYMENT_ID_HEADER,
  methodPath,
  parseEndpoint,
  parseTlsSetting,
  type A2AClientOptions,
  type CallOptions,
  type DeploymentResolver,
  type HealthReport,
  type Route,
} from "./a2a-client";
export { checkHealth, STATUS_NAMES, type HealthCheckResult } from "../lib/health";
export { CloudMapSource, parseCloudMapSpec, type CloudMapSourceOptions } from "../registry/cloudmap";
export type { ActionResult, Capabilities, Pong } from "../proto";
