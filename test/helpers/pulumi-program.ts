/**
 * Runs the stack program (index.ts) under `pulumi.runtime.setMocks` with a given config and
 * records every resource's inputs. Mocks and config are process-global: each run sets both
 * afresh and re-loads index.ts, so runs do not see each other's state.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import YAML from "yaml";

// Mock inputs are whatever the program passed: untyped JSON by nature.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Inputs = Record<string, any>;

export interface RecordedResource {
  readonly type: string;
  readonly name: string;
  readonly inputs: Inputs;
}

export interface ProgramRun {
  readonly resources: RecordedResource[];
  readonly outputs: Record<string, unknown>;
  ofType(type: string): RecordedResource[];
  one(type: string, nameIncludes?: string): RecordedResource;
}

const REPO_ROOT = path.join(__dirname, "..", "..");
const PROGRAM = path.join(REPO_ROOT, "index.ts");

/** Pulumi.dev.yaml's `config:` as the string map the Pulumi engine hands a program (objects as JSON). */
export function loadStackConfigFile(file = path.join(REPO_ROOT, "Pulumi.dev.yaml")): Record<string, string> {
  const doc = YAML.parse(fs.readFileSync(file, "utf8")) as { config: Record<string, unknown> };
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(doc.config)) out[key] = typeof value === "string" ? value : JSON.stringify(value);
  return out;
}

export function promiseOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((v) => { resolve(v); return v; }));
}

/**
 * ARNs in AWS's real formats for the resources whose ARNs go into IAM policies (the IAM check matches
 * them against the Service Authorization Reference); a placeholder ARN for the rest.
 */
function mockArn(type: string, name: string, inputs: Inputs): string {
  const scope = "us-east-2:123456789012";
  switch (type) {
    case "aws:servicediscovery/service:Service": return `arn:aws:servicediscovery:${scope}:service/srv-${name}`;
    case "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace": return `arn:aws:servicediscovery:${scope}:namespace/ns-${name}`;
    case "aws:cloudwatch/logGroup:LogGroup": return `arn:aws:logs:${scope}:log-group:${inputs.name ?? name}`;
    case "aws:secretsmanager/secret:Secret": return `arn:aws:secretsmanager:${scope}:secret:${inputs.name ?? name}-AbCdEf`;
    default: return `arn:aws:mock:${scope}:${type.split(":").pop()!.toLowerCase()}/${name}`;
  }
}

/** Outputs a real provider computes; enough for the program's interpolations and ARN suffixes. */
function mockState(type: string, name: string, inputs: Inputs, eipCount: () => number): Inputs {
  const arn = mockArn(type, name, inputs);
  const state: Inputs = { ...inputs, arn, name: inputs.name ?? name };
  switch (type) {
    case "aws:lb/loadBalancer:LoadBalancer":
      return { ...state, arnSuffix: `net/${name}/0123456789abcdef`, dnsName: `${name}-0123.elb.us-east-2.amazonaws.com` };
    case "aws:lb/targetGroup:TargetGroup":
      return { ...state, arnSuffix: `targetgroup/${name}/0123456789abcdef` };
    case "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace":
      return { ...state, hostedZone: "Z0123456789MOCK" };
    case "aws:ec2/eip:Eip":
      // Documentation addresses (RFC 5737), numbered in creation order: 198.51.100.1, .2, …
      return { ...state, publicIp: `198.51.100.${eipCount()}` };
    case "aws:ecr/repository:Repository":
      return { ...state, repositoryUrl: `123456789012.dkr.ecr.us-east-2.amazonaws.com/${name}` };
    case "awsx:ecr:Image":
      return { ...state, imageUri: `123456789012.dkr.ecr.us-east-2.amazonaws.com/${name}@sha256:${"a".repeat(64)}` };
    default:
      return state;
  }
}

type RuntimeWithRpcs = typeof pulumi.runtime & { waitForRPCs?: () => Promise<void> };

/** Load index.ts under mocks with `config` (keys `pixell-a2a:<name>`), wait for every registration. */
export async function runProgram(config: Record<string, string>, stack = { project: "pixell-a2a", stack: "dev" }): Promise<ProgramRun> {
  const resources: RecordedResource[] = [];
  let eips = 0;
  await pulumi.runtime.setMocks({
    newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Inputs } {
      resources.push({ type: args.type, name: args.name, inputs: args.inputs });
      return { id: `${args.name}-id`, state: mockState(args.type, args.name, args.inputs, () => ++eips) };
    },
    call(args: pulumi.runtime.MockCallArgs): Inputs {
      return args.inputs;
    },
  }, stack.project, stack.stack, false);
  pulumi.runtime.setAllConfig(config);

  delete require.cache[require.resolve(PROGRAM)];
  // A static import would load the program before the mocks exist: require it now, on purpose.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const program = require(PROGRAM) as Record<string, pulumi.Output<unknown>>;
  const outputs: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(program)) {
    if (pulumi.Output.isInstance(value)) outputs[key] = await promiseOf(value);
  }
  await (pulumi.runtime as RuntimeWithRpcs).waitForRPCs?.();

  const ofType = (type: string): RecordedResource[] => resources.filter((r) => r.type === type);
  return {
    resources,
    outputs,
    ofType,
    one(type: string, nameIncludes?: string): RecordedResource {
      const found = ofType(type).filter((r) => nameIncludes === undefined || r.name.includes(nameIncludes));
      if (found.length !== 1) throw new Error(`expected one ${type}${nameIncludes ? ` named *${nameIncludes}*` : ""}, found ${found.length}: ${found.map((r) => r.name).join(", ")}`);
      return found[0]!;
    },
  };
}
