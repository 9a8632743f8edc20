/**
 * AWS's limits on the names, descriptions and tags the stack sends, as data, and a pure checker.
 * Each rule cites the API reference page that states it. Mocks accept any string; AWS does not,
 * and a value it refuses stops `pulumi up` half-way: these rules let a test (and the stack's own
 * config validation, for names derived from the project and stack) refuse it first.
 */

export interface FieldRule {
  readonly max: number;
  readonly min?: number;
  /** The whole value must match. */
  readonly pattern?: RegExp;
  /** What the pattern allows, in words, for the error. */
  readonly allowed?: string;
  /** Extra refusals: [test that fails the value, why]. */
  readonly refuse?: readonly (readonly [RegExp, string])[];
  readonly source: string;
}

export interface ResourceRule {
  /** Input fields AWS constrains, by their Pulumi input name. */
  readonly fields: Readonly<Record<string, FieldRule>>;
  /** The field Pulumi fills from the logical name when the program leaves it unset. */
  readonly autoNamed?: string;
  /** Resource types that carry tags get the tag rules. */
  readonly tagged?: boolean;
}

/**
 * Pulumi's default auto-name is the logical name, a hyphen and 7 random hex characters
 * (https://www.pulumi.com/docs/iac/concepts/resources/names/#autonaming: "my-role" becomes
 * "my-role-d7c2fa0"). The checks use this stand-in suffix.
 */
export const AUTONAME_SUFFIX = "-0a1b2c3";

