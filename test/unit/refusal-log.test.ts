/**
 * Refusal log lines (router/refusal-log.ts) and their limiter (router/refusal-limiter.ts): a flood
 * of refusals from one source leaves a few lines per code and one summary, never the credential.
 */
import { strict as assert } from "node:assert";
import { Writable } from "node:stream";
import pino from "pino";
import { RefusalLimiter, type RefusalLimits } from "../../router/refusal-limiter";
import { deploymentIdAsGiven, LOGGED_VALUE_CHARS, RefusalLog, type RefusedCall } from "../../router/refusal-log";

const LIMITS: RefusalLimits = { perKey: 3, total: 10, windowMs: 1000, maxKeys: 4 };

describe("refusal limiter (pure)", () => {
  it("writes perKey lines per (source, code) in a window, then leaves them out", () => {
    const l = new RefusalLimiter(LIMITS);
    const writes = Array.from({ length: 6 }, (_, i) => l.take("10.0.0.1", 5, i).write);
    assert.deepEqual(writes, [true, true, true, false, false, false]);
    // Another code, or another source, has its own allowance.
    assert.equal(l.take("10.0.0.1", 16, 7).write, true);
    assert.equal(l.take("10.0.0.2", 5, 8).write, true);
  });

  it("caps all lines in a window at `total`, whatever the sources", () => {
    const l = new RefusalLimiter({ ...LIMITS, maxKeys: 100 });
    let written = 0;
    for (let i = 0; i < 50; i++) if (l.take(`10.0.0.${i}`, 5, i).write) written++;
    assert.equal(written, LIMITS.total);
  });

  it("tracks at most maxKeys pairs per window: lines of further pairs are left out and counted", () => {
    const l = new RefusalLimiter(LIMITS);
    const writes = Array.from({ length: 6 }, (_, i) => l.take(`peer-${i}`, 5, i).write);
    assert.deepEqual(writes, [true, true, true, true, false, false]);
    const s = l.roll(LIMITS.windowMs + 10);
    assert.equal(s?.suppressed, 2);
  });

  it("sums up a window that left lines out when the next one starts, by code, and starts afresh", () => {
    const l = new RefusalLimiter(LIMITS);
    for (let i = 0; i < 5; i++) l.take("a", 5, i);
    for (let i = 0; i < 4; i++) l.take("a", 16, i);
    assert.equal(l.pendingUntil, 0 + LIMITS.windowMs);
    const d = l.take("a", 5, LIMITS.windowMs + 1);
    assert.equal(d.write, true, "a new window: the source may log again");
    assert.deepEqual(d.summary, { suppressed: 3, byCode: { "5": 2, "16": 1 }, keys: 2, windowSeconds: 1 });
    assert.equal(l.pendingUntil, undefined);
    assert.equal(l.roll(3 * LIMITS.windowMs), undefined, "a window that left nothing out has no summary");
  });
});

describe("refusal log lines", () => {
  function capture(): { logger: pino.Logger; lines: Array<Record<string, unknown>>; raw: string[] } {
    const raw: string[] = [];
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: "info" }, new Writable({ write(chunk: Buffer, _e, cb) { raw.push(chunk.toString()); lines.push(JSON.parse(chunk.toString())); cb(); } }));
    return { logger, lines, raw };
  }
  const refusal = (over: Partial<RefusedCall> = {}): RefusedCall => ({
    code: 16, reason: "missing or invalid credential", warn: false, answer: "grpc-status",
    headers: { "x-deployment-id": "team-a", authorization: "Bearer secret-token-0123456789" }, path: "/a.B/C", caller: undefined, peer: "192.0.2.7", ...over,
  });

  it("logs at info with code, status name, the id as given, the peer and the caller, and never the credential", () => {
    const { logger, lines, raw } = capture();
    const log = new RefusalLog(logger, LIMITS, () => 0);
    log.refused(refusal());
    log.refused(refusal({ code: 7, caller: "pac", reason: 'caller "pac" may not call deployment "team-a"' }));
    assert.equal(lines.length, 2);
    assert.deepEqual(
      { level: lines[0]!.level, msg: lines[0]!.msg, code: lines[0]!.code, status: lines[0]!.status, deploymentId: lines[0]!.deploymentId, peer: lines[0]!.peer, caller: lines[0]!.caller },
      { level: 30, msg: "call refused", code: 16, status: "UNAUTHENTICATED", deploymentId: "team-a", peer: "192.0.2.7", caller: undefined },
    );
    assert.equal(lines[1]!.caller, "pac");
    assert.equal(lines[1]!.status, "PERMISSION_DENIED");
    assert.ok(!raw.join("").includes("secret-token"), "the credential was logged");
    assert.ok(!raw.join("").includes("authorization"), "the authorization header was logged");
  });

  it("logs warnings at warn", () => {
    const { logger, lines } = capture();
    new RefusalLog(logger, LIMITS, () => 0).refused(refusal({ code: 14, warn: true }));
    assert.equal(lines[0]!.level, 40);
  });

  it("cuts a long id to LOGGED_VALUE_CHARS and reads the older id keys too", () => {
    assert.equal(deploymentIdAsGiven({ "x-deployment-id": "x".repeat(500) })!.length, LOGGED_VALUE_CHARS);
    assert.equal(deploymentIdAsGiven({ deployment_id: "old-style" }), "old-style");
    assert.equal(deploymentIdAsGiven({}), undefined);
  });

  it("keeps one caller's flood from hiding another caller behind the same proxy", () => {
    const { logger, lines } = capture();
    const log = new RefusalLog(logger, LIMITS, () => 0);
    for (let i = 0; i < 20; i++) log.refused(refusal({ code: 5, caller: "noisy", peer: "127.0.0.1" }));
    log.refused(refusal({ code: 5, caller: "quiet", peer: "127.0.0.1" }));
    assert.deepEqual(lines.map((l) => l.caller), ["noisy", "noisy", "noisy", "quiet"]);
  });

  it("sums up a flood that stopped once its window is over, from a timer", async () => {
    const { logger, lines } = capture();
    const t0 = performance.now();
    const log = new RefusalLog(logger, { ...LIMITS, windowMs: 100 }, () => performance.now() - t0);
    for (let i = 0; i < 10; i++) log.refused(refusal({ code: 5 }));
    assert.equal(lines.length, 3);
    await new Promise((r) => setTimeout(r, 400));
    log.close();
    assert.equal(lines.length, 4, JSON.stringify(lines));
    assert.equal(lines[3]!.suppressed, 7);
    assert.deepEqual(lines[3]!.byCode, { "5": 7 });
    assert.match(String(lines[3]!.msg), /not logged \(rate limit\)/);
  });
});
