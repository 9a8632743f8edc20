/**
 * One Lambda invocation with its clients injected: token, discovery, probes and metrics, each
 * step held to its share of the Lambda's remaining time (budget.ts), so a hung AWS call ends
 * in a logged error and the metrics that can be sent are sent before the Lambda's limit.
 */
import type { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import type { ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import { silentLogger, type Logger } from "../lib/log";
import { fetchBearerToken } from "./auth";
import { invocationBudget, withDeadline } from "./budget";
import { PROBE_DEFAULTS, type ProbeConfig } from "./config";
import { discoverFromCloudMap } from "./discover";
import { DEFAULT_RETRY, putBatches } from "./metrics";
import { createProbeClient } from "./probe";
import { runProbe, type MemoryCell, type ProbeSummary } from "./run";
import { discoverTargets } from "./targets";

export interface InvocationClients {
  readonly serviceDiscovery: ServiceDiscoveryClient;
  readonly cloudWatch: CloudWatchClient;
  /** Needed only with `config.authTokenSecret`. */
  readonly secretsManager?: SecretsManagerClient;
  /** Needed only with `config.targetGroupArn`. */
  readonly elasticLoadBalancing?: ElasticLoadBalancingV2Client;
}

export interface InvocationOptions {
  readonly config: ProbeConfig;
  readonly clients: InvocationClients;
  /** The Lambda context's getRemainingTimeInMillis() at the start. */
  readonly remainingMs: number;
  readonly logger?: Logger;
  /** Kept by the handler across invocations of a warm container (order and recovery series). */
  readonly memory?: MemoryCell;
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
  const elb = clients.elasticLoadBalancing;
  const targetGroupArn = config.targetGroupArn;
  if (targetGroupArn !== undefined && !elb) throw new Error("runInvocation: PROBE_TARGET_GROUP_ARN is set but no Elastic Load Balancing client was given");
  try {
    return await runProbe({
      discover: () => withDeadline(budget.probesBy, (signal) => discoverFromCloudMap(clients.serviceDiscovery, {
        namespace: config.cloudMapNamespace,
        service: config.cloudMapService,
        serviceId: config.cloudMapServiceId,
      }, logger, signal)),
      client,
      // The tasks: plaintext on the target port (the NLB terminates TLS), the same bearer token.
      ...(targetGroupArn === undefined ? {} : {
        discoverTargets: () => withDeadline(budget.probesBy, (signal) => discoverTargets(elb!, targetGroupArn, PROBE_DEFAULTS.taskPort, signal)),
        taskClient: (t) => createProbeClient(`${t.host.includes(":") ? `[${t.host}]` : t.host}:${t.port}`, { bearerToken }),
      }),
      endpointSample: config.endpointSample,
      platformPercent: config.platformPercent,
      ...(opts.memory ? { memory: opts.memory } : {}),
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
