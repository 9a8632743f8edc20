/**
 * Cost of caller authentication per call: `npm run bench:auth`.
 * Prints one JSON line per case (ns per operation, median of 5 runs). The machine's
 * load shows in the numbers; compare cases within one run, not across machines.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { BearerAuthenticator, JwtAuthenticator, compileAllowList, parseTokensDocument, sha256, type TokenSource } from "../router/auth";
import { silentLogger } from "../lib/log";

function timeSync(label: string, iterations: number, fn: (i: number) => unknown): void {
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) fn(i);
    runs.push(Number(process.hrtime.bigint() - t0) / iterations);
  }
  runs.sort((a, b) => a - b);
  process.stdout.write(`${JSON.stringify({ case: label, nsPerOp: Math.round(runs[2]), iterations })}\n`);
}

async function timeAsync(label: string, iterations: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) await fn(i);
    runs.push(Number(process.hrtime.bigint() - t0) / iterations);
  }
  runs.sort((a, b) => a - b);
  process.stdout.write(`${JSON.stringify({ case: label, nsPerOp: Math.round(runs[2]), iterations })}\n`);
}

async function main(): Promise<void> {
  // 1,000 tokens, as a large installation might have.
  const tokens = Array.from({ length: 1000 }, (_, i) => `token-${i}-${"x".repeat(32)}`);
  const table = parseTokensDocument(JSON.stringify({ tokens: tokens.map((t, i) => ({ name: `t${i}`, sha256: sha256(t).toString("hex"), allow: ["team-*", "deployment-a"] })) }));
  const source: TokenSource = { description: "bench", start: async () => undefined, current: () => table, close: async () => undefined };
  const bearer = new BearerAuthenticator(source);
  const good = { authorization: `Bearer ${tokens[500]}` };
  const bad = { authorization: `Bearer ${"y".repeat(40)}` };
  timeSync("bearer: valid token", 200_000, () => bearer.authenticate(good));
  timeSync("bearer: unknown token", 200_000, () => bearer.authenticate(bad));
  const allow = compileAllowList(["deployment-a", "team-*", "*-prod"]);
  timeSync("allow-list: glob match", 1_000_000, (i) => allow(i % 2 ? "team-search" : "billing"));

  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" };
  const server = createServer((_q, res) => res.end(JSON.stringify({ keys: [jwk] })));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  const jwt = new JwtAuthenticator({ jwksUrl: url, issuer: "iss", allowClaim: "pixell:deployments", logger: silentLogger, cacheSize: 100_000 });
  await jwt.start();
  const sign = (sub: string) => new SignJWT({ "pixell:deployments": ["team-*"] }).setProtectedHeader({ alg: "ES256", kid: "k1" }).setIssuer("iss").setSubject(sub).setExpirationTime("10m").sign(privateKey);
  const cached = { authorization: `Bearer ${await sign("cached")}` };
  await jwt.authenticate(cached);
  timeSync("jwt: cached token", 200_000, () => jwt.authenticate(cached));
  const fresh = await Promise.all(Array.from({ length: 5 * 500 }, (_, i) => sign(`s${i}`)));
  let n = 0;
  await timeAsync("jwt: first verification (ES256)", 500, () => Promise.resolve(jwt.authenticate({ authorization: `Bearer ${fresh[n++]}` })));
  await jwt.close();
  server.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
