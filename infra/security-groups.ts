import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { A2A_PORT, ENVOY_READY_PORT, PAR_REST_PORT, ROUTER_PORT } from "../lib/ports";
import { restPlacement } from "./reachability";

/**
 * Who may talk to whom. The NLB has its own security group (NLBs support them since 2023), so the
 * tasks admit the NLB by group, not by CIDR: the NLB reaches only 50051, Envoy's readiness port and
 * 8080 on the tasks; the router and agent ports are open only to the tasks' own group.
 * PAR's REST API sits on its own internal NLB (group `rest`) when the A2A NLB is internet-facing
 * (infra/reachability.ts). `C` is how a CIDR is given: a string, or a Pulumi input for addresses
 * known only at deploy time (the NAT gateways' Elastic IPs).
 */

export type GroupName = "nlb" | "rest" | "tasks" | "probe";

export type Peer<C = string> = { readonly cidr: C } | { readonly group: GroupName };

export interface RuleSpec<C = string> {
  readonly description: string;
  /** "tcp" or "-1" (all protocols, ports ignored). */
  readonly protocol: "tcp" | "-1";
  readonly fromPort: number;
  readonly toPort: number;
  readonly peer: Peer<C>;
}

export interface GroupRules<C = string> {
  readonly ingress: readonly RuleSpec<C>[];
  readonly egress: readonly RuleSpec<C>[];
}

export interface SecurityRulesInput<C = string> {
  readonly allowedCidrs: readonly string[];
  readonly restAllowedCidrs: readonly string[];
  readonly agentPortFirst: number;
  readonly agentPortLast: number;
  /** The probe Lambda runs in the VPC and needs its own group. */
  readonly probeInVpc: boolean;
  /** The A2A NLB is internet-facing: REST moves to its own internal NLB, the probe reaches A2A through NAT. */
  readonly internetFacing: boolean;
  /** Internet-facing only: the public CIDRs the probe's connections come from (the NAT gateways' addresses). */
  readonly probeEgressCidrs: readonly C[];
}

type Rule<C> = RuleSpec<C | string>;
const tcp = <C = never>(description: string, port: number, peer: Peer<C>, toPort = port): RuleSpec<C> => ({ description, protocol: "tcp", fromPort: port, toPort, peer });

/** Every rule of every group: the security design in one table. */
export function securityGroupRules<C = string>(input: SecurityRulesInput<C>): Record<GroupName, GroupRules<C | string>> {
  const restOwn = restPlacement(input.internetFacing).ownLoadBalancer;
  const restGroup: GroupName = restOwn ? "rest" : "nlb";
  const restIngress: Rule<C>[] = input.restAllowedCidrs.map((cidr) => tcp(`PAR REST API from ${cidr}`, PAR_REST_PORT, { cidr }));
  const nlbIngress: Rule<C>[] = [
    ...input.allowedCidrs.map((cidr) => tcp(`A2A gRPC from ${cidr}`, A2A_PORT, { cidr })),
    ...(restOwn ? [] : restIngress),
  ];
  if (input.probeInVpc && !input.internetFacing) nlbIngress.push(tcp("A2A gRPC from the probe Lambda", A2A_PORT, { group: "probe" }));
  if (input.probeInVpc && input.internetFacing) {
    input.probeEgressCidrs.forEach((cidr, i) => nlbIngress.push(tcp(`A2A gRPC from the probe Lambda through NAT (address ${i + 1})`, A2A_PORT, { cidr })));
  }
  const restEgress = tcp("PAR REST API and its /health check", PAR_REST_PORT, { group: "tasks" });

  return {
    nlb: {
      ingress: nlbIngress,
      egress: [
        tcp("A2A traffic to Envoy", A2A_PORT, { group: "tasks" }),
        tcp("A2A health check: Envoy readiness", ENVOY_READY_PORT, { group: "tasks" }),
        ...(restOwn ? [] : [restEgress]),
      ],
    },
    rest: restOwn ? { ingress: restIngress, egress: [restEgress] } : { ingress: [], egress: [] },
    tasks: {
      ingress: [
        tcp("A2A traffic from the NLB", A2A_PORT, { group: "nlb" }),
        tcp("Envoy readiness check from the NLB", ENVOY_READY_PORT, { group: "nlb" }),
        tcp("PAR REST API from the NLB", PAR_REST_PORT, { group: restGroup }),
        tcp("router gRPC between tasks", ROUTER_PORT, { group: "tasks" }),
        tcp("agent gRPC ports between tasks (Cloud Map targets)", input.agentPortFirst, { group: "tasks" }, input.agentPortLast),
        // The probe checks every task directly, not only the one its NLB flow lands on.
        ...(input.probeInVpc ? [tcp("A2A Health calls from the probe Lambda, to each task directly", A2A_PORT, { group: "probe" })] : []),
      ],
      // Agents call arbitrary external APIs and the containers pull from ECR and write to
      // CloudWatch and Cloud Map: egress stays open; ingress is where the boundary is.
      egress: [{ description: "all outbound (ECR, CloudWatch, Cloud Map, external APIs the agents call)", protocol: "-1", fromPort: 0, toPort: 0, peer: { cidr: "0.0.0.0/0" } }],
    },
    probe: {
      ingress: [],
      egress: input.probeInVpc
        ? [
            // An internet-facing NLB is reached at its public addresses, which no group names.
            input.internetFacing
              ? tcp("A2A Health calls to the public addresses of the NLB", A2A_PORT, { cidr: "0.0.0.0/0" })
              : tcp("A2A Health calls to the NLB", A2A_PORT, { group: "nlb" }),
            tcp("A2A Health calls to each task directly", A2A_PORT, { group: "tasks" }),
            tcp("HTTPS to CloudWatch and Cloud Map APIs", 443, { cidr: "0.0.0.0/0" }),
          ]
        : [],
    },
  };
}

