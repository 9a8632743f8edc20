/**
 * A local `node:http` endpoint speaking the AWS JSON protocols (1.0 and 1.1): POST /,
 * operation in `X-Amz-Target`, JSON body (gzip when the SDK compresses it), errors as
 * `{"__type": ...}` with the HTTP status. The real SDK clients are pointed at it.
 */
import * as http from "node:http";
import { gunzipSync } from "node:zlib";
import type { AddressInfo } from "node:net";

export interface FakeAwsRequest {
  /** The operation, e.g. `PutMetricData` (the part of X-Amz-Target after the dot). */
  readonly operation: string;
  readonly target: string;
  readonly contentType: string;
  readonly contentEncoding: string | undefined;
  readonly signed: boolean;
  readonly body: unknown;
}

/** An error answer in the AWS JSON shape. */
export interface FakeAwsError {
  readonly status: number;
  /** `__type`, e.g. `ServiceNotFound` or `com.amazonaws.cloudwatch#...`. */
  readonly type: string;
  readonly message: string;
  /** awsQueryCompatible services (CloudWatch) also send `x-amzn-query-error: Code;Sender`. */
  readonly queryError?: string;
}

export type FakeAwsAnswer = { readonly status?: number; readonly body: unknown } | { readonly error: FakeAwsError };
export type FakeAwsHandler = (operation: string, body: Record<string, unknown>) => FakeAwsAnswer;

export interface FakeAwsServer {
  /** `http://127.0.0.1:PORT`, for the SDK client's `endpoint`. */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: FakeAwsRequest[];
  /** Requests received per operation. */
  count(operation: string): number;
  /**
   * The next `times` requests of `operation` (any when undefined) that `match` (all when
   * undefined) get `error` instead of the handler's answer.
   */
  failNext(error: FakeAwsError, times?: number, operation?: string, match?: (body: Record<string, unknown>) => boolean): void;
  close(): Promise<void>;
}

/** Static fake credentials and region for SDK clients pointed at a fake endpoint. */
export const FAKE_AWS_CLIENT_CONFIG = {
  region: "us-east-2",
  credentials: { accessKeyId: "AKIAFAKEFAKEFAKEFAKE", secretAccessKey: "fake-secret-key-for-local-tests" },
} as const;

export async function startFakeAwsJsonServer(contentType: string, handle: FakeAwsHandler): Promise<FakeAwsServer> {
  const requests: FakeAwsRequest[] = [];
  const pending: { error: FakeAwsError; left: number; operation: string | undefined; match: ((body: Record<string, unknown>) => boolean) | undefined }[] = [];

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
        const text = JSON.stringify(body);
        res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(text), "x-amzn-requestid": `fake-${requests.length}`, ...headers });
        res.end(text);
      };
      const target = String(req.headers["x-amz-target"] ?? "");
      const operation = target.slice(target.lastIndexOf(".") + 1);
      let raw = Buffer.concat(chunks);
      const encoding = req.headers["content-encoding"];
      if (encoding === "gzip") raw = gunzipSync(raw);
      let body: Record<string, unknown>;
      try {
        body = raw.length === 0 ? {} : (JSON.parse(raw.toString("utf8")) as Record<string, unknown>);
      } catch {
        send(400, { __type: "SerializationException", message: "body is not JSON" });
        return;
      }
      requests.push({ operation, target, contentType: String(req.headers["content-type"] ?? ""), contentEncoding: encoding, signed: /^AWS4-HMAC-SHA256 /.test(String(req.headers.authorization ?? "")), body });

      const sendError = (e: FakeAwsError): void =>
        send(e.status, { __type: e.type, message: e.message, Message: e.message }, e.queryError ? { "x-amzn-query-error": e.queryError } : {});
      if (req.method !== "POST" || !target.includes(".")) {
        sendError({ status: 400, type: "UnknownOperationException", message: `no X-Amz-Target operation in ${req.method} ${req.url}` });
        return;
      }
      const injected = pending.find((p) => p.left > 0 && (p.operation === undefined || p.operation === operation) && (p.match === undefined || p.match(body)));
      if (injected) {
        injected.left--;
        sendError(injected.error);
        return;
      }
      const answer = handle(operation, body);
      if ("error" in answer) sendError(answer.error);
      else send(answer.status ?? 200, answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    count: (operation) => requests.filter((r) => r.operation === operation).length,
    failNext: (error, times = 1, operation, match) => { pending.push({ error, left: times, operation, match }); },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
