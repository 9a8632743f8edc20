import { PROBE_ENV as E, type ProbeEnvName } from "../lib/env-contract";
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { ConfigError } from "./config";
import { assumeRolePolicy, probeRolePolicy } from "./iam";
import { longestGapSeconds, parseSchedule } from "./schedule";

/**
 * The synthetic probe: a Lambda (bundled from probe-lambda/) that lists every agent in Cloud Map
 * and the A2A target group's tasks, and calls Health with each deployment id through each task
 * (:50051, from inside the VPC) and, for a sample, through the public A2A endpoint, on a schedule.
 * It runs in the VPC's private subnets with its own security group (infra/reachability.ts).
 */

export const PROBE_RUNTIME = "nodejs22.x";
export const PROBE_HANDLER = "index.handler";

export interface ProbeEnvironmentInput {
  readonly endpoint: string;
  readonly tls: boolean;
  readonly cloudMapNamespace: string;
  /** The Cloud Map service, or every shard's, comma-separated (probe-lambda/config.ts reads the list). */
  readonly cloudMapService: string;
  /** Their service ids, comma-separated in the same order. */
  readonly cloudMapServiceId: string;
  readonly metricsNamespace: string;
  readonly timeoutMs: number;
  readonly concurrency: number;
  readonly logLevel: string;
  /** Secrets Manager secret (ARN) holding the probe's bearer token; unset when the router does not authenticate. */
  readonly authTokenSecret?: string;
  /** The A2A target group (ARN): its targets, the tasks, are probed directly from inside the VPC. */
  readonly targetGroupArn?: string;
  /** Share (%) of failing deployments that is a platform incident (alarmUnhealthyPercent: the probe and the fleet alarm agree). */
  readonly platformPercent: number;
}

/** The Lambda's environment (lib/env-contract.ts: the names probe-lambda/config.ts reads). */
export function probeEnvironment(input: ProbeEnvironmentInput): Partial<Record<ProbeEnvName, string>> {
  return {
    [E.endpoint]: input.endpoint,
    [E.tls]: String(input.tls),
    [E.cloudMapNamespace]: input.cloudMapNamespace,
    [E.cloudMapService]: input.cloudMapService,
    [E.cloudMapServiceId]: input.cloudMapServiceId,
    [E.metricsNamespace]: input.metricsNamespace,
    [E.timeoutMs]: String(input.timeoutMs),
    [E.concurrency]: String(input.concurrency),
    [E.logLevel]: input.logLevel,
    [E.platformPercent]: String(input.platformPercent),
    ...(input.targetGroupArn === undefined ? {} : { [E.targetGroupArn]: input.targetGroupArn }),
    ...(input.authTokenSecret === undefined ? {} : { [E.authTokenSecret]: input.authTokenSecret }),
  };
}

/**
 * Lambda's limits on an asynchronous invoke config (PutFunctionEventInvokeConfig,
 * https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionEventInvokeConfig.html):
 * MaximumEventAgeInSeconds 60-21600, MaximumRetryAttempts 0-2.
 */
export const EVENT_AGE_LIMITS = { min: 60, max: 21600 } as const;

/** How the scheduled invocations are delivered: no retries, no stale events, one run at a time. */
export interface ProbeInvokePlan {
  /** Seconds between scheduled runs. */
  readonly periodSeconds: number;
  /** A failed run is not retried: the next scheduled run replaces it (Lambda's default is 2 retries). */
  readonly maximumRetryAttempts: 0;
  /** An event that waited this long (throttled behind a running probe) is dropped, not run late. */
  readonly maximumEventAgeInSeconds: number;
  /** One run at a time: a second invocation is throttled and waits in Lambda's async queue. */
  readonly reservedConcurrentExecutions: 1;
}

const UNIT_SECONDS = { minute: 60, hour: 3600, day: 86400 } as const;

/**
 * The schedule's period as EventBridge reads it (infra/schedule.ts): exact for rate(); for cron() the
 * longest gap between runs (a cron with uneven gaps gets the looser bound; config validation has already
 * refused schedules the alarms cannot follow).
 */
function schedulePeriodSeconds(schedule: string): number {
  const parsed = parseSchedule(schedule);
  if (!parsed.ok) throw new Error(`pixell-a2a:probeSchedule = ${JSON.stringify(schedule)} is not valid: ${parsed.reason}`);
  return parsed.schedule.kind === "rate" ? parsed.schedule.value * UNIT_SECONDS[parsed.schedule.unit] : longestGapSeconds(parsed.schedule);
}

