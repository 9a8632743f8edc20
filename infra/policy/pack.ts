/**
 * The CrossGuard policies of the pixell-a2a security review, as `@pulumi/policy` Policy
 * objects over the pure checks in policies.ts. Kept apart from index.ts because
 * constructing a PolicyPack starts its gRPC server: tests import this file, the CLI runs index.ts.
 */
import type { PolicyResource, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import {
  ALLOW_ANONYMOUS_INTERNET_TAG,
  REQUIRE_TLS_TAG,
  WILDCARD_RESOURCE_ACTIONS,
  a2aTlsViolations,
  anonymousInternetViolations,
  resourcesAllowAnonymousInternet,
  iamViolations,
  logRetentionViolations,
  resourcesRequireTls,
  securityGroupViolations,
  type StackResource,
  type Violation,
  type WildcardResourceRule,
} from "./policies";

/** The CrossGuard view of a resource, reduced to what the checks read. */
export function toStackResource(r: PolicyResource): StackResource {
  const deps: Record<string, string[]> = {};
  for (const [key, list] of Object.entries(r.propertyDependencies ?? {})) deps[key] = list.map((d) => d.urn);
  return { type: r.type, name: r.name, urn: r.urn, props: r.props, propertyDependencies: deps };
}

/** Stack (or resource) tag that says the stack requires TLS when the policy config does not say. */
export { REQUIRE_TLS_TAG };

export interface TlsPolicyConfig {
  /** Fail when the A2A listener (50051) is not TLS. Default: the tag `pixell:requireTls` on the stack or on any resource, else false. */
  readonly requireTls?: boolean;
}

export interface AnonymousInternetPolicyConfig {
  /** Accept an anonymous internet endpoint. Default: the tag `pixell:allowAnonymousInternet` on the stack or on any resource, else false. */
  readonly allowAnonymousInternet?: boolean;
}

export interface IamPolicyConfig {
  /** More actions (lower case, `*` suffix for prefixes) allowed on Resource "*", e.g. for a stack-specific integration. */
  readonly extraWildcardResourceActions?: string[];
}

function stackPolicy(name: string, description: string, check: (resources: StackResource[], args: StackValidationArgs) => Violation[], configSchema?: StackValidationPolicy["configSchema"]): StackValidationPolicy {
  return {
    name,
    description,
    enforcementLevel: "mandatory",
    configSchema,
    validateStack: (args, reportViolation) => {
      for (const v of check(args.resources.map(toStackResource), args)) reportViolation(v.message, v.urn);
    },
  };
}

export const policies: StackValidationPolicy[] = [
  stackPolicy(
    "task-internal-ports-closed",
    "Security groups open the router (50052), its admin (9902), xDS (18000) and agent ports only to the tasks' own security group.",
    (resources) => securityGroupViolations(resources),
  ),
  stackPolicy(
    "iam-least-privilege",
    "IAM statements name their actions (no `*` or `service:*`) and their resources (Resource \"*\" only for actions without a resource type, scoped by condition where one exists).",
    (resources, args) => {
      const extra = args.getConfig<IamPolicyConfig>().extraWildcardResourceActions ?? [];
      const table: Record<string, WildcardResourceRule> = { ...WILDCARD_RESOURCE_ACTIONS };
      for (const action of extra) table[action.toLowerCase()] = { why: "allowed by policy config extraWildcardResourceActions" };
      return iamViolations(resources, table);
    },
    { properties: { extraWildcardResourceActions: { type: "array", items: { type: "string" }, default: [] } } },
  ),
  stackPolicy(
    "log-groups-have-retention",
    "Every CloudWatch log group sets retentionInDays.",
    (resources) => logRetentionViolations(resources),
  ),
  stackPolicy(
    "a2a-listener-tls",
    "When the stack requires TLS (policy config requireTls, or the tag pixell:requireTls=true on the stack or its resources), the NLB's A2A listener on 50051 terminates TLS with a certificate and a TLS 1.2+ policy.",
    (resources, args) => a2aTlsViolations(resources, requireTls(args.getConfig<TlsPolicyConfig>(), args.stackTags, resources)),
    { properties: { requireTls: { type: "boolean" } } },
  ),
  stackPolicy(
    "no-anonymous-internet-endpoint",
    "An internet-facing load balancer's A2A listener (50051) that admits every address needs caller authentication in the router (ROUTER_AUTH bearer or jwt), unless the stack opts in with allowAnonymousInternet (tag pixell:allowAnonymousInternet=true, or this policy's config).",
    (resources, args) => anonymousInternetViolations(resources, allowAnonymousInternet(args.getConfig<AnonymousInternetPolicyConfig>(), args.stackTags, resources)),
    { properties: { allowAnonymousInternet: { type: "boolean" } } },
  ),
];

/** Policy config wins; otherwise the stack tag; otherwise the resource tag the program sets from allowAnonymousInternet. */
export function allowAnonymousInternet(config: AnonymousInternetPolicyConfig, stackTags: ReadonlyMap<string, string>, resources: readonly StackResource[] = []): boolean {
  if (typeof config.allowAnonymousInternet === "boolean") return config.allowAnonymousInternet;
  if (stackTags.get(ALLOW_ANONYMOUS_INTERNET_TAG)?.toLowerCase() === "true") return true;
  return resourcesAllowAnonymousInternet(resources);
}

/**
 * Policy config wins; otherwise the stack tag; otherwise the resource tag the stack program sets
 * from its `requireTls` config; otherwise TLS is not required.
 */
export function requireTls(config: TlsPolicyConfig, stackTags: ReadonlyMap<string, string>, resources: readonly StackResource[] = []): boolean {
  if (typeof config.requireTls === "boolean") return config.requireTls;
  if (stackTags.get(REQUIRE_TLS_TAG)?.toLowerCase() === "true") return true;
  return resourcesRequireTls(resources);
}
