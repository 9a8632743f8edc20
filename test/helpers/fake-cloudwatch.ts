/**
 * A local CloudWatch endpoint for PutMetricData over AWS JSON 1.0 (the protocol of
 * @aws-sdk/client-cloudwatch 3.1164: `X-Amz-Target: GraniteServiceVersion20100801.PutMetricData`).
 * It keeps every metric datum it accepted, so tests assert the exact data that arrived.
 */
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { FAKE_AWS_CLIENT_CONFIG, startFakeAwsJsonServer, type FakeAwsError, type FakeAwsServer } from "./fake-aws";

/** A metric datum as it arrives on the wire (Timestamp in epoch seconds). */
export interface WireMetricDatum {
  MetricName: string;
  Dimensions?: { Name: string; Value: string }[];
  Timestamp?: number;
  Value?: number;
  Unit?: string;
  [key: string]: unknown;
}

export interface FakeCloudWatch extends FakeAwsServer {
  /** Accepted PutMetricData requests: namespace and metric data, in arrival order. */
  readonly accepted: { Namespace: string; MetricData: WireMetricDatum[] }[];
  /** A real SDK client pointed here (SDK retries off unless `maxAttempts` is given). */
  client(maxAttempts?: number): CloudWatchClient;
}

/** CloudWatch's throttling answer in the JSON protocol with awsQuery compatibility. */
export const CLOUDWATCH_THROTTLING: FakeAwsError = { status: 400, type: "Throttling", message: "Rate exceeded", queryError: "Throttling;Sender" };
export const CLOUDWATCH_INTERNAL_ERROR: FakeAwsError = { status: 500, type: "InternalServiceFault", message: "internal error", queryError: "InternalServiceError;Receiver" };

export async function startFakeCloudWatch(): Promise<FakeCloudWatch> {
  const accepted: FakeCloudWatch["accepted"] = [];
  const server = await startFakeAwsJsonServer("application/x-amz-json-1.0", (operation, body) => {
    if (operation !== "PutMetricData") {
      return { error: { status: 400, type: "UnknownOperationException", message: `fake CloudWatch does not serve ${operation}` } };
    }
    const data = body.MetricData as WireMetricDatum[] | undefined;
    if (typeof body.Namespace !== "string" || !Array.isArray(data) || data.length === 0 || data.length > 1000) {
      return { error: { status: 400, type: "InvalidParameterValue", message: "Namespace and 1-1000 MetricData are required", queryError: "InvalidParameterValue;Sender" } };
    }
    accepted.push({ Namespace: body.Namespace, MetricData: data });
    return { body: {} };
  });
  return {
    ...server,
    accepted,
    client: (maxAttempts = 1) => new CloudWatchClient({ ...FAKE_AWS_CLIENT_CONFIG, endpoint: server.url, maxAttempts }),
  };
}
