import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { NatGatewayMode, NetworkConfig } from "./config";

/**
 * The VPC the stack runs in: either the one named in config (the real deployment's) or a new one
 * with a public and a private subnet per zone, NAT gateways (`natGateways`: one per zone, so losing
 * one zone does not cut the other zone's tasks off from ECR, CloudWatch and Cloud Map; or one for
 * all, cheaper) and an S3 gateway endpoint on the private route tables (ECR serves image layers
 * from S3: with the endpoint they skip the NAT's per-GB charge).
 * Built from @pulumi/aws resources so every subnet and route is visible in `pulumi preview`.
 */

/**
 * For each zone (by index), the index of the zone whose NAT gateway its private subnet routes
 * through. `one`: every zone uses the first zone's NAT.
 */
export function natRouting(mode: NatGatewayMode, zoneCount: number): number[] {
  return Array.from({ length: zoneCount }, (_, i) => (mode === "perZone" ? i : 0));
}

/** The S3 gateway endpoint of a region. Gateway endpoints have no hourly or data charge. */
export function s3GatewayEndpointSpec(region: string): { readonly serviceName: string; readonly vpcEndpointType: "Gateway" } {
  return { serviceName: `com.amazonaws.${region}.s3`, vpcEndpointType: "Gateway" };
}

export interface SubnetPlan {
  readonly az: string;
  readonly publicCidr: string;
  readonly privateCidr: string;
}

function ipToInt(ip: string): number {
  return ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
}

function intToIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}

/**
 * Split a VPC CIDR into 16 equal blocks (prefix + 4): public subnets take blocks 0..n-1 and
 * private subnets blocks 8..8+n-1, leaving room to add zones without renumbering.
 */
export function planSubnets(vpcCidr: string, zones: readonly string[]): SubnetPlan[] {
  const [base, prefixText] = vpcCidr.split("/") as [string, string];
  const prefix = Number(prefixText);
  if (zones.length > 8) throw new Error(`at most 8 zones fit the subnet plan, got ${zones.length}`);
  const subnetPrefix = prefix + 4;
  const blockSize = 2 ** (32 - subnetPrefix);
  const network = ipToInt(base) - (ipToInt(base) % 2 ** (32 - prefix));
  return zones.map((az, i) => ({
    az,
    publicCidr: `${intToIp(network + i * blockSize)}/${subnetPrefix}`,
    privateCidr: `${intToIp(network + (8 + i) * blockSize)}/${subnetPrefix}`,
  }));
}

export interface NetworkArgs {
  readonly config: NetworkConfig;
  /** For the S3 gateway endpoint's service name. */
  readonly region: string;
  /** Whether the NLB needs public subnets (an internal NLB lives in the private ones). */
  readonly internetFacing: boolean;
  readonly tags?: Record<string, string>;
}

export class Network extends pulumi.ComponentResource {
  readonly vpcId: pulumi.Output<string>;
  readonly publicSubnetIds: pulumi.Output<string[]>;
  readonly privateSubnetIds: pulumi.Output<string[]>;
  /** The VPC's CIDR when the stack built it (undefined for an existing VPC). */
  readonly vpcCidr?: string;
  /** The private subnets' route tables (new VPC only; empty for an existing VPC). */
  readonly privateRouteTableIds: pulumi.Output<string[]>;
  /** The NAT gateways' Elastic IPs (new VPC only): where traffic from the private subnets appears on the internet. */
  readonly natPublicIps: pulumi.Output<string>[];
  readonly s3Endpoint?: aws.ec2.VpcEndpoint;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pixell:a2a:Network", name, {}, opts);
    const { config } = args;

