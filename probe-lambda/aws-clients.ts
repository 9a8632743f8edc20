/**
 * The probe's AWS SDK clients with bounded HTTP. Smithy's NodeHttpHandler has no connect,
 * request or idle timeout by default, so one hung AWS call would hold the invocation until
 * the Lambda's own limit killed it with nothing emitted. These are per-attempt caps; each call
 * also gets an AbortSignal for its step's deadline (budget.ts), which bounds the SDK's retries.
 */
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import { NodeHttpHandler } from "@smithy/node-http-handler";

export interface HttpTimeouts {
  /** TCP (and TLS) connect. */
  readonly connectionTimeoutMs: number;
  /** Request sent and response headers received, per attempt. */
  readonly requestTimeoutMs: number;
  /** No byte on the socket for this long, e.g. a response body that stops arriving. */
  readonly socketTimeoutMs: number;
}

/**
 * AWS answers these calls in tens of milliseconds; the caps leave room for a slow network path
 * (NAT, VPC endpoint) and still allow a second attempt inside the default 5 s metrics reserve.
 */
export const AWS_HTTP_TIMEOUTS: HttpTimeouts = { connectionTimeoutMs: 2000, requestTimeoutMs: 5000, socketTimeoutMs: 5000 };
/** PutMetricData's own cap: two attempts must fit in PROBE_RESERVE_MS (5 s default). */
export const CLOUDWATCH_HTTP_TIMEOUTS: HttpTimeouts = { connectionTimeoutMs: 2000, requestTimeoutMs: 2000, socketTimeoutMs: 2000 };

/**
 * A NodeHttpHandler with every timeout set. `throwOnRequestTimeout`: without it,
 * @smithy/node-http-handler 4.x only logs a warning when `requestTimeout` passes and keeps waiting.
 */
export function boundedRequestHandler(t: HttpTimeouts): NodeHttpHandler {
  return new NodeHttpHandler({
    connectionTimeout: t.connectionTimeoutMs,
    requestTimeout: t.requestTimeoutMs,
    throwOnRequestTimeout: true,
    socketTimeout: t.socketTimeoutMs,
  });
}

export interface ProbeAwsClientOptions {
  /** Region, credentials, endpoint: for tests and the CLI; the Lambda uses its environment. */
  readonly base?: { readonly region?: string; readonly credentials?: { accessKeyId: string; secretAccessKey: string }; readonly endpoint?: string };
  /** Per-service endpoints (tests); else the SDK's own resolution, including AWS_ENDPOINT_URL_*. */
  readonly endpoints?: { readonly serviceDiscovery?: string; readonly cloudWatch?: string; readonly secretsManager?: string; readonly elasticLoadBalancing?: string };
  /**
   * Drop DiscoverInstances' `data-` host prefix: an endpoint override (a VPC endpoint, a local
   * fake) already names the full host.
   */
  readonly disableHostPrefix?: boolean;
  readonly timeouts?: { readonly aws?: HttpTimeouts; readonly cloudWatch?: HttpTimeouts };
}

export interface ProbeAwsClients {
  readonly serviceDiscovery: ServiceDiscoveryClient;
  readonly cloudWatch: CloudWatchClient;
  readonly secretsManager: SecretsManagerClient;
  /** DescribeTargetHealth: the tasks behind the endpoint. */
  readonly elasticLoadBalancing: ElasticLoadBalancingV2Client;
  /** Closes the clients' sockets (the CLI and tests; a Lambda container keeps them for reuse). */
  destroy(): void;
}

export function createProbeAwsClients(opts: ProbeAwsClientOptions = {}): ProbeAwsClients {
  const aws = opts.timeouts?.aws ?? AWS_HTTP_TIMEOUTS;
  const withEndpoint = (endpoint: string | undefined): ProbeAwsClientOptions["base"] =>
    ({ ...opts.base, ...(endpoint === undefined ? {} : { endpoint }) });
  const serviceDiscovery = new ServiceDiscoveryClient({
    ...withEndpoint(opts.endpoints?.serviceDiscovery),
    disableHostPrefix: opts.disableHostPrefix ?? false,
    requestHandler: boundedRequestHandler(aws),
  });
  // putBatches retries with its own deadline-aware backoff; SDK retries on top would multiply attempts.
  const cloudWatch = new CloudWatchClient({
    ...withEndpoint(opts.endpoints?.cloudWatch),
    maxAttempts: 1,
    requestHandler: boundedRequestHandler(opts.timeouts?.cloudWatch ?? CLOUDWATCH_HTTP_TIMEOUTS),
  });
  const secretsManager = new SecretsManagerClient({ ...withEndpoint(opts.endpoints?.secretsManager), requestHandler: boundedRequestHandler(aws) });
  const elasticLoadBalancing = new ElasticLoadBalancingV2Client({ ...withEndpoint(opts.endpoints?.elasticLoadBalancing), requestHandler: boundedRequestHandler(aws) });
  return {
    serviceDiscovery,
    cloudWatch,
    secretsManager,
    elasticLoadBalancing,
    destroy() {
      serviceDiscovery.destroy();
      cloudWatch.destroy();
      secretsManager.destroy();
      elasticLoadBalancing.destroy();
    },
  };
}
