/**
 * The stack's security review as pure functions: each takes the stack's resources
 * (type, name, URN, inputs and, under a real preview, which resources each input
 * came from) and returns its violations. `index.ts` wraps them in a CrossGuard
 * PolicyPack; the tests call them on resources recorded under Pulumi mocks.
 */
import { AGENT_PORT_FIRST, AGENT_PORT_LAST, A2A_PORT, ROUTER_ADMIN_PORT, ROUTER_PORT, XDS_PORT } from "../../lib/ports";
import { admitsEveryone } from "../reachability";

/** What a policy needs to know about one resource. */
export interface StackResource {
  readonly type: string;
  readonly name: string;
  readonly urn: string;
  /** Inputs; values unknown during a preview are undefined. */
  readonly props: Readonly<Record<string, unknown>>;
  /** For each input, the URNs of the resources it was computed from (empty under mocks). */
  readonly propertyDependencies?: Readonly<Record<string, readonly string[]>>;
}

export interface Violation {
  readonly urn: string;
  readonly message: string;
}

// ---------------------------------------------------------------------------
// Security groups: task-internal ports open only to the tasks' own group.
// ---------------------------------------------------------------------------

export interface PortRange {
  readonly from: number;
  readonly to: number;
  readonly what: string;
}

/** Ports only tasks may reach: Envoy and PAR in the same group call them, nobody else. */
export const TASK_INTERNAL_PORTS: readonly PortRange[] = [
  { from: ROUTER_PORT, to: ROUTER_PORT, what: `router gRPC ${ROUTER_PORT}` },
  { from: ROUTER_ADMIN_PORT, to: ROUTER_ADMIN_PORT, what: `router admin ${ROUTER_ADMIN_PORT}` },
  { from: XDS_PORT, to: XDS_PORT, what: `xDS ${XDS_PORT}` },
  { from: AGENT_PORT_FIRST, to: AGENT_PORT_LAST, what: `agent ports ${AGENT_PORT_FIRST}-${AGENT_PORT_LAST}` },
];

const SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup";
const VPC_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule";
const EC2_SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule";

/** The internal ports a rule's protocol and port range cover (TCP or all protocols; UDP/ICMP cannot reach gRPC). */
export function internalPortsOpened(protocol: unknown, fromPort: unknown, toPort: unknown, ports: readonly PortRange[] = TASK_INTERNAL_PORTS): PortRange[] {
  const proto = String(protocol ?? "").toLowerCase();
  if (proto === "-1" || proto === "all") return [...ports];
  if (proto !== "tcp" && proto !== "6") return [];
  const from = Number(fromPort);
  const to = Number(toPort ?? fromPort);
  if (!Number.isFinite(from) || !Number.isFinite(to)) return [...ports]; // unknown range: assume the worst
  return ports.filter((p) => from <= p.to && to >= p.from);
}

const nonEmpty = (v: unknown): boolean => (Array.isArray(v) ? v.length > 0 : v !== undefined && v !== null && v !== "");

/** True when two inputs are the same group: equal known ids, or computed from the same resource. */
function sameGroup(r: StackResource, a: string, b: string): boolean {
  const va = r.props[a];
  const vb = r.props[b];
  if (typeof va === "string" && va !== "" && va === vb) return true;
  const da = r.propertyDependencies?.[a] ?? [];
  const db = r.propertyDependencies?.[b] ?? [];
  return va === undefined && vb === undefined && da.length === 1 && db.length === 1 && da[0] === db[0];
}

function describePeer(props: Readonly<Record<string, unknown>>, keys: readonly string[]): string {
  for (const k of keys) {
    const v = props[k];
    if (nonEmpty(v)) return `${k}=${Array.isArray(v) ? v.join(",") : String(v)}`;
  }
  return "an unknown source";
}

