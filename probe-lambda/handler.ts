/**
 * The Lambda entry point (bundled by build.ts into dist/probe-lambda/index.js, handler
 * `index.handler`). Configuration and AWS clients are made once per container; each
 * invocation opens one gRPC channel to the endpoint, runs once and closes it (invocation.ts).
 */
import type { Context } from "aws-lambda";
import { createLogger } from "../lib/log";
import { createProbeAwsClients } from "./aws-clients";
import { readProbeConfig } from "./config";
import { runInvocation } from "./invocation";
import { EMPTY_MEMORY } from "./memory";
import type { MemoryCell, ProbeSummary } from "./run";

const config = readProbeConfig(process.env);
const logger = createLogger("probe-lambda");
// DiscoverInstances goes to the `data-` prefixed host; an endpoint override (AWS_ENDPOINT_URL_SERVICEDISCOVERY,
// e.g. a VPC endpoint or a local fake) already names the full host, so the prefix is dropped then.
const endpointOverride = Boolean(process.env.AWS_ENDPOINT_URL_SERVICEDISCOVERY ?? process.env.AWS_ENDPOINT_URL);
const clients = createProbeAwsClients({ disableHostPrefix: endpointOverride });
// What one invocation leaves the next in this container: skipped ids first, recovery 0s (memory.ts).
const memory: MemoryCell = { memory: EMPTY_MEMORY };

export async function handler(_event: unknown, context: Pick<Context, "getRemainingTimeInMillis"> & Partial<Pick<Context, "awsRequestId">>): Promise<ProbeSummary> {
  // Every line of this invocation carries its request id, as Lambda's own START/REPORT lines do.
  const log = context.awsRequestId === undefined ? logger : logger.child({ requestId: context.awsRequestId });
  return runInvocation({ config, clients, remainingMs: context.getRemainingTimeInMillis(), logger: log, memory });
}
