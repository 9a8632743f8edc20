/**
 * One Lambda invocation with its clients injected: token, discovery, probes and metrics, each
 * step held to its share of the Lambda's remaining time (budget.ts), so a hung AWS call ends
 * in a logged error and the metrics that can be sent are sent before the Lambda's limit.
 */
import type { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import { silentLogger, type Logger } from "../router/log";
import { fetchBearerToken } from "./auth";
import { invocationBudget, withDeadline } from "./budget";
import type { ProbeConfig } from "./config";
import { discoverFromCloudMap } from "./discover";
import { DEFAULT_RETRY, putBatches } from "./metrics";
import { createProbeClient } from "./probe";
import { runProbe, type ProbeSummary } from "./run";

export interface InvocationClients {
  readonly serviceDiscovery: ServiceDiscoveryClient;
  readonly cloudWatch: CloudWatchClient;
  /** Needed only with `config.authTokenSecret`. */
  readonly secretsManager?: SecretsManagerClient;
}

export interface InvocationOptions {
  readonly config: ProbeConfig;
  readonly clients: InvocationClients;
  /** The Lambda context's getRemainingTimeInMillis() at the start. */
  readonly remainingMs: number;
  readonly logger?: Logger;
}

export async function runInvocation(opts: InvocationOptions): Promise<ProbeSummary> {
  const { config, clients } = opts;
  const logger = opts.logger ?? silentLogger;
  const budget = invocationBudget(Date.now(), opts.remainingMs, config.reserveMs);

  // Read per invocation, so a rotated token is used from the next run on.
  let bearerToken: string | undefined;
  if (config.authTokenSecret) {
    const secretId = config.authTokenSecret;
    const sm = clients.secretsManager;
    if (!sm) throw new Error("runInvocation: PROBE_AUTH_TOKEN_SECRET is set but no Secrets Manager client was given");
    bearerToken = await withDeadline(budget.probesBy, (signal) => fetchBearerToken(sm, secretId, signal));
  }

  const client = createProbeClient(config.endpoint, { tls: config.tls, bearerToken });
  try {
    return await runProbe({
      discover: () => withDeadline(budget.probesBy, (signal) => discoverFromCloudMap(clients.serviceDiscovery,
        config.cloudMapServices.map((s) => ({ namespace: config.cloudMapNamespace, ...s })), logger, signal)),
      client,
      timeoutMs: config.timeoutMs,
      concurrency: config.concurrency,
      deadlineAt: budget.probesBy,
      metricsNamespace: config.metricsNamespace,
      sink: async (batches) => {
        await putBatches(clients.cloudWatch, batches, { ...DEFAULT_RETRY, deadlineAt: budget.metricsBy }, logger);
      },
      logger,
    });
  } finally {
    client.close();
  }
}
