/**
 * The Lambda entry point (bundled by build.ts into dist/probe-lambda/index.js, handler
 * `index.handler`). Configuration and AWS clients are made once per container; each
 * invocation opens one gRPC channel to the endpoint, runs once and closes it.
 */
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import type { Context } from "aws-lambda";
import { createLogger } from "../router/log";
import { fetchBearerToken } from "./auth";
import { readProbeConfig } from "./config";
import { discoverFromCloudMap } from "./discover";
import { DEFAULT_RETRY, putBatches } from "./metrics";
import { createProbeClient } from "./probe";
import { runProbe, type ProbeSummary } from "./run";

const config = readProbeConfig(process.env);
const logger = createLogger("probe-lambda");
// DiscoverInstances goes to the `data-` prefixed host; an endpoint override (AWS_ENDPOINT_URL_SERVICEDISCOVERY,
// e.g. a VPC endpoint or a local fake) already names the full host, so the prefix is dropped then.
const endpointOverride = Boolean(process.env.AWS_ENDPOINT_URL_SERVICEDISCOVERY ?? process.env.AWS_ENDPOINT_URL);
const serviceDiscovery = new ServiceDiscoveryClient({ disableHostPrefix: endpointOverride });
// putBatches retries with its own deadline-aware backoff; SDK retries on top would multiply attempts.
const cloudWatch = new CloudWatchClient({ maxAttempts: 1 });
const secretsManager = config.authTokenSecret ? new SecretsManagerClient({}) : undefined;

/** Time kept for the last PutMetricData retries and the summary line after the metrics deadline. */
const FINAL_MARGIN_MS = 500;

export async function handler(_event: unknown, context: Pick<Context, "getRemainingTimeInMillis">): Promise<ProbeSummary> {
  const endsAt = Date.now() + context.getRemainingTimeInMillis();
  // Read per invocation, so a rotated token is used from the next minute on.
  const bearerToken = secretsManager && config.authTokenSecret ? await fetchBearerToken(secretsManager, config.authTokenSecret) : undefined;
  const client = createProbeClient(config.endpoint, { tls: config.tls, bearerToken });
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