/**
 * The probe's invoke plan for a schedule and Lambda timeout. Refuses a timeout that is not below
 * the period: a run may take its whole timeout, and the next one would then start late or
 * be dropped every time. Throws ConfigError naming the keys.
 */
export function probeInvokePlan(schedule: string, lambdaTimeoutSeconds: number): ProbeInvokePlan {
  const periodSeconds = schedulePeriodSeconds(schedule);
  if (lambdaTimeoutSeconds >= periodSeconds) {
    throw new ConfigError([
      `pixell-a2a:probeLambdaTimeoutSeconds = "${lambdaTimeoutSeconds}" is not valid: expected less than the period of pixell-a2a:probeSchedule ${JSON.stringify(schedule)} (${periodSeconds} s), so one run ends before the next starts; lower probeLambdaTimeoutSeconds or lengthen probeSchedule`,
    ]);
  }
  return {
    periodSeconds,
    maximumRetryAttempts: 0,
    // At most one period: the event of the next run supersedes a waiting one.
    maximumEventAgeInSeconds: Math.min(EVENT_AGE_LIMITS.max, Math.max(EVENT_AGE_LIMITS.min, periodSeconds)),
    reservedConcurrentExecutions: 1,
  };
}

export interface ProbeArgs {
  /** The bundled Lambda code (an archive with index.js). */
  readonly code: pulumi.Input<pulumi.asset.Archive>;
  readonly endpoint: pulumi.Input<string>;
  readonly tls: boolean;
  readonly cloudMap: {
    readonly namespaceName: string;
    readonly serviceName: string;
    readonly serviceId: pulumi.Input<string>;
    readonly serviceArn: pulumi.Input<string>;
    readonly namespaceArn: pulumi.Input<string>;
    /** Every registry shard, shard 0 first; default: the one service above. The probe lists them all. */
    readonly shards?: readonly { readonly serviceName: string; readonly serviceId: pulumi.Input<string>; readonly serviceArn: pulumi.Input<string> }[];
  };
  readonly metricsNamespace: string;
  readonly schedule: string;
  readonly timeoutMs: number;
  readonly concurrency: number;
  readonly lambdaTimeoutSeconds: number;
  readonly memoryMb: number;
  readonly logLevel: string;
  readonly logRetentionDays: number;
  /** ARN of the secret with the probe's bearer token (callerAuth bearer or jwt): passed as PROBE_AUTH_TOKEN_SECRET, readable by the role. */
  readonly authTokenSecretArn?: pulumi.Input<string>;
  /** The A2A target group's ARN: the probe lists its targets and calls each task on :50051 (needs `vpc`). */
  readonly a2aTargetGroupArn?: pulumi.Input<string>;
  /** alarmUnhealthyPercent, passed as PROBE_PLATFORM_PERCENT. */
  readonly platformPercent: number;
  /** Set when the probe must run inside the VPC (internal NLB). */
  readonly vpc?: { readonly subnetIds: pulumi.Input<pulumi.Input<string>[]>; readonly securityGroupId: pulumi.Input<string> };
  readonly tags?: Record<string, string>;
}

export class Probe extends pulumi.ComponentResource {
  readonly function: aws.lambda.Function;
  readonly logGroup: aws.cloudwatch.LogGroup;
  readonly rule: aws.cloudwatch.EventRule;
  readonly invokeConfig: aws.lambda.FunctionEventInvokeConfig;

