/**
 * IAM policy documents as pure functions of the ARNs they grant on: least privilege, no wildcard
 * actions, conditions where the service supports them. Resources that only accept "*" say why.
 */

export interface Statement {
  readonly Sid: string;
  readonly Effect: "Allow";
  readonly Action: readonly string[];
  readonly Resource: string | readonly string[];
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
}

export interface PolicyDocument {
  readonly Version: "2012-10-17";
  readonly Statement: readonly Statement[];
}

export interface TrustPolicyDocument {
  readonly Version: "2012-10-17";
  readonly Statement: readonly [{ readonly Effect: "Allow"; readonly Principal: { readonly Service: string }; readonly Action: "sts:AssumeRole" }];
}

/** Trust policy letting one AWS service assume a role. */
export function assumeRolePolicy(service: "ecs-tasks.amazonaws.com" | "lambda.amazonaws.com"): TrustPolicyDocument {
  return { Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole" }] };
}

/** AWS-managed execution-role policy: pull images and write container logs (no other access). */
export const ECS_TASK_EXECUTION_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy";

export interface CloudMapNames {
  readonly namespaceName: string;
  readonly serviceName: string;
  readonly serviceArn: string;
  /** The private DNS namespace's ARN: DiscoverInstances and GetOperation are authorized on it. */
  readonly namespaceArn: string;
  /** Route 53 hosted zone id behind the private DNS namespace (RegisterInstance writes its records). */
  readonly hostedZoneId: string;
}

/**
 * DiscoverInstances(Revision) are authorized on the namespace and the service (both required resource
 * types in the Service Authorization Reference) and keep the name conditions as a second fence.
 * The router polls the revision and fetches the list only when it moved.
 */
function discoverStatement(sid: string, names: Pick<CloudMapNames, "namespaceName" | "serviceName" | "namespaceArn" | "serviceArn">, withRevision: boolean): Statement {
  return {
    Sid: sid,
    Effect: "Allow",
    Action: withRevision ? ["servicediscovery:DiscoverInstances", "servicediscovery:DiscoverInstancesRevision"] : ["servicediscovery:DiscoverInstances"],
    Resource: [names.namespaceArn, names.serviceArn],
    Condition: {
      StringEquals: {
        "servicediscovery:NamespaceName": names.namespaceName,
        "servicediscovery:ServiceName": names.serviceName,
      },
    },
  };
}

/** `arn:<partition>:<service>:<region>:<account>:...` -> its partition, region and account. */
export function arnScope(arn: string): { partition: string; region: string; account: string } {
  const [prefix, partition, , region, account] = arn.split(":");
  if (prefix !== "arn" || !partition || !region || !account) throw new Error(`not a regional ARN: ${arn}`);
  return { partition, region, account };
}

/**
 * Read one Secrets Manager secret, named by its complete ARN (no wildcard). The secrets use the
 * AWS-managed key, which needs no kms:Decrypt grant.
 */
export function readSecretStatement(sid: string, secretArn: string): Statement {
  return { Sid: sid, Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: secretArn };
}

/**
 * The task role (shared by PAR, the router and Envoy in one task): PAR registers agents in the
 * Cloud Map service and sets their custom health; the router discovers them.
 */
export function taskRolePolicy(names: CloudMapNames, authTokensSecretArn?: string): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "ParRegistersAgents",
        Effect: "Allow",
        Action: [
          "servicediscovery:RegisterInstance",
          "servicediscovery:DeregisterInstance",
          "servicediscovery:UpdateInstanceCustomHealthStatus",
          "servicediscovery:GetInstance",
          "servicediscovery:ListInstances",
          "servicediscovery:GetInstancesHealthStatus",
        ],
        Resource: names.serviceArn,
      },
      {
        // Register/DeregisterInstance are asynchronous: GetOperation is authorized on the namespace
        // (required) and the service (optional) the operation belongs to.
        Sid: "ParFollowsRegistrationOperations",
        Effect: "Allow",
        Action: ["servicediscovery:GetOperation"],
        Resource: [names.namespaceArn, names.serviceArn],
      },
      {
        Sid: "CloudMapWritesAgentDnsRecords",
        Effect: "Allow",
        Action: ["route53:ChangeResourceRecordSets", "route53:GetHostedZone"],
        Resource: `arn:aws:route53:::hostedzone/${names.hostedZoneId}`,
      },
      discoverStatement("RouterDiscoversAgents", names, true),
      // Bearer caller authentication: the router re-reads its tokens document (ROUTER_AUTH_TOKENS).
      ...(authTokensSecretArn === undefined ? [] : [readSecretStatement("RouterReadsCallerTokens", authTokensSecretArn)]),
    ],
  };
}

