/**
 * The tasks behind the A2A endpoint: the NLB target group's targets (task IPs on :50051), from
 * elbv2 DescribeTargetHealth. The probe calls each task directly from inside the VPC, so a broken
 * task is seen on every run instead of on the runs whose one NLB flow happened to land on it.
 */
import {
  DescribeTargetHealthCommand,
  type ElasticLoadBalancingV2Client,
  type TargetHealthDescription,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { isTimeout } from "./budget";

/** One task as the probe reaches it. `id` (`ip:port`) is the Task dimension and the name in logs. */
export interface ProbeTarget {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly zone?: string;
  /** The NLB's view (`healthy`, `unhealthy`, ...), or `listed` for a target given by hand. */
  readonly state: string;
}

/** Reading the target list failed; the run carries on through the endpoint alone and counts a discovery error. */
export class TargetDiscoveryError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TargetDiscoveryError";
  }
}

/**
 * Targets the NLB sends (or may send) new connections to are probed: `healthy`, `unhealthy` (the
 * NLB fails open when every target is unhealthy) and `unavailable`. `initial` (still registering:
 * a task starting up during a deploy), `draining` (leaving) and `unused` get no new flows
 * (Elastic Load Balancing, "Target health status"), so probing them would page for a task no user
 * reaches.
 */
const PROBED_STATES = new Set(["healthy", "unhealthy", "unavailable"]);

export interface TargetList {
  readonly targets: ProbeTarget[];
  /** Listed but not probed, with their state. */
  readonly skipped: { readonly id: string; readonly state: string }[];
}

/** Pure: DescribeTargetHealth's descriptions -> the targets to probe, sorted by id. */
export function probeableTargets(descriptions: readonly TargetHealthDescription[], defaultPort: number): TargetList {
  const targets: ProbeTarget[] = [];
  const skipped: { id: string; state: string }[] = [];
  for (const d of descriptions) {
    const host = d.Target?.Id;
    if (!host) continue;
    const port = d.Target?.Port ?? defaultPort;
    const state = d.TargetHealth?.State ?? "unknown";
    const id = `${host}:${port}`;
    if (PROBED_STATES.has(state)) targets.push({ id, host, port, state, ...(d.Target?.AvailabilityZone ? { zone: d.Target.AvailabilityZone } : {}) });
    else skipped.push({ id, state });
  }
  targets.sort((a, b) => a.id.localeCompare(b.id));
  return { targets, skipped };
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** DescribeTargetHealth on the A2A target group (one call: it does not page). */
export async function discoverTargets(elb: ElasticLoadBalancingV2Client, targetGroupArn: string, defaultPort: number, signal?: AbortSignal): Promise<TargetList> {
  try {
    const res = await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }), signal ? { abortSignal: signal } : {});
    return probeableTargets(res.TargetHealthDescriptions ?? [], defaultPort);
  } catch (err) {
    const hint = isTimeout(err, signal)
      ? "Elastic Load Balancing did not answer in time: check the probe's network path to elasticloadbalancing (NAT or VPC endpoint)"
      : "check PROBE_TARGET_GROUP_ARN and that the probe's role may call elasticloadbalancing:DescribeTargetHealth";
    throw new TargetDiscoveryError(`DescribeTargetHealth on ${targetGroupArn} failed (${errorText(err)}): ${hint}`, { cause: err });
  }
}

/** `host:port[,host:port...]` given by hand (the CLI's --tasks, the local mode). */
export function targetsFromList(list: readonly string[]): ProbeTarget[] {
  return list.map((hp) => {
    const i = hp.lastIndexOf(":");
    const host = hp.slice(0, i).replace(/^\[(.*)\]$/, "$1");
    return { id: hp, host, port: Number(hp.slice(i + 1)), state: "listed" };
  });
}
