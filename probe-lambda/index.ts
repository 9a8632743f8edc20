/**
 * The probe: every registered deployment checked through the public A2A endpoint,
 * reported as CloudWatch metrics. Table of contents:
 *
 * - config.ts    readProbeConfig(env): the Lambda's environment, validated
 * - discover.ts  discoverFromCloudMap(sd, target), discoverFromFile(path): the deployment ids
 * - targets.ts   discoverTargets(elb, targetGroupArn): the tasks behind the endpoint (DescribeTargetHealth)
 * - probe.ts     createProbeClient(endpoint), connectChannel(client), probeAll(client, ids, opts),
 *                probeThroughTasks(tasks, ids, opts): Health calls, bounded and deadline-aware
 * - attribution.ts taskVerdicts, endpointVerdict, isPlatformIncident: who is to blame (pure)
 * - order.ts     probeOrder(ids, skipped, random): skipped first, the rest shuffled (pure)
 * - memory.ts    planSeries(prev, failing, ...): failure-only series and their recovery 0s (pure)
 * - auth.ts      fetchBearerToken(sm, secretId): the token for a router with authentication on
 * - metrics.ts   buildMetricBatches(input, now, ns), buildEmfLines(batches), putBatches(cw, batches, retry)
 * - run.ts       runProbe(opts) -> summary, formatProbeTable(summary): one run, for the Lambda, the CLI and `npm start`
 * - budget.ts    invocationBudget(now, remaining, reserve), deadlineSignal(at): each step's share of the Lambda's time
 * - aws-clients.ts createProbeAwsClients(opts): SDK clients with connect/request/idle timeouts
 * - invocation.ts runInvocation(opts): one Lambda invocation with its clients injected
 * - loop.ts      startProbeLoop(opts): the probe every 15 s with tables, for `npm start`
 * - handler.ts   handler(event, context): the Lambda entry point (bundled by build.ts), wires the above
 * - cli.ts       `npm run probe -- ...`
 * - build.ts     buildProbeBundle(outDir): the esbuild bundle the stack deploys
 */
export { readProbeConfig, PROBE_DEFAULTS, ProbeConfigError, type ProbeConfig } from "./config";
export { discoverFromCloudMap, discoverFromFile, DiscoveryError, type Discovery, type CloudMapTarget } from "./discover";
export { fetchBearerToken, tokenFromSecretString, ProbeTokenError } from "./auth";
export { createProbeClient, connectChannel, probeAll, probeThroughTasks, assignTasks, type ProbeClientOptions, type ProbeResult, type ProbeOptions, type ProbeOutcome, type DeploymentOutcome, type ChannelCheck } from "./probe";
export { discoverTargets, probeableTargets, targetsFromList, TargetDiscoveryError, type ProbeTarget, type TargetList } from "./targets";
export { taskVerdicts, endpointVerdict, isPlatformIncident, PLATFORM_MIN_UNHEALTHY, type TaskVerdict, type EndpointVerdict } from "./attribution";
export { probeOrder, shuffle } from "./order";
export { planSeries, EMPTY_MEMORY, type ProbeMemory } from "./memory";
export { buildMetricBatches, buildMetricData, buildEmfLines, putBatches, METRIC, DEFAULT_RETRY, type MetricBatch, type RetryPolicy, type PutResult } from "./metrics";
export { runProbe, formatProbeTable, RECOVERY_TAIL_RUNS, type ProbeSummary, type RunProbeOptions, type MetricSink, type MemoryCell } from "./run";
export { startProbeLoop, type ProbeLoop, type ProbeLoopOptions } from "./loop";
export { invocationBudget, deadlineSignal, withDeadline, DeadlineReached, FINAL_MARGIN_MS, type InvocationBudget } from "./budget";
export { createProbeAwsClients, boundedRequestHandler, AWS_HTTP_TIMEOUTS, CLOUDWATCH_HTTP_TIMEOUTS, type HttpTimeouts, type ProbeAwsClients } from "./aws-clients";
export { runInvocation, type InvocationOptions, type InvocationClients } from "./invocation";