/**
 * Private registry authentication (ECS developer guide, "Private registry authentication for
 * tasks"): the execution role reads the registry credentials secret, and decrypts it when it is
 * encrypted with a customer-managed KMS key (the AWS-managed key needs no grant).
 */
export function registryCredentialsPolicy(secretArn: string, kmsKeyArn?: string): PolicyDocument {
  const statements: Statement[] = [readSecretStatement("ReadParRegistryCredentials", secretArn)];
  if (kmsKeyArn !== undefined) {
    statements.push({
      Sid: "DecryptParRegistryCredentials",
      Effect: "Allow",
      Action: ["kms:Decrypt"],
      Resource: kmsKeyArn,
      // Only when Secrets Manager asks on the role's behalf, in the secret's region.
      Condition: { StringEquals: { "kms:ViaService": `secretsmanager.${secretArn.split(":")[3]}.amazonaws.com` } },
    });
  }
  return { Version: "2012-10-17", Statement: statements };
}

export interface ProbePolicyInput extends Omit<CloudMapNames, "hostedZoneId"> {
  readonly metricsNamespace: string;
  readonly logGroupArn: string;
  /** The Lambda runs in the VPC and must manage its network interfaces. */
  readonly inVpc: boolean;
  /** The probe's bearer token secret (PROBE_AUTH_TOKEN_SECRET), when the router authenticates callers. */
  readonly authTokenSecretArn?: string;
  /** The probe lists the A2A target group's targets (the tasks) to probe each directly. */
  readonly describesTargets?: boolean;
}

/** The probe Lambda: discover agents, put metrics in one namespace, write its own log group. */
export function probeRolePolicy(input: ProbePolicyInput): PolicyDocument {
  const statements: Statement[] = [
    discoverStatement("DiscoverAgents", input, false),
    {
      // DiscoverInstances returns one page; beyond it the probe lists the service (CLOUDMAP_SERVICE_ID).
      Sid: "ListAgentsBeyondOnePage",
      Effect: "Allow",
      Action: ["servicediscovery:ListInstances"],
      Resource: input.serviceArn,
    },
    {
      // PutMetricData has no resource type; the namespace condition is its only scope.
      Sid: "PutProbeMetrics",
      Effect: "Allow",
      Action: ["cloudwatch:PutMetricData"],
      Resource: "*",
      Condition: { StringEquals: { "cloudwatch:namespace": input.metricsNamespace } },
    },
    {
      Sid: "WriteOwnLogs",
      Effect: "Allow",
      Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
      Resource: `${input.logGroupArn}:*`,
    },
  ];
  if (input.describesTargets) {
    // DescribeTargetHealth takes no resource type and no condition key: "*" only (Service Authorization
    // Reference, Elastic Load Balancing V2; checked by test/helpers/iam-check.ts). It reads target health, nothing else.
    statements.push({ Sid: "ListTasksBehindTheNlb", Effect: "Allow", Action: ["elasticloadbalancing:DescribeTargetHealth"], Resource: "*" });
  }
  if (input.authTokenSecretArn !== undefined) statements.push(readSecretStatement("ReadProbeToken", input.authTokenSecretArn));
  if (input.inVpc) {
    // What AWSLambdaVPCAccessExecutionRole grants, scoped to the stack's account and region where the
    // action takes a resource; the Describe actions take "*" only.
    const { partition, region, account } = arnScope(input.serviceArn);
    const ec2 = (type: string): string => `arn:${partition}:ec2:${region}:${account}:${type}/*`;
    statements.push({
      // Creating an interface is authorized on the interface, its subnet and its security groups.
      Sid: "VpcCreateNetworkInterfaces",
      Effect: "Allow",
      Action: ["ec2:CreateNetworkInterface"],
      Resource: [ec2("network-interface"), ec2("subnet"), ec2("security-group")],
    }, {
      Sid: "VpcManageNetworkInterfaces",
      Effect: "Allow",
      Action: ["ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"],
      Resource: ec2("network-interface"),
    }, {
      Sid: "VpcDescribe",
      Effect: "Allow",
      Action: ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"],
      Resource: "*",
    });
  }
  return { Version: "2012-10-17", Statement: statements };
}