export interface SecurityGroupsArgs extends SecurityRulesInput<pulumi.Input<string>> {
  readonly vpcId: pulumi.Input<string>;
  readonly tags?: Record<string, string>;
}

export class SecurityGroups extends pulumi.ComponentResource {
  readonly nlb: aws.ec2.SecurityGroup;
  readonly tasks: aws.ec2.SecurityGroup;
  readonly probe?: aws.ec2.SecurityGroup;
  /** PAR's REST NLB, when it has its own (the A2A NLB is internet-facing). */
  readonly rest?: aws.ec2.SecurityGroup;

  constructor(name: string, args: SecurityGroupsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pixell:a2a:SecurityGroups", name, {}, opts);
    const group = (suffix: GroupName, description: string): aws.ec2.SecurityGroup =>
      new aws.ec2.SecurityGroup(`${name}-${suffix}`, { vpcId: args.vpcId, description, tags: { ...args.tags, Name: `${name}-${suffix}` } }, { parent: this });
    this.nlb = group("nlb", "pixell-a2a NLB: A2A and PAR REST listeners");
    this.tasks = group("tasks", "pixell-a2a ECS tasks: PAR, router, Envoy");
    const groups: Partial<Record<GroupName, aws.ec2.SecurityGroup>> = { nlb: this.nlb, tasks: this.tasks };
    if (restPlacement(args.internetFacing).ownLoadBalancer) {
      this.rest = group("rest", "pixell-a2a internal NLB: PAR REST listener");
      groups.rest = this.rest;
    }
    if (args.probeInVpc) {
      this.probe = group("probe", "pixell-a2a probe Lambda");
      groups.probe = this.probe;
    }

    const rules = securityGroupRules(args);
    for (const [groupName, sg] of Object.entries(groups) as [GroupName, aws.ec2.SecurityGroup][]) {
      rules[groupName].ingress.forEach((rule, i) => {
        new aws.vpc.SecurityGroupIngressRule(`${name}-${groupName}-in-${i}`, { securityGroupId: sg.id, ...ruleArgs(rule, groups) }, { parent: this });
      });
      rules[groupName].egress.forEach((rule, i) => {
        new aws.vpc.SecurityGroupEgressRule(`${name}-${groupName}-out-${i}`, { securityGroupId: sg.id, ...ruleArgs(rule, groups) }, { parent: this });
      });
    }
    this.registerOutputs({ nlb: this.nlb.id, tasks: this.tasks.id, probe: this.probe?.id, rest: this.rest?.id });
  }
}

function ruleArgs(rule: RuleSpec<pulumi.Input<string>>, groups: Partial<Record<GroupName, aws.ec2.SecurityGroup>>) {
  const peer = "cidr" in rule.peer
    ? { cidrIpv4: rule.peer.cidr }
    : { referencedSecurityGroupId: groups[rule.peer.group]!.id };
  return rule.protocol === "-1"
    ? { description: rule.description, ipProtocol: "-1", ...peer }
    : { description: rule.description, ipProtocol: "tcp", fromPort: rule.fromPort, toPort: rule.toPort, ...peer };
}
