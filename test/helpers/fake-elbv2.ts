/**
 * A local Elastic Load Balancing (v2) endpoint for DescribeTargetHealth, speaking the AWS Query
 * protocol that @aws-sdk/client-elastic-load-balancing-v2 uses: a form-encoded POST
 * (`Action=DescribeTargetHealth&Version=2015-12-01&TargetGroupArn=...`), an XML answer in the
 * `http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/` namespace, and errors as
 * `<ErrorResponse><Error><Type/><Code/><Message/></Error></ErrorResponse>`
 * (Elastic Load Balancing API Reference, DescribeTargetHealth and "Common Errors").
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import { FAKE_AWS_CLIENT_CONFIG } from "./fake-aws";

export interface FakeTarget {
  readonly id: string;
  readonly port: number;
  readonly state: "initial" | "healthy" | "unhealthy" | "unhealthy.draining" | "unused" | "draining" | "unavailable";
  readonly zone?: string;
}

export interface FakeElbv2 {
  readonly url: string;
  readonly targetGroupArn: string;
  setTargets(targets: readonly FakeTarget[]): void;
  /** Form parameters of each request received. */
  readonly requests: Record<string, string>[];
  /** The next `times` requests get this error code (HTTP 400). */
  failNext(code: string, message: string, times?: number): void;
  client(): ElasticLoadBalancingV2Client;
  close(): Promise<void>;
}

export const FAKE_TARGET_GROUP_ARN = "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/a2a-a2a/0123456789abcdef";

const xml = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export async function startFakeElbv2(initial: readonly FakeTarget[] = []): Promise<FakeElbv2> {
  let targets = initial;
  const requests: Record<string, string>[] = [];
  const failures: { code: string; message: string; left: number }[] = [];
  let n = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const params = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString("utf8")));
      requests.push(params);
      const requestId = `fake-elb-${++n}`;
      const send = (status: number, body: string): void => {
        res.writeHead(status, { "content-type": "text/xml", "x-amzn-requestid": requestId, "content-length": Buffer.byteLength(body) });
        res.end(body);
      };
      const error = (code: string, message: string): void =>
        send(400, `<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${xml(message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`);
      const injected = failures.find((f) => f.left > 0);
      if (injected) {
        injected.left--;
        error(injected.code, injected.message);
        return;
      }
      if (params.Action !== "DescribeTargetHealth" || params.Version !== "2015-12-01") {
        error("InvalidAction", `fake ELB serves DescribeTargetHealth 2015-12-01 only, not ${params.Action} ${params.Version}`);
        return;
      }
      if (params.TargetGroupArn !== FAKE_TARGET_GROUP_ARN) {
        error("TargetGroupNotFound", `One or more target groups not found`);
        return;
      }
      const members = targets.map((t) => `<member><Target><Id>${xml(t.id)}</Id><Port>${t.port}</Port>${t.zone ? `<AvailabilityZone>${t.zone}</AvailabilityZone>` : ""}</Target><HealthCheckPort>15021</HealthCheckPort><TargetHealth><State>${t.state}</State></TargetHealth></member>`).join("");
      send(200, `<DescribeTargetHealthResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><DescribeTargetHealthResult><TargetHealthDescriptions>${members}</TargetHealthDescriptions></DescribeTargetHealthResult><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></DescribeTargetHealthResponse>`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    targetGroupArn: FAKE_TARGET_GROUP_ARN,
    setTargets: (t) => { targets = t; },
    requests,
    failNext: (code, message, times = 1) => { failures.push({ code, message, left: times }); },
    client: () => new ElasticLoadBalancingV2Client({ ...FAKE_AWS_CLIENT_CONFIG, endpoint: url, maxAttempts: 1 }),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
