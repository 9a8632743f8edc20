import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { A2A_PORT, ENVOY_READY_PATH, ENVOY_READY_PORT, PAR_REST_PORT } from "../lib/ports";
import { shutdownPlan } from "../lib/shutdown";

/**
 * The NLB: A2A on 50051 (TCP, or TLS when a certificate is configured) to Envoy, and PAR's REST
 * API on 8080. Target groups check something that means "can serve": Envoy's readiness listener
 * (which fails while the router is not ready) and PAR's /health, never a bare TCP connect.
 */

/** Health check timing shared by both target groups: a target is in after 2 passes (~20 s), out after 2 failures (~20 s). */
export const HEALTH_CHECK = { intervalSeconds: 10, timeoutSeconds: 5, healthyThreshold: 2, unhealthyThreshold: 2 } as const;

/**
 * Seconds a deregistering target keeps its connections, from the shutdown plan (lib/shutdown.ts):
 * long enough for Envoy's max_connection_duration to have sent every A2A connection a GOAWAY and
 * for the calls on it to finish. ELB ends it early once a target has no connections left.
 */
export const DEREGISTRATION_DELAY_SECONDS = shutdownPlan().deregistrationDelaySeconds;

export interface TargetGroupSpec {
  readonly port: number;
  readonly protocol: "TCP";
  readonly targetType: "ip";
  readonly deregistrationDelay: number;
  /** Reset what is left at the end of the delay, so a deploy never waits longer than the delay. */
  readonly connectionTermination: boolean;
  readonly preserveClientIp: "true" | "false";
  readonly healthCheck: {
    readonly protocol: "HTTP";
    readonly port: string;
    readonly path: string;
    readonly matcher: string;
    readonly interval: number;
    readonly timeout: number;
    readonly healthyThreshold: number;
    readonly unhealthyThreshold: number;
  };
}

function targetGroupSpec(port: number, healthPort: string, healthPath: string): TargetGroupSpec {
  return {
    port,
    protocol: "TCP",
    targetType: "ip", // Fargate awsvpc tasks register by IP
    deregistrationDelay: DEREGISTRATION_DELAY_SECONDS,
    connectionTermination: shutdownPlan().connectionTermination,
    // Off (the default for ip targets) so the tasks' security group can admit the NLB by group.
    preserveClientIp: "false",
    healthCheck: {
      protocol: "HTTP",
      port: healthPort,
      path: healthPath,
      matcher: "200",
      interval: HEALTH_CHECK.intervalSeconds,
      timeout: HEALTH_CHECK.timeoutSeconds,
      healthyThreshold: HEALTH_CHECK.healthyThreshold,
      unhealthyThreshold: HEALTH_CHECK.unhealthyThreshold,
    },
  };
}

/** A2A target group: traffic to Envoy on 50051, health from Envoy's readiness listener. */
export function a2aTargetGroupSpec(): TargetGroupSpec {
  return targetGroupSpec(A2A_PORT, String(ENVOY_READY_PORT), ENVOY_READY_PATH);
}

/** REST target group: PAR on 8080, health from PAR's /health on the same port. */
export function restTargetGroupSpec(): TargetGroupSpec {
  return targetGroupSpec(PAR_REST_PORT, "traffic-port", "/health");
}

export type ListenerSpec =
  | { readonly port: number; readonly protocol: "TCP" }
  | { readonly port: number; readonly protocol: "TLS"; readonly certificateArn: string; readonly sslPolicy: string; readonly alpnPolicy: string };

/** TLS 1.2/1.3 only. */
export const TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/**
 * The A2A listener: plain TCP (TLS end to end is the client's and Envoy's business) or, with a
 * certificate, TLS terminated at the NLB. gRPC clients need h2 offered in ALPN.
 */
export function a2aListenerSpec(tlsCertificateArn: string | undefined): ListenerSpec {
  return tlsCertificateArn === undefined
    ? { port: A2A_PORT, protocol: "TCP" }
    : { port: A2A_PORT, protocol: "TLS", certificateArn: tlsCertificateArn, sslPolicy: TLS_POLICY, alpnPolicy: "HTTP2Preferred" };
}

