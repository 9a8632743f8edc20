/**
 * Nanoseconds per readRequestInfo() call over a realistic gRPC request header list (what grpc-js
 * sends, with a JWT and a deployment id). A micro-benchmark: compare before/after on the same machine.
 *   npx tsx bench/request-info-ns.ts [iterations]
 */
import { readRequestInfo } from "../router/h2/request-info";
import type { HeaderList } from "../router/h2/hpack";

const jwt = "Bearer " + "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9." + "a".repeat(420) + "." + "b".repeat(340);
const list: HeaderList = [
  ":method", "POST", ":scheme", "http", ":path", "/pixell.agent.AgentService/Invoke", ":authority", "router.internal:8080",
  "content-type", "application/grpc", "te", "trailers", "grpc-timeout", "4999m", "grpc-accept-encoding", "identity,deflate,gzip",
  "user-agent", "grpc-node-js/1.12.6", "x-deployment-id", "dep-7f3a9c21-demo", "authorization", jwt, "x-request-id", "9b2f6a0e-1c4d-4e0b-8a57-3f1d2e6c7b90",
];

const n = Number(process.argv[2] ?? 2_000_000);
let sink = 0;
for (let i = 0; i < 200_000; i++) sink += readRequestInfo(list).headerListBytes; // warm up (JIT)
const runs: number[] = [];
for (let r = 0; r < 5; r++) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink += readRequestInfo(list).headerListBytes;
  runs.push(Number(process.hrtime.bigint() - t0) / n);
}
runs.sort((a, b) => a - b);
process.stdout.write(`readRequestInfo: ${list.length / 2} fields, median ${runs[2]!.toFixed(1)} ns/call (min ${runs[0]!.toFixed(1)}, max ${runs[4]!.toFixed(1)}) [${sink > 0 ? "ok" : ""}]\n`);
