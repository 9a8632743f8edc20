/**
 * The Lambda entry point (bundled by build.ts into dist/probe-lambda/index.js, handler
 * `index.handler`). Configuration and AWS clients are made once per container; each
 * invocation opens one gRPC channel to the endpoint, runs once and closes it.
 */
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import type { Context } from "aws-lambda";
import { createLogger } from "../router/log";
import { readProbeConfig } from "./config";
import { discoverFromCloudMap } from "./discover";
import { DEFAULT_RETRY, putBatches } from "./metrics";
import { createProbeClient } from "./probe";
import { runProbe, type ProbeSummary } from "./run";

const config = readProbeConfig(process.env);
const logger = createLogger("probe-lambda");
const serviceDiscovery = new ServiceDiscoveryClient({});
// putBatches retries with its own deadline-aware backoff; SDK retries on top would multiply attempts.
const cloudWatch = new CloudWatchClient({ maxAttempts: 1 });

/** Time kept for the last PutMetricData retries and the summary line after the metrics deadline. */
const FINAL_MARGIN_MS = 500;

export async function handler(_event: unknown, context: Pick<Context, "getRemainingTimeInMillis">): Promise<ProbeSummary> {
  const endsAt = Date.now() + context.getRemainingTimeInMillis();
  const client = createProbeClient(config.endpoint, config.tls);
  try {
    return await runProbe({
      discover: () => discoverFromCloudMap(serviceDiscovery, {
        namespace: config.cloudMapNamespace,
        service: config.cloudMapService,
        serviceId: config.cloudMapServiceId,
      }, logger),
      client,
      timeoutMs: config.timeoutMs,
      concurrency: config.concurrency,
      deadlineAt: endsAt - config.reserveMs,
      metricsNamespace: config.metricsNamespace,
      sink: async (batches) => {
        await putBatches(cloudWatch, batches, { ...DEFAULT_RETRY, deadlineAt: endsAt - FINAL_MARGIN_MS }, logger);
      },
      logger,
    });
  } finally {
    client.close();
  }
}