export function securityGroupViolations(resources: readonly StackResource[], ports: readonly PortRange[] = TASK_INTERNAL_PORTS): Violation[] {
  const out: Violation[] = [];
  const report = (r: StackResource, opened: PortRange[], source: string): void => {
    out.push({
      urn: r.urn,
      message: `${r.name} opens ${opened.map((p) => p.what).join(", ")} to ${source}: these ports are task-internal; allow only the tasks' own security group (self)`,
    });
  };
  for (const r of resources) {
    if (r.type === SECURITY_GROUP) {
      const ingress = Array.isArray(r.props.ingress) ? (r.props.ingress as Record<string, unknown>[]) : [];
      for (const rule of ingress) {
        const opened = internalPortsOpened(rule.protocol, rule.fromPort, rule.toPort, ports);
        const peerKeys = ["cidrBlocks", "ipv6CidrBlocks", "prefixListIds", "securityGroups"];
        // Inline rules can name their own group only through `self`; any other source is foreign.
        if (opened.length > 0 && peerKeys.some((k) => nonEmpty(rule[k]))) report(r, opened, describePeer(rule, peerKeys));
      }
    } else if (r.type === VPC_INGRESS_RULE) {
      const opened = internalPortsOpened(r.props.ipProtocol, r.props.fromPort, r.props.toPort, ports);
      if (opened.length > 0 && !sameGroup(r, "securityGroupId", "referencedSecurityGroupId")) {
        report(r, opened, describePeer(r.props, ["cidrIpv4", "cidrIpv6", "prefixListId", "referencedSecurityGroupId"]));
      }
    } else if (r.type === EC2_SG_RULE && r.props.type === "ingress") {
      const opened = internalPortsOpened(r.props.protocol, r.props.fromPort, r.props.toPort, ports);
      if (opened.length > 0 && r.props.self !== true && !sameGroup(r, "securityGroupId", "sourceSecurityGroupId")) {
        report(r, opened, describePeer(r.props, ["cidrBlocks", "ipv6CidrBlocks", "prefixListIds", "sourceSecurityGroupId"]));
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// IAM: no wildcard actions; Resource "*" only for actions with no resource type.
// ---------------------------------------------------------------------------

export interface WildcardResourceRule {
  /** A condition key (lower case) that must scope the statement instead of a resource ARN. */
  readonly requiredConditionKey?: string;
  readonly why: string;
}

/**
 * Actions that accept only `Resource: "*"` (no resource type in the Service Authorization
 * Reference), keyed by lower-case action; a trailing `*` matches a prefix. Everything else
 * must name its resources.
 */
export const WILDCARD_RESOURCE_ACTIONS: Readonly<Record<string, WildcardResourceRule>> = {
  "cloudwatch:putmetricdata": { requiredConditionKey: "cloudwatch:namespace", why: "no resource type: scoped by the cloudwatch:namespace condition" },
  "servicediscovery:discoverinstances": { requiredConditionKey: "servicediscovery:namespacename", why: "no resource type: scoped by the servicediscovery:NamespaceName condition" },
  "servicediscovery:discoverinstancesrevision": { requiredConditionKey: "servicediscovery:namespacename", why: "no resource type: scoped by the servicediscovery:NamespaceName condition" },
  "servicediscovery:getoperation": { why: "operation ids have no ARN" },
  "servicediscovery:listnamespaces": { why: "list action without resource type" },
  "servicediscovery:listservices": { why: "list action without resource type" },
  "servicediscovery:listoperations": { why: "list action without resource type" },
  "ecr:getauthorizationtoken": { why: "account-wide token" },
  "cloudwatch:getmetricdata": { why: "no resource type" },
  "cloudwatch:listmetrics": { why: "no resource type" },
  "cloudwatch:getmetricstatistics": { why: "no resource type" },
  "xray:puttracesegments": { why: "no resource type" },
  "xray:puttelemetryrecords": { why: "no resource type" },
  "xray:getsamplingrules": { why: "no resource type" },
  "xray:getsamplingtargets": { why: "no resource type" },
  "ssmmessages:createcontrolchannel": { why: "ECS Exec" },
  "ssmmessages:createdatachannel": { why: "ECS Exec" },
  "ssmmessages:opencontrolchannel": { why: "ECS Exec" },
  "ssmmessages:opendatachannel": { why: "ECS Exec" },
  "sts:getcalleridentity": { why: "no resource type" },
  "secretsmanager:getrandompassword": { why: "no resource type" },
  "secretsmanager:listsecrets": { why: "no resource type" },
  // A VPC Lambda's network interfaces are created by the service under unknown ids; AWS's own
  // AWSLambdaVPCAccessExecutionRole grants these on "*".
  "ec2:createnetworkinterface": { why: "Lambda VPC access (as AWSLambdaVPCAccessExecutionRole)" },
  "ec2:deletenetworkinterface": { why: "Lambda VPC access (as AWSLambdaVPCAccessExecutionRole)" },
  "ec2:assignprivateipaddresses": { why: "Lambda VPC access (as AWSLambdaVPCAccessExecutionRole)" },
  "ec2:unassignprivateipaddresses": { why: "Lambda VPC access (as AWSLambdaVPCAccessExecutionRole)" },
  "ec2:describe*": { why: "EC2 Describe actions have no resource type" },
  "elasticloadbalancing:describe*": { why: "ELB Describe actions have no resource type" },
};

interface Statement {
  readonly Sid?: string;
  readonly Effect?: string;
  readonly Action?: string | string[];
  readonly NotAction?: string | string[];
  readonly Resource?: string | string[];
  readonly NotResource?: string | string[];
  readonly Condition?: Record<string, Record<string, unknown>>;
}

const asList = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** True when `Resource: "*"` is acceptable for `action` in `statement` (listed, and scoped by its condition when it needs one). */
export function wildcardResourceAllowed(action: string, statement: Statement, table: Readonly<Record<string, WildcardResourceRule>> = WILDCARD_RESOURCE_ACTIONS): boolean {
  const a = action.toLowerCase();
  const rule = table[a] ?? Object.entries(table).find(([k]) => k.endsWith("*") && a.startsWith(k.slice(0, -1)))?.[1];
  if (rule === undefined) return false;
  if (rule.requiredConditionKey === undefined) return true;
  const keys = Object.values(statement.Condition ?? {}).flatMap((block) => Object.keys(block ?? {}).map((k) => k.toLowerCase()));
  return keys.includes(rule.requiredConditionKey);
}

/** Violations of one policy document (a JSON string or an object). `where` names it in messages. */
export function policyDocumentViolations(document: unknown, where: string, table: Readonly<Record<string, WildcardResourceRule>> = WILDCARD_RESOURCE_ACTIONS): string[] {
  let doc: unknown = document;
  if (typeof doc === "string") {
    try {
      doc = JSON.parse(doc);
    } catch {
      return [`${where}: policy is not valid JSON`];
    }
  }
  if (typeof doc !== "object" || doc === null) return [];
  const raw = (doc as { Statement?: unknown }).Statement;
  const statements = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]) as Statement[];
  const problems: string[] = [];
  statements.forEach((s, i) => {
    if (s.Effect !== "Allow") return; // Deny statements may be as broad as they like
    const label = `${where} statement ${s.Sid ? `"${s.Sid}"` : `#${i}`}`;
    if (s.NotAction !== undefined) problems.push(`${label} allows NotAction (everything except a list): list the actions it needs`);
    if (s.NotResource !== undefined) problems.push(`${label} allows NotResource (everything except a list): list the resources it needs`);
    const actions = asList(s.Action);
    const wild = actions.filter((a) => a === "*" || /^[A-Za-z0-9-]+:\*$/.test(a));
    if (wild.length > 0) problems.push(`${label} has wildcard action ${wild.map((a) => `"${a}"`).join(", ")}: list the actions it needs`);
    if (asList(s.Resource).includes("*")) {
      const unscoped = actions.filter((a) => !wild.includes(a) && !wildcardResourceAllowed(a, s, table));
      if (unscoped.length > 0) {
        problems.push(`${label} grants ${unscoped.map((a) => `"${a}"`).join(", ")} on Resource "*": name the resource ARNs (or, where the action has no resource type, add the condition that scopes it, e.g. cloudwatch:namespace for PutMetricData)`);
      }
    }
  });
  return problems;
}

const POLICY_DOCUMENT_TYPES = new Set([
  "aws:iam/policy:Policy",
  "aws:iam/rolePolicy:RolePolicy",
  "aws:iam/userPolicy:UserPolicy",
  "aws:iam/groupPolicy:GroupPolicy",
]);

export function iamViolations(resources: readonly StackResource[], table: Readonly<Record<string, WildcardResourceRule>> = WILDCARD_RESOURCE_ACTIONS): Violation[] {
  const out: Violation[] = [];
  for (const r of resources) {
    if (POLICY_DOCUMENT_TYPES.has(r.type)) {
      for (const message of policyDocumentViolations(r.props.policy, r.name, table)) out.push({ urn: r.urn, message });
    } else if (r.type === "aws:iam/role:Role" && Array.isArray(r.props.inlinePolicies)) {
      for (const inline of r.props.inlinePolicies as Array<{ name?: string; policy?: unknown }>) {
        for (const message of policyDocumentViolations(inline.policy, `${r.name} inline policy "${inline.name ?? "?"}"`, table)) out.push({ urn: r.urn, message });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Log groups keep logs for a bounded time.
// ---------------------------------------------------------------------------

export function logRetentionViolations(resources: readonly StackResource[]): Violation[] {
  return resources
    .filter((r) => r.type === "aws:cloudwatch/logGroup:LogGroup")
    .filter((r) => {
      const days = r.props.retentionInDays;
      // Unknown during a preview only when computed from another resource: not a missing setting.
      if (days === undefined && (r.propertyDependencies?.retentionInDays ?? []).length > 0) return false;
      return typeof days !== "number" || days <= 0;
    })
    .map((r) => ({ urn: r.urn, message: `log group ${r.name} has no retentionInDays: logs would be kept (and billed) forever; set e.g. retentionInDays: 30` }));
}

// ---------------------------------------------------------------------------
// TLS on the A2A listener when the stack requires it.
// ---------------------------------------------------------------------------

/**
 * Tag that says "this stack requires TLS": a Pulumi stack tag (`pulumi stack tag set`), or a
 * resource tag: the stack program puts it on every resource when its config says requireTls,
 * since a program cannot set its own stack tags.
 */
export const REQUIRE_TLS_TAG = "pixell:requireTls";

/** True when any resource carries the tag `pixell:requireTls=true` (in `tags`). */
export function resourcesRequireTls(resources: readonly StackResource[]): boolean {
  return resources.some((r) => {
    const tags = r.props.tags;
    return typeof tags === "object" && tags !== null && String((tags as Record<string, unknown>)[REQUIRE_TLS_TAG]).toLowerCase() === "true";
  });
}

const LISTENER_TYPES = new Set(["aws:lb/listener:Listener", "aws:alb/listener:Listener"]);
/** ELB security policies that still accept TLS 1.0/1.1. */
const LEGACY_TLS_POLICY = /^ELBSecurityPolicy-(2015-05|2016-08|TLS-1-0-|TLS-1-1-|FS-2018-06|FS-1-1-2019-08)/;

export function a2aTlsViolations(resources: readonly StackResource[], requireTls: boolean, a2aPort: number = A2A_PORT): Violation[] {
  const out: Violation[] = [];
  for (const r of resources) {
    if (!LISTENER_TYPES.has(r.type) || Number(r.props.port) !== a2aPort) continue;
    const protocol = String(r.props.protocol ?? "").toUpperCase();
    if (protocol === "TLS") {
      if (r.props.certificateArn === undefined && (r.propertyDependencies?.certificateArn ?? []).length === 0) {
        out.push({ urn: r.urn, message: `A2A listener ${r.name} is TLS but has no certificateArn: set the stack's tlsCertificateArn` });
      }
      if (typeof r.props.sslPolicy === "string" && LEGACY_TLS_POLICY.test(r.props.sslPolicy)) {
        out.push({ urn: r.urn, message: `A2A listener ${r.name} uses ${r.props.sslPolicy}, which accepts TLS 1.0/1.1: use ELBSecurityPolicy-TLS13-1-2-2021-06` });
      }
    } else if (requireTls) {
      out.push({ urn: r.urn, message: `A2A listener ${r.name} on ${a2aPort} is plain ${protocol || "TCP"} but this stack requires TLS: set tlsCertificateArn (an ACM certificate) so the listener terminates TLS` });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// No anonymous A2A endpoint on the internet unless the stack says so.
// ---------------------------------------------------------------------------

/** Tag on the ECS task definition naming the router's caller-auth mode (off, bearer, jwt). */
export const CALLER_AUTH_TAG = "pixell:callerAuth";
/** Put on every resource by the program when the stack sets allowAnonymousInternet (infra/exposure.ts). */
export const ALLOW_ANONYMOUS_INTERNET_TAG = "pixell:allowAnonymousInternet";

const LOAD_BALANCER_TYPES = new Set(["aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer"]);
const TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition";

/** True when any resource carries `pixell:allowAnonymousInternet=true`. */
export function resourcesAllowAnonymousInternet(resources: readonly StackResource[]): boolean {
  return resources.some((r) => {
    const tags = r.props.tags;
    return typeof tags === "object" && tags !== null && String((tags as Record<string, unknown>)[ALLOW_ANONYMOUS_INTERNET_TAG]).toLowerCase() === "true";
  });
}

/** The IPv4 sources ingress rules admit to `port` over TCP (IPv6 ::/0 counts as the whole IPv4 internet too). */
function sourcesAdmittedTo(resources: readonly StackResource[], port: number): string[] {
  const covers = (protocol: unknown, from: unknown, to: unknown): boolean => {
    const proto = String(protocol ?? "").toLowerCase();
    if (proto === "-1" || proto === "all") return true;
    if (proto !== "tcp" && proto !== "6") return false;
    const f = Number(from);
    const t = Number(to ?? from);
    return !Number.isFinite(f) || !Number.isFinite(t) || (f <= port && port <= t);
  };
  const cidrs: string[] = [];
  const add = (v4: unknown, v6: unknown): void => {
    for (const c of Array.isArray(v4) ? v4 : [v4]) if (typeof c === "string") cidrs.push(c);
    for (const c of Array.isArray(v6) ? v6 : [v6]) if (c === "::/0") cidrs.push("0.0.0.0/0");
  };
  for (const r of resources) {
    if (r.type === SECURITY_GROUP) {
      for (const rule of Array.isArray(r.props.ingress) ? (r.props.ingress as Record<string, unknown>[]) : []) {
        if (covers(rule.protocol, rule.fromPort, rule.toPort)) add(rule.cidrBlocks, rule.ipv6CidrBlocks);
      }
    } else if (r.type === VPC_INGRESS_RULE) {
      if (covers(r.props.ipProtocol, r.props.fromPort, r.props.toPort)) add(r.props.cidrIpv4, r.props.cidrIpv6);
    } else if (r.type === EC2_SG_RULE && r.props.type === "ingress") {
      if (covers(r.props.protocol, r.props.fromPort, r.props.toPort)) add(r.props.cidrBlocks, r.props.ipv6CidrBlocks);
    }
  }
  return cidrs;
}

/**
 * The caller-auth mode of a task definition: its router container's ROUTER_AUTH when
 * containerDefinitions is known (off when unset, the router's default), else its CALLER_AUTH_TAG,
 * else undefined.
 */
export function taskCallerAuth(r: StackResource): string | undefined {
  const defs = r.props.containerDefinitions;
  if (typeof defs === "string") {
    try {
      const parsed = JSON.parse(defs) as { name?: string; environment?: { name?: string; value?: string }[] }[];
      const router = parsed.find((c) => c.name === "router");
      if (router) return router.environment?.find((e) => e.name === "ROUTER_AUTH")?.value ?? "off";
    } catch {
      // Not JSON: fall back to the tag.
    }
  }
  const tags = r.props.tags;
  const tag = typeof tags === "object" && tags !== null ? (tags as Record<string, unknown>)[CALLER_AUTH_TAG] : undefined;
  return typeof tag === "string" ? tag : undefined;
}

/**
 * An internet-facing load balancer with a listener on the A2A port that every address may reach,
 * in a stack whose router does not authenticate callers (or whose mode cannot be told), is a
 * violation unless the stack opted in (`allowAnonymous`).
 */
export function anonymousInternetViolations(resources: readonly StackResource[], allowAnonymous: boolean, a2aPort: number = A2A_PORT): Violation[] {
  if (allowAnonymous) return [];
  const internetFacing = resources.filter((r) => LOAD_BALANCER_TYPES.has(r.type) && r.props.internal !== true);
  if (internetFacing.length === 0) return [];
  const a2aListeners = resources.filter((r) => LISTENER_TYPES.has(r.type) && Number(r.props.port) === a2aPort);
  if (a2aListeners.length === 0 || !admitsEveryone(sourcesAdmittedTo(resources, a2aPort))) return [];
  const modes = resources.filter((r) => r.type === TASK_DEFINITION).map(taskCallerAuth);
  if (modes.length > 0 && modes.every((m) => m === "bearer" || m === "jwt")) return [];
  const why = modes.length === 0 ? "no ECS task definition in the stack says the router authenticates callers"
    : modes.some((m) => m === undefined) ? `a task definition's caller authentication cannot be told (no ROUTER_AUTH in a known containerDefinitions, no ${CALLER_AUTH_TAG} tag)`
      : `the router's caller authentication is ${modes.find((m) => m !== "bearer" && m !== "jwt")}`;
  return a2aListeners.map((l) => ({
    urn: l.urn,
    message: `A2A listener ${l.name} on ${a2aPort} is on an internet-facing load balancer that admits every address, and ${why}: anyone could invoke any agent by its deployment id. Turn on callerAuth (bearer or jwt), narrow allowedCidrs, or make the NLB internal; to accept an anonymous endpoint, set the stack's allowAnonymousInternet: true (tag ${ALLOW_ANONYMOUS_INTERNET_TAG}=true) or this policy's config allowAnonymousInternet`,
  }));
}
