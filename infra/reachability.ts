/**
 * Who reaches which listener, from which address (docs/decisions/0001-rest-endpoint-and-probe-network.md).
 *
 * An internet-facing NLB's DNS name resolves to public addresses only, so a client in the VPC
 * arrives there from its NAT gateway's public address and a VPC CIDR in its security group never
 * matches. PAR's REST API is an operator interface meant for the VPC: it therefore goes on an
 * internal NLB of its own whenever the A2A NLB is internet-facing, and shares the A2A NLB when
 * that one is internal already.
 *
 * The probe always runs in the VPC's private subnets (and will check each task directly there):
 * an internal NLB admits it by its security group; an internet-facing NLB sees it arrive from
 * the NAT gateways' public addresses, which the NLB's group must admit.
 */

export interface RestPlacement {
  /** REST listener on a separate internal NLB (true) or on the A2A NLB (false, when that is internal). */
  readonly ownLoadBalancer: boolean;
  /** Always true: REST is never internet-facing. */
  readonly internal: true;
}

export function restPlacement(a2aInternetFacing: boolean): RestPlacement {
  return { ownLoadBalancer: a2aInternetFacing, internal: true };
}

/** How the A2A NLB's security group recognises the probe. */
export type ProbeSource =
  /** Internal NLB: the probe's ENIs connect from private addresses; admit its group. */
  | { readonly kind: "group" }
  /** Internet-facing NLB: the probe's connections leave through NAT; admit these public /32s. */
  | { readonly kind: "nat"; readonly cidrs: "created" | readonly string[] };

/**
 * `created`: the stack built the VPC and admits its own NAT gateways' Elastic IPs. With an existing
 * VPC it uses `probeEgressCidrs` (possibly none: then only `allowedCidrs` can let the probe in).
 */
export function probeSource(input: { readonly internetFacing: boolean; readonly existingVpc: boolean; readonly probeEgressCidrs: readonly string[] }): ProbeSource {
  if (!input.internetFacing) return { kind: "group" };
  return { kind: "nat", cidrs: input.existingVpc ? input.probeEgressCidrs : "created" };
}

/**
 * True when `cidrs` together admit every IPv4 source: 0.0.0.0/0 itself, or ranges that add up to it
 * (0.0.0.0/1 and 128.0.0.0/1 are the whole internet too). Then the probe needs no rule of its own
 * to get in, and an internet-facing endpoint without caller authentication is anonymous.
 */
export function admitsEveryone(cidrs: readonly string[]): boolean {
  const ranges = cidrs.flatMap((c) => {
    const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(c);
    if (!m) return [];
    const size = 2 ** (32 - Number(m[2]));
    const start = toInt(m[1]!) - (toInt(m[1]!) % size);
    return [[start, start + size] as const];
  }).sort((a, b) => a[0] - b[0]);
  let covered = 0;
  for (const [start, end] of ranges) {
    if (start > covered) return false;
    covered = Math.max(covered, end);
  }
  return covered >= 2 ** 32;
}

const PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"] as const;

function toInt(ip: string): number {
  return ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
}

/** Whether an IPv4 CIDR lies wholly inside RFC 1918 or RFC 6598 space (addresses a VPC, a peer or a VPN can carry). */
export function isPrivateCidr(cidr: string): boolean {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(cidr);
  if (!m) return false;
  const size = 2 ** (32 - Number(m[2]));
  const start = toInt(m[1]!) - (toInt(m[1]!) % size);
  const end = start + size - 1;
  return PRIVATE_RANGES.some((range) => {
    const [rip, rbits] = range.split("/") as [string, string];
    const rstart = toInt(rip);
    return start >= rstart && end <= rstart + 2 ** (32 - Number(rbits)) - 1;
  });
}