export interface LoadBalancerArgs {
  readonly vpcId: pulumi.Input<string>;
  readonly subnetIds: pulumi.Input<pulumi.Input<string>[]>;
  readonly securityGroupId: pulumi.Input<string>;
  readonly internal: boolean;
  readonly tlsCertificateArn?: string;
  /**
   * Put PAR's REST listener on an internal NLB of its own in these subnets and group (when the A2A
   * NLB is internet-facing: infra/reachability.ts); unset, REST shares the A2A NLB.
   */
  readonly restOwnLoadBalancer?: { readonly subnetIds: pulumi.Input<pulumi.Input<string>[]>; readonly securityGroupId: pulumi.Input<string> };
  readonly tags?: Record<string, string>;
}

export class LoadBalancer extends pulumi.ComponentResource {
  readonly nlb: aws.lb.LoadBalancer;
  /** The NLB carrying the REST listener: `nlb` itself, or the internal REST NLB. */
  readonly restNlb: aws.lb.LoadBalancer;
  readonly a2aTargetGroup: aws.lb.TargetGroup;
  readonly restTargetGroup: aws.lb.TargetGroup;
  readonly a2aListener: aws.lb.Listener;
  readonly restListener: aws.lb.Listener;
  /** `host:50051`. */
  readonly a2aEndpoint: pulumi.Output<string>;
  /** `http://host:8080`. */
  readonly restEndpoint: pulumi.Output<string>;

  constructor(name: string, args: LoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pixell:a2a:LoadBalancer", name, {}, opts);
    const parent = { parent: this };

    this.nlb = new aws.lb.LoadBalancer(`${name}-nlb`, {
      loadBalancerType: "network",
      internal: args.internal,
      subnets: args.subnetIds,
      securityGroups: [args.securityGroupId],
      // Any healthy task serves any zone: with two tasks, one zone's loss does not halve capacity per client.
      enableCrossZoneLoadBalancing: true,
      tags: args.tags,
    }, parent);

    this.restNlb = args.restOwnLoadBalancer === undefined
      ? this.nlb
      : new aws.lb.LoadBalancer(`${name}-rest-nlb`, {
          loadBalancerType: "network",
          internal: true,
          subnets: args.restOwnLoadBalancer.subnetIds,
          securityGroups: [args.restOwnLoadBalancer.securityGroupId],
          enableCrossZoneLoadBalancing: true,
          tags: args.tags,
        }, parent);

    const makeTargetGroup = (suffix: string, spec: TargetGroupSpec): aws.lb.TargetGroup =>
      new aws.lb.TargetGroup(`${name}-${suffix}`, { vpcId: args.vpcId, ...spec, healthCheck: { enabled: true, ...spec.healthCheck }, tags: args.tags }, parent);
    this.a2aTargetGroup = makeTargetGroup("a2a", a2aTargetGroupSpec());
    this.restTargetGroup = makeTargetGroup("rest", restTargetGroupSpec());

    this.a2aListener = new aws.lb.Listener(`${name}-a2a`, {
      loadBalancerArn: this.nlb.arn,
      ...a2aListenerSpec(args.tlsCertificateArn),
      defaultActions: [{ type: "forward", targetGroupArn: this.a2aTargetGroup.arn }],
      tags: args.tags,
    }, parent);
    this.restListener = new aws.lb.Listener(`${name}-rest`, {
      loadBalancerArn: this.restNlb.arn,
      port: PAR_REST_PORT,
      protocol: "TCP",
      defaultActions: [{ type: "forward", targetGroupArn: this.restTargetGroup.arn }],
      tags: args.tags,
    }, parent);

    this.a2aEndpoint = pulumi.interpolate`${this.nlb.dnsName}:${A2A_PORT}`;
    this.restEndpoint = pulumi.interpolate`http://${this.restNlb.dnsName}:${PAR_REST_PORT}`;
    this.registerOutputs({ a2aEndpoint: this.a2aEndpoint, restEndpoint: this.restEndpoint });
  }
}
