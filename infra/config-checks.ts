import { A2A_PORT, ENVOY_ADMIN_PORT, ENVOY_READY_PORT, PAR_REST_PORT, ROUTER_ADMIN_PORT, ROUTER_PORT, XDS_PORT } from "../lib/ports";
import { checkField, RESOURCE_RULES } from "./aws-rules/names";
import { alarmNames } from "./alarm-plan";

/**
 * Config checks that encode AWS's rules (each cites its source), called from parseStackConfig and
 * loadStackConfig so a value AWS would refuse at `pulumi up` fails `pulumi preview` instead.
 * Each returns what is wrong and what is accepted; the caller adds the key and the value.
 */

/** The AWS partition a region belongs to (ARNs carry it: arn:<partition>:...). */
export function partitionOf(region: string): string {
  if (region.startsWith("cn-")) return "aws-cn";
  if (region.startsWith("us-gov-")) return "aws-us-gov";
  if (region.startsWith("us-iso-")) return "aws-iso";
  if (region.startsWith("us-isob-")) return "aws-iso-b";
  return "aws";
}

/** Every fixed port a task listens on (lib/ports.ts): the agents' range must miss all of them. */
export const FIXED_TASK_PORTS: Readonly<Record<string, number>> = {
  A2A_PORT, ROUTER_PORT, ROUTER_ADMIN_PORT, XDS_PORT, ENVOY_ADMIN_PORT, ENVOY_READY_PORT, PAR_REST_PORT,
};

/**
 * The agents' port range, as ECS takes a containerPortRange
 * (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_PortMapping.html): "The first port
 * in the range must be less than last port in the range", valid values 1-65535, "A port can only be
 * included in one port mapping per container" and "You cannot specify overlapping port ranges"; in
 * awsvpc mode all containers share one network namespace, so the range must also miss the router's
 * and Envoy's ports.
 */
export function agentPortRangeProblem(first: number, last: number): string | undefined {
  if (!(first < last)) return `a port above agentPortFirst (${first}): ECS requires the first port of a containerPortRange to be less than the last`;
  const hits = Object.entries(FIXED_TASK_PORTS).filter(([, port]) => port >= first && port <= last).sort((a, b) => a[1] - b[1]);
  if (hits.length > 0) return `a range ${first}-${last} that misses the task's fixed ports; it contains ${hits.map(([n, p]) => `${p} (${n})`).join(", ")}`;
  return undefined;
}

const ACM_ARN = /^arn:(aws[a-z-]*):acm:([a-z0-9-]+):(\d{12}):certificate\/[A-Za-z0-9-]+$/;

/**
 * An ACM certificate for the NLB's TLS listener: ACM certificates are regional and a load balancer
 * uses one from its own region ("To use a certificate with Elastic Load Balancing ... in more than one
 * AWS region, you must request or import a certificate for each region",
 * https://docs.aws.amazon.com/acm/latest/userguide/acm-regions.html).
 */
export function certificateArnProblem(arn: string, region: string): string | undefined {
  const m = ACM_ARN.exec(arn);
  const partition = partitionOf(region);
  if (!m) return `an ACM certificate ARN, arn:${partition}:acm:${region}:<account>:certificate/<id>`;
  if (m[2] !== region) return `an ACM certificate in the stack's region ${region} (this one is in ${m[2]}): a load balancer uses certificates from its own region only; request or import the certificate in ${region}`;
  if (m[1] !== partition) return `an ARN of partition ${partition}, the partition of ${region} (this one says ${m[1]})`;
  return undefined;
}

// https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_iam-permissions.html#iam-resources:
// arn:${Partition}:secretsmanager:${Region}:${Account}:secret:${SecretId}, where the complete ARN ends
// in "-" and six random characters. Names: 1-512 of [A-Za-z0-9/_+=.@-] (API_CreateSecret.html).
const SECRET_ARN = /^arn:(aws[a-z-]*):secretsmanager:([a-z0-9-]+):(\d{12}):secret:([A-Za-z0-9/_+=.@-]{1,512})-[A-Za-z0-9]{6}$/;

/** A *SecretArn key: the complete ARN of a secret in the stack's region and partition. */
export function secretArnProblem(arn: string, region: string): string | undefined {
  const m = SECRET_ARN.exec(arn);
  const partition = partitionOf(region);
  if (!m) return `the complete ARN of a Secrets Manager secret, arn:${partition}:secretsmanager:${region}:<account>:secret:<name>-<6 characters> (\`aws secretsmanager describe-secret --secret-id NAME --query ARN\` prints it); IAM grants on exactly this ARN`;
  if (m[2] !== region) return `a secret in the stack's region ${region} (the router and the probe read it with a client of that region)`;
  if (m[1] !== partition) return `an ARN of partition ${partition}, the partition of ${region} (this one says ${m[1]})`;
  return undefined;
}

/**
 * The names the program builds from the Pulumi project and stack names, with the resource type whose
 * rule each must meet. Kept next to the check; test/process/infra-aws-rules.test.ts runs the program and fails
 * if a declared name that contains project and stack is not among these.
 */
export function derivedNames(project: string, stack: string, shards = 1): { type: string; field: string; value: string }[] {
  const prefix = `${project}-${stack}`;
  return [
    // Shards after the first get their own task definition family (infra/shards.ts).
    ...Array.from({ length: shards - 1 }, (_, k) => ({ type: "aws:ecs/taskDefinition:TaskDefinition", field: "family", value: `${prefix}-${k + 1}` })),
    { type: "aws:lambda/function:Function", field: "name", value: `${prefix}-probe` },
    { type: "aws:cloudwatch/logGroup:LogGroup", field: "name", value: `/aws/lambda/${prefix}-probe` },
    ...["par", "router", "envoy"].map((c) => ({ type: "aws:cloudwatch/logGroup:LogGroup", field: "name", value: `/ecs/${prefix}/${c}` })),
    { type: "aws:ecs/taskDefinition:TaskDefinition", field: "family", value: prefix },
    { type: "aws:cloudwatch/dashboard:Dashboard", field: "dashboardName", value: prefix },
    { type: "aws:secretsmanager/secret:Secret", field: "name", value: `${project}/${stack}/router-tokens` },
    { type: "aws:secretsmanager/secret:Secret", field: "name", value: `${project}/${stack}/probe-token` },
    ...alarmNames(project, stack).map((a) => a.composite
      ? { type: "aws:cloudwatch/compositeAlarm:CompositeAlarm", field: "alarmName", value: a.name }
      : { type: "aws:cloudwatch/metricAlarm:MetricAlarm", field: "name", value: a.name }),
  ];
}

/** Problems with the project/stack names as parts of AWS names (Pulumi allows '.' and 100 characters; Lambda does not). */
export function stackNameProblems(project: string, stack: string): string[] {
  const problems: string[] = [];
  for (const { type, field, value } of derivedNames(project, stack)) {
    const rule = RESOURCE_RULES[type]?.fields[field];
    if (rule === undefined) throw new Error(`no rule for ${type} ${field}`);
    for (const p of checkField(rule, `${type} ${field}`, value)) {
      problems.push(`the Pulumi project and stack names (${JSON.stringify(project)}, ${JSON.stringify(stack)}) make a name AWS refuses: ${p}. Use a shorter stack name of letters, digits, hyphens and underscores`);
    }
  }
  return problems;
}
