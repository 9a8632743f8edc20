/**
 * The probe: every registered deployment checked through the public A2A endpoint,
 * reported as CloudWatch metrics. Table of contents:
 *
 * - config.ts    readProbeConfig(env): the Lambda's environment, validated
 * - discover.ts  discoverFromCloudMap(sd, target), discoverFromFile(path): the deployment ids
 * - probe.ts     createProbeClient(endpoint), probeAll(client, ids, opts): Health calls, bounded and deadline-aware
 * - auth.ts      fetchBearerToken(sm, secretId): the token for a router with authentication on
 * - metrics.ts   buildMetricBatches(input, now, ns), buildEmfLines(batches), putBatches(cw, batches, retry)
 * - run.ts       runProbe(opts) -> summary, formatProbeTable(summary): one run, for the Lambda, the CLI and `npm start`
 * - budget.ts    invocationBudget(now, remaining, reserve), deadlineSignal(at): each step's share of the Lambda's time
 * - aws-clients.ts createProbeAwsClients(opts): SDK clients with connect/request/idle timeouts
 * - invocation.ts runInvocation(opts): one Lambda invocation with its clients injected
 * - loop.ts      startProbeLoop(opts): the probe every 15 s with a table, for `npm start`
 * - handler.ts   handler(event, context): the Lambda entry point (bundled by build.ts), wires the above
 * - cli.ts       `npm run probe -- ...`
 * - build.ts     buildProbeBundle(outDir): the esbuild bundle the stack deploys
 */
export { readProbeConfig, PROBE_DEFAULTS, ProbeConfigError, type ProbeConfig } from "./config";
export { discoverFromCloudMap, discoverFromFile, DiscoveryError, type Discovery, type CloudMapTarget } from "./discover";
export { fetchBearerToken, tokenFromSecretString, ProbeTokenError } from "./auth";
export { createProbeClient, probeAll, type ProbeClientOptions, type ProbeResult, type ProbeOptions, type ProbeOutcome } from "./probe";
export { buildMetricBatches, buildMetricData, buildEmfLines, putBatches, METRIC, DEFAULT_RETRY, type MetricBatch, type RetryPolicy, type PutResult } from "./metrics";
export { runProbe, formatProbeTable, type ProbeSummary, type RunProbeOptions, type MetricSink } from "./run";
export { startProbeLoop, type ProbeLoop, type ProbeLoopOptions } from "./loop";
export { invocationBudget, deadlineSignal, withDeadline, DeadlineReached, FINAL_MARGIN_MS, type InvocationBudget } from "./budget";
export { createProbeAwsClients, boundedRequestHandler, AWS_HTTP_TIMEOUTS, CLOUDWATCH_HTTP_TIMEOUTS, type HttpTimeouts, type ProbeAwsClients } from "./aws-clients";
export { runInvocation, type InvocationOptions, type InvocationClients } from "./invocation";