  constructor(name: string, args: ProbeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pixell:a2a:Probe", name, {}, opts);
    const parent = { parent: this };
    const invoke = probeInvokePlan(args.schedule, args.lambdaTimeoutSeconds);

    this.logGroup = new aws.cloudwatch.LogGroup(`${name}-logs`, {
      name: `/aws/lambda/${pulumi.getProject()}-${pulumi.getStack()}-probe`,
      retentionInDays: args.logRetentionDays,
      tags: args.tags,
    }, parent);

    const shards = args.cloudMap.shards ?? [{ serviceName: args.cloudMap.serviceName, serviceId: args.cloudMap.serviceId, serviceArn: args.cloudMap.serviceArn }];
    const shardArns = pulumi.all(shards.map((sh) => pulumi.output(sh.serviceArn)))
      .apply((arns) => shards.map((sh, i) => ({ serviceName: sh.serviceName, serviceArn: arns[i]! })));
    const shardIds = pulumi.all(shards.map((sh) => pulumi.output(sh.serviceId))).apply((ids) => ids.join(","));

    const role = new aws.iam.Role(`${name}-role`, {
      assumeRolePolicy: JSON.stringify(assumeRolePolicy("lambda.amazonaws.com")),
      tags: args.tags,
    }, parent);
    const policy = new aws.iam.RolePolicy(`${name}-policy`, {
      role: role.id,
      policy: pulumi.all([args.cloudMap.serviceArn, args.cloudMap.namespaceArn, this.logGroup.arn, args.authTokenSecretArn, shardArns]).apply(([serviceArn, namespaceArn, logGroupArn, authTokenSecretArn, discover]) =>
        JSON.stringify(probeRolePolicy({
          namespaceName: args.cloudMap.namespaceName,
          serviceName: args.cloudMap.serviceName,
          serviceArn,
          namespaceArn,
          discover,
          metricsNamespace: args.metricsNamespace,
          logGroupArn,
          inVpc: args.vpc !== undefined,
          describesTargets: args.a2aTargetGroupArn !== undefined,
          authTokenSecretArn,
        }))),
    }, parent);

    this.function = new aws.lambda.Function(`${name}-fn`, {
      name: `${pulumi.getProject()}-${pulumi.getStack()}-probe`,
      description: "Calls Health on every A2A deployment through each task and the public endpoint; publishes fleet metrics and failing series",
      runtime: PROBE_RUNTIME,
      handler: PROBE_HANDLER,
      architectures: ["arm64"], // plain JS bundle: Graviton is cheaper for the same work
      code: args.code,
      role: role.arn,
      memorySize: args.memoryMb,
      timeout: args.lambdaTimeoutSeconds,
      // Counts against the account's unreserved concurrency (docs/probe.md "Retries and overlap").
      reservedConcurrentExecutions: invoke.reservedConcurrentExecutions,
      environment: {
        variables: pulumi.all([args.endpoint, shardIds, args.authTokenSecretArn, args.a2aTargetGroupArn]).apply(([endpoint, cloudMapServiceId, authTokenSecret, targetGroupArn]) => probeEnvironment({
          endpoint,
          tls: args.tls,
          cloudMapNamespace: args.cloudMap.namespaceName,
          cloudMapService: shards.map((sh) => sh.serviceName).join(","),
          cloudMapServiceId,
          metricsNamespace: args.metricsNamespace,
          timeoutMs: args.timeoutMs,
          concurrency: args.concurrency,
          logLevel: args.logLevel,
          authTokenSecret,
          targetGroupArn,
          platformPercent: args.platformPercent,
        })),
      },
      loggingConfig: { logFormat: "Text", logGroup: this.logGroup.name },
      vpcConfig: args.vpc === undefined ? undefined : { subnetIds: args.vpc.subnetIds, securityGroupIds: [args.vpc.securityGroupId] },
      tags: args.tags,
    }, { parent: this, dependsOn: [policy, this.logGroup] });

    this.invokeConfig = new aws.lambda.FunctionEventInvokeConfig(`${name}-invoke-config`, {
      functionName: this.function.name,
      maximumRetryAttempts: invoke.maximumRetryAttempts,
      maximumEventAgeInSeconds: invoke.maximumEventAgeInSeconds,
    }, parent);

    this.rule = new aws.cloudwatch.EventRule(`${name}-schedule`, {
      description: "Runs the A2A probe",
      scheduleExpression: args.schedule,
      tags: args.tags,
    }, parent);
    new aws.cloudwatch.EventTarget(`${name}-target`, {
      rule: this.rule.name,
      arn: this.function.arn,
      // A late probe is worthless: the next scheduled run replaces a failed one.
      retryPolicy: { maximumRetryAttempts: 0, maximumEventAgeInSeconds: 60 },
    }, parent);
    new aws.lambda.Permission(`${name}-invoke`, {
      action: "lambda:InvokeFunction",
      function: this.function.name,
      principal: "events.amazonaws.com",
      sourceArn: this.rule.arn,
    }, parent);

    this.registerOutputs({ functionName: this.function.name });
  }
}