const EC2_TEXT = /^[a-zA-Z0-9 ._\-:/()#,@[\]+=&;{}!$*]*$/;
const EC2_TEXT_WORDS = "a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$*";
// Rule descriptions of a group-referencing rule (UserIdGroupPair) leave out '&': the stricter set for every rule.
const EC2_RULE_TEXT = /^[a-zA-Z0-9 ._\-:/()#,@[\]+=;{}!$*]*$/;
const ELB_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;
const IAM_NAME = /^[\w+=,.@-]+$/;
const ECS_NAME = /^[A-Za-z0-9_-]+$/;

const SRC = {
  ec2Group: "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html",
  ec2Rule: "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_UserIdGroupPair.html (and API_IpRange.html)",
  elbLb: "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateLoadBalancer.html",
  elbTg: "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html",
  iamRole: "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html",
  iamRolePolicy: "https://docs.aws.amazon.com/IAM/latest/APIReference/API_PutRolePolicy.html",
  lambda: "https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html",
  logs: "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html",
  sns: "https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html",
  alarm: "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html",
  compositeAlarm: "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutCompositeAlarm.html",
  dashboard: "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutDashboard.html",
  ecsCluster: "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateCluster.html",
  ecsService: "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html",
  ecsTask: "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html",
  ecsContainer: "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html",
  ecsPortMapping: "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_PortMapping.html",
  events: "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html",
  eventTarget: "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_Target.html",
  cloudMapNs: "https://docs.aws.amazon.com/cloud-map/latest/api/API_CreatePrivateDnsNamespace.html",
  cloudMapSvc: "https://docs.aws.amazon.com/cloud-map/latest/api/API_CreateService.html",
  secrets: "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html",
  ecr: "https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepository.html",
  ecrLifecycle: "https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_PutLifecyclePolicy.html",
  tags: "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Tag.html and https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html",
  lambdaPermission: "https://docs.aws.amazon.com/lambda/latest/api/API_AddPermission.html",
} as const;

const elbName = (source: string): FieldRule => ({
  max: 32, min: 1, pattern: ELB_NAME, allowed: "letters, digits and hyphens, not starting or ending with a hyphen",
  refuse: [[/^internal-/, 'must not begin with "internal-"']], source,
});
const ecsName = (source: string): FieldRule => ({ max: 255, min: 1, pattern: ECS_NAME, allowed: "letters, digits, underscores and hyphens", source });

/** Every resource type the stack declares, with the fields AWS constrains (an empty table: none). */
export const RESOURCE_RULES: Readonly<Record<string, ResourceRule>> = {
  "aws:ec2/securityGroup:SecurityGroup": {
    autoNamed: "name",
    tagged: true,
    fields: {
      name: { max: 255, min: 1, pattern: EC2_TEXT, allowed: EC2_TEXT_WORDS, refuse: [[/^sg-/, 'must not start with "sg-"']], source: SRC.ec2Group },
      description: { max: 255, min: 1, pattern: EC2_TEXT, allowed: EC2_TEXT_WORDS, source: SRC.ec2Group },
    },
  },
  "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": {
    tagged: true,
    fields: { description: { max: 255, pattern: EC2_RULE_TEXT, allowed: "a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=;{}!$*", source: SRC.ec2Rule } },
  },
  "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": {
    tagged: true,
    fields: { description: { max: 255, pattern: EC2_RULE_TEXT, allowed: "a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=;{}!$*", source: SRC.ec2Rule } },
  },
  "aws:lb/loadBalancer:LoadBalancer": { autoNamed: "name", tagged: true, fields: { name: elbName(SRC.elbLb) } },
  "aws:lb/targetGroup:TargetGroup": { autoNamed: "name", tagged: true, fields: { name: elbName(SRC.elbTg) } },
  "aws:lb/listener:Listener": { tagged: true, fields: {} },
  "aws:iam/role:Role": {
    autoNamed: "name",
    tagged: true,
    fields: {
      name: { max: 64, min: 1, pattern: IAM_NAME, allowed: "letters, digits and +=,.@_-", source: SRC.iamRole },
      // The provider appends a 26-character unique suffix to a prefix: 64 - 26 = 38.
      namePrefix: { max: 38, min: 1, pattern: IAM_NAME, allowed: "letters, digits and +=,.@_-", source: SRC.iamRole },
      description: { max: 1000, pattern: /^[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*$/, allowed: "printable Latin-1 characters", source: SRC.iamRole },
    },
  },
  "aws:iam/rolePolicy:RolePolicy": {
    autoNamed: "name",
    fields: { name: { max: 128, min: 1, pattern: IAM_NAME, allowed: "letters, digits and +=,.@_-", source: SRC.iamRolePolicy } },
  },
  "aws:iam/rolePolicyAttachment:RolePolicyAttachment": { fields: {} },
  "aws:lambda/function:Function": {
    autoNamed: "name",
    tagged: true,
    fields: {
      name: { max: 64, min: 1, pattern: /^[a-zA-Z0-9_-]+$/, allowed: "letters, digits, hyphens and underscores", source: SRC.lambda },
      description: { max: 256, source: SRC.lambda },
    },
  },
  "aws:lambda/permission:Permission": {
    fields: { statementId: { max: 100, min: 1, pattern: /^[a-zA-Z0-9_-]+$/, allowed: "letters, digits, hyphens and underscores", source: SRC.lambdaPermission } },
  },
  "aws:cloudwatch/logGroup:LogGroup": {
    autoNamed: "name",
    tagged: true,
    fields: { name: { max: 512, min: 1, pattern: /^[.\-_/#A-Za-z0-9]+$/, allowed: "letters, digits and ._-/#", source: SRC.logs } },
  },
  "aws:sns/topic:Topic": {
    autoNamed: "name",
    tagged: true,
    fields: { name: { max: 256, min: 1, pattern: /^[A-Za-z0-9_-]+$/, allowed: "letters, digits, hyphens and underscores", source: SRC.sns } },
  },
  "aws:sns/topicSubscription:TopicSubscription": { fields: {} },
  "aws:cloudwatch/metricAlarm:MetricAlarm": {
    autoNamed: "name",
    tagged: true,
    fields: {
      name: { max: 255, min: 1, source: SRC.alarm },
      alarmDescription: { max: 1024, source: SRC.alarm },
    },
  },
  "aws:cloudwatch/compositeAlarm:CompositeAlarm": {
    tagged: true,
    fields: {
      alarmName: { max: 255, min: 1, source: SRC.compositeAlarm },
      alarmDescription: { max: 1024, source: SRC.compositeAlarm },
      alarmRule: { max: 10240, min: 1, source: SRC.compositeAlarm },
    },
  },
  "aws:cloudwatch/dashboard:Dashboard": {
    fields: { dashboardName: { max: 255, min: 1, pattern: /^[A-Za-z0-9_-]+$/, allowed: "letters, digits, hyphens and underscores", source: SRC.dashboard } },
  },
  "aws:cloudwatch/eventRule:EventRule": {
    autoNamed: "name",
    tagged: true,
    fields: {
      name: { max: 64, min: 1, pattern: /^[.\-_A-Za-z0-9]+$/, allowed: "letters, digits and ._-", source: SRC.events },
      description: { max: 512, source: SRC.events },
      scheduleExpression: { max: 256, source: SRC.events },
    },
  },
  "aws:cloudwatch/eventTarget:EventTarget": {
    fields: { targetId: { max: 64, min: 1, pattern: /^[.\-_A-Za-z0-9]+$/, allowed: "letters, digits and ._-", source: SRC.eventTarget } },
  },
  "aws:ecs/cluster:Cluster": { autoNamed: "name", tagged: true, fields: { name: ecsName(SRC.ecsCluster) } },
  "aws:ecs/service:Service": { autoNamed: "name", tagged: true, fields: { name: ecsName(SRC.ecsService) } },
  "aws:ecs/taskDefinition:TaskDefinition": { tagged: true, fields: { family: ecsName(SRC.ecsTask) } },
  "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace": {
    tagged: true,
    fields: {
      name: { max: 253, min: 1, pattern: /^[!-~]{1,253}$/, allowed: "printable ASCII without spaces", source: SRC.cloudMapNs },
      description: { max: 1024, source: SRC.cloudMapNs },
    },
  },
  "aws:servicediscovery/service:Service": {
    tagged: true,
    fields: {
      name: {
        max: 127, min: 1,
        pattern: /^(?:[a-zA-Z0-9_][a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9_][a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9]))*$/,
        allowed: "DNS labels of letters, digits, underscores and hyphens", source: SRC.cloudMapSvc,
      },
      description: { max: 1024, source: SRC.cloudMapSvc },
    },
  },
  "aws:secretsmanager/secret:Secret": {
    autoNamed: "name",
    tagged: true,
    fields: {
      name: {
        // The guide's advice against names ending in "-" and six characters (partial-ARN lookups) is
        // not a refusal; the stack always uses complete ARNs (see docs/infra.md).
        max: 512, min: 1, pattern: /^[a-zA-Z0-9/_+=.@-]+$/, allowed: "letters, digits and /_+=.@-",
        source: SRC.secrets,
      },
      description: { max: 2048, source: SRC.secrets },
    },
  },
  "aws:secretsmanager/secretVersion:SecretVersion": { fields: {} },
  "aws:ecr/repository:Repository": {
    autoNamed: "name",
    tagged: true,
    fields: {
      name: { max: 256, min: 2, pattern: /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/, allowed: "lower-case path components of letters, digits and ._-", source: SRC.ecr },
    },
  },
  "aws:ecr/lifecyclePolicy:LifecyclePolicy": { fields: { policy: { max: 30720, min: 100, source: SRC.ecrLifecycle } } },
  "aws:ec2/vpc:Vpc": { tagged: true, fields: {} },
  "aws:ec2/subnet:Subnet": { tagged: true, fields: {} },
  "aws:ec2/internetGateway:InternetGateway": { tagged: true, fields: {} },
  "aws:ec2/routeTable:RouteTable": { tagged: true, fields: {} },
  "aws:ec2/routeTableAssociation:RouteTableAssociation": { fields: {} },
  "aws:ec2/route:Route": { fields: {} },
  "aws:ec2/eip:Eip": { tagged: true, fields: {} },
  "aws:ec2/natGateway:NatGateway": { tagged: true, fields: {} },
  "aws:ec2/vpcEndpoint:VpcEndpoint": { tagged: true, fields: {} },
  // Names the function by reference (the function's own rule checks its name); sends no name of its own.
  "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": { fields: {} },
  // awsx builds and pushes the image itself: it sends AWS no name of its own.
  "awsx:ecr:Image": { fields: {} },
};

/** Input names that, on a type without a rule, mean AWS constrains something we do not check. */
export const NAME_LIKE_FIELDS = ["name", "namePrefix", "description", "alarmDescription", "family", "dashboardName", "statementId", "targetId", "alarmName", "groupName"] as const;

/** Tag limits: keys 1-127 characters (EC2's limit, the lowest), values up to 256, no "aws:" prefix, 50 per resource. */
export const TAG_RULES = { keyMax: 127, valueMax: 256, perResource: 50, source: SRC.tags } as const;
const TAG_TEXT = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

export function checkField(rule: FieldRule, what: string, value: string): string[] {
  const problems: string[] = [];
  const say = (why: string): void => { problems.push(`${what} = ${JSON.stringify(value)}: ${why} (${rule.source})`); };
  if (value.length > rule.max) say(`${value.length} characters, at most ${rule.max} allowed`);
  if (rule.min !== undefined && value.length < rule.min) say(`at least ${rule.min} characters`);
  if (rule.pattern !== undefined && !rule.pattern.test(value)) say(`only ${rule.allowed ?? rule.pattern.source} allowed`);
  for (const [test, why] of rule.refuse ?? []) if (test.test(value)) say(why);
  return problems;
}

export function checkTags(what: string, tags: Readonly<Record<string, unknown>>): string[] {
  const problems: string[] = [];
  const entries = Object.entries(tags);
  if (entries.length > TAG_RULES.perResource) problems.push(`${what}: ${entries.length} tags, at most ${TAG_RULES.perResource} (${TAG_RULES.source})`);
  for (const [key, value] of entries) {
    const v = String(value);
    if (key.length < 1 || key.length > TAG_RULES.keyMax) problems.push(`${what}: tag key ${JSON.stringify(key)} must be 1-${TAG_RULES.keyMax} characters (${TAG_RULES.source})`);
    if (/^aws:/i.test(key)) problems.push(`${what}: tag key ${JSON.stringify(key)} must not begin with aws: (${TAG_RULES.source})`);
    if (v.length > TAG_RULES.valueMax) problems.push(`${what}: tag ${key} value is ${v.length} characters, at most ${TAG_RULES.valueMax} (${TAG_RULES.source})`);
    if (!TAG_TEXT.test(key) || !TAG_TEXT.test(v)) problems.push(`${what}: tag ${key}=${JSON.stringify(v)} has characters outside letters, digits, spaces and _.:/=+-@ (${TAG_RULES.source})`);
  }
  return problems;
}

/**
 * Check one declared resource's inputs against its type's rules. The name Pulumi auto-generates
 * for an unset auto-named field is checked with a 7-character suffix in place of the random one.
 * A type without a rule is reported, so a new resource type cannot slip past unchecked.
 */
export function checkResource(type: string, logicalName: string, inputs: Readonly<Record<string, unknown>>): string[] {
  const rule = RESOURCE_RULES[type];
  const what = (field: string): string => `${type} ${logicalName} ${field}`;
  if (rule === undefined) {
    const fields = NAME_LIKE_FIELDS.filter((f) => inputs[f] !== undefined);
    return [`${type} ${logicalName}: no AWS rule for this resource type${fields.length > 0 ? ` (it sets ${fields.join(", ")})` : ""}: add one to infra/aws-rules/names.ts`];
  }
  const problems: string[] = [];
  for (const [field, fieldRule] of Object.entries(rule.fields)) {
    const value = inputs[field];
    if (typeof value === "string") problems.push(...checkField(fieldRule, what(field), value));
    else if (value === undefined && field === rule.autoNamed && inputs.namePrefix === undefined) {
      problems.push(...checkField(fieldRule, `${what(field)} (auto-named)`, `${logicalName}${AUTONAME_SUFFIX}`));
    }
  }
  for (const f of NAME_LIKE_FIELDS) {
    if (inputs[f] !== undefined && rule.fields[f] === undefined && typeof inputs[f] === "string") {
      problems.push(`${what(f)}: set, but ${type} has no rule for it: add one to infra/aws-rules/names.ts`);
    }
  }
  if (inputs.tags !== undefined && inputs.tags !== null) {
    if (rule.tagged !== true) problems.push(`${what("tags")}: set, but ${type} is not marked as tagged in infra/aws-rules/names.ts`);
    problems.push(...checkTags(what("tags"), inputs.tags as Record<string, unknown>));
  }
  return problems;
}

interface ContainerJson {
  readonly name?: string;
  readonly portMappings?: readonly { readonly name?: string; readonly containerPort?: number; readonly containerPortRange?: string }[];
}

/**
 * The task definition's container definitions (a JSON string): container names, port mapping
 * names, and ports: one port in one mapping only, ranges first < last within 1-65535, no
 * overlaps across the task (awsvpc: every container shares the task's network namespace).
 */
export function checkContainerDefinitions(json: string): string[] {
  const problems: string[] = [];
  const containers = JSON.parse(json) as ContainerJson[];
  const taken: { from: number; to: number; where: string }[] = [];
  for (const c of containers) {
    problems.push(...checkField({ max: 255, min: 1, pattern: ECS_NAME, allowed: "letters, digits, underscores and hyphens", source: SRC.ecsContainer }, "container name", c.name ?? ""));
    for (const p of c.portMappings ?? []) {
      if (p.name !== undefined) {
        problems.push(...checkField({ max: 64, min: 1, pattern: /^[a-z0-9_][a-z0-9_-]*$/, allowed: "lower-case letters, digits, underscores and hyphens, not starting with a hyphen", source: SRC.ecsPortMapping }, `${c.name} port mapping name`, p.name));
      }
      let from: number;
      let to: number;
      if (p.containerPortRange !== undefined) {
        const m = /^(\d+)-(\d+)$/.exec(p.containerPortRange);
        if (!m) { problems.push(`${c.name} containerPortRange ${p.containerPortRange}: not first-last (${SRC.ecsPortMapping})`); continue; }
        [from, to] = [Number(m[1]), Number(m[2])];
        if (!(from < to)) problems.push(`${c.name} containerPortRange ${p.containerPortRange}: the first port must be less than the last (${SRC.ecsPortMapping})`);
      } else {
        from = to = p.containerPort ?? 0;
      }
      if (from < 1 || to > 65535) problems.push(`${c.name} ports ${from}-${to}: outside 1-65535 (${SRC.ecsPortMapping})`);
      const where = `${c.name}:${from === to ? from : `${from}-${to}`}`;
      for (const t of taken) if (from <= t.to && t.from <= to) problems.push(`${where} overlaps ${t.where}: a port can be in one mapping only and ranges must not overlap (${SRC.ecsPortMapping})`);
      taken.push({ from, to, where });
    }
  }
  return problems;
}