    if (config.vpcId !== undefined) {
      this.vpcId = pulumi.output(config.vpcId);
      this.publicSubnetIds = pulumi.output([...config.publicSubnetIds]);
      this.privateSubnetIds = pulumi.output([...config.privateSubnetIds]);
      this.privateRouteTableIds = pulumi.output([]);
      this.natPublicIps = [];
    } else {
      const parent = { parent: this };
      const vpc = new aws.ec2.Vpc(`${name}-vpc`, {
        cidrBlock: config.vpcCidr,
        enableDnsHostnames: true, // Cloud Map private DNS needs both
        enableDnsSupport: true,
        tags: { ...args.tags, Name: `${name}-vpc` },
      }, parent);
      const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags: { ...args.tags, Name: `${name}-igw` } }, parent);
      const publicRoutes = new aws.ec2.RouteTable(`${name}-public`, {
        vpcId: vpc.id,
        routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }],
        tags: { ...args.tags, Name: `${name}-public` },
      }, parent);

      const publicIds: pulumi.Output<string>[] = [];
      const privateIds: pulumi.Output<string>[] = [];
      const routeTableIds: pulumi.Output<string>[] = [];
      const plans = planSubnets(config.vpcCidr, config.availabilityZones);
      const routing = natRouting(config.natGateways, plans.length);
      const publicSubnets = plans.map((plan) => {
        const pub = new aws.ec2.Subnet(`${name}-public-${plan.az}`, {
          vpcId: vpc.id,
          cidrBlock: plan.publicCidr,
          availabilityZone: plan.az,
          mapPublicIpOnLaunch: false, // only the NLB and NAT live here, with their own addresses
          tags: { ...args.tags, Name: `${name}-public-${plan.az}`, "pixell:tier": "public" },
        }, parent);
        new aws.ec2.RouteTableAssociation(`${name}-public-${plan.az}`, { subnetId: pub.id, routeTableId: publicRoutes.id }, parent);
        publicIds.push(pub.id);
        return pub;
      });
      // A NAT gateway (named after its zone) in each zone some private subnet routes through.
      const nats = new Map<number, aws.ec2.NatGateway>();
      const natIps: pulumi.Output<string>[] = [];
      for (const i of [...new Set(routing)]) {
        const plan = plans[i]!;
        const eip = new aws.ec2.Eip(`${name}-nat-${plan.az}`, { domain: "vpc", tags: { ...args.tags, Name: `${name}-nat-${plan.az}` } }, parent);
        const nat = new aws.ec2.NatGateway(`${name}-nat-${plan.az}`, {
          subnetId: publicSubnets[i]!.id,
          allocationId: eip.id,
          tags: { ...args.tags, Name: `${name}-nat-${plan.az}` },
        }, { parent: this, dependsOn: [igw] });
        nats.set(i, nat);
        natIps.push(eip.publicIp);
      }

      plans.forEach((plan, i) => {
        const priv = new aws.ec2.Subnet(`${name}-private-${plan.az}`, {
          vpcId: vpc.id,
          cidrBlock: plan.privateCidr,
          availabilityZone: plan.az,
          tags: { ...args.tags, Name: `${name}-private-${plan.az}`, "pixell:tier": "private" },
        }, parent);
        const privateRoutes = new aws.ec2.RouteTable(`${name}-private-${plan.az}`, {
          vpcId: vpc.id,
          routes: [{ cidrBlock: "0.0.0.0/0", natGatewayId: nats.get(routing[i]!)!.id }],
          tags: { ...args.tags, Name: `${name}-private-${plan.az}` },
        }, parent);
        new aws.ec2.RouteTableAssociation(`${name}-private-${plan.az}`, { subnetId: priv.id, routeTableId: privateRoutes.id }, parent);
        privateIds.push(priv.id);
        routeTableIds.push(privateRoutes.id);
      });

      // Default (full-access) endpoint policy: the agents may use S3 too, and a policy limited to
      // ECR's layer bucket would deny them once S3 traffic takes this route.
      this.s3Endpoint = new aws.ec2.VpcEndpoint(`${name}-s3`, {
        vpcId: vpc.id,
        ...s3GatewayEndpointSpec(args.region),
        routeTableIds,
        tags: { ...args.tags, Name: `${name}-s3` },
      }, parent);
      this.vpcId = vpc.id;
      this.vpcCidr = config.vpcCidr;
      this.publicSubnetIds = pulumi.all(publicIds);
      this.privateSubnetIds = pulumi.all(privateIds);
      this.privateRouteTableIds = pulumi.all(routeTableIds);
      this.natPublicIps = natIps;
    }

    this.registerOutputs({ vpcId: this.vpcId, publicSubnetIds: this.publicSubnetIds, privateSubnetIds: this.privateSubnetIds });
  }
}
