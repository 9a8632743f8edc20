/**
 * The published HTTP/2 attacks of issue 13, as bounded scenarios against a router port, and the
 * measurement around each: router CPU and RSS (child process, /proc), frames that reached the
 * agent (the frame tap), what the attacker got back, and a steady client's errors meanwhile.
 * Used by test/h2spec/attacks.test.ts (small counts) and test/stress/h2-attacks.ts (issue counts).
 */
import { buildFrame, FrameType, Setting } from "../../router/h2/frames";
import { startSteadyClient } from "../helpers/steady-client";
import { rssBytes } from "../../fixtures/child-router";
import {
  Attacker, cpuMs, errorName, grpcData, headerBlockFrames, headersFrame, indexedLiteral, MiB, requestBlock, rssSampler,
  type AttackBed, type FrameCounts,
} from "./kit";

export interface Attack {
  readonly attackers: Attacker[];
  /** What was sent, e.g. "5000 streams". */
  readonly sent: string;
  /** Keep the attack up this long after the writes (for attacks that hold resources, not floods). */
  readonly holdMs?: number;
  /** Called after the settle, before the results are read (e.g. a non-reader starts reading). */
  finish?(): Promise<void>;
}

export interface Scenario {
  readonly name: string;
  run(port: number, deadline: number): Promise<Attack>;
}

const rst = (streamId: number, code: number): Buffer => {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code);
  return buildFrame(FrameType.RST_STREAM, 0, streamId, p);
};
const PING = buildFrame(FrameType.PING, 0, 0, Buffer.alloc(8, 0x70));
const EMPTY_CONTINUATION = buildFrame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(0));
const EMPTY_DATA = buildFrame(FrameType.DATA, 0, 1, Buffer.alloc(0));

/** CVE-2023-44487: HEADERS then RST_STREAM(CANCEL), `streams` times, on one connection. */
export function rapidReset(streams: number): Scenario {
  return {
    name: `rapid reset (${streams} streams)`,
    async run(port, deadline) {
      const a = await Attacker.connect(port);
      const block = requestBlock("atk");
      const n = await a.flood(streams, (i) => Buffer.concat([headersFrame(2 * i + 1, block), rst(2 * i + 1, 8)]), deadline, 500);
      return { attackers: [a], sent: `${n} streams` };
    },
  };
}

/** HEADERS without END_HEADERS, then `frames` empty CONTINUATION frames (RFC 9113 section 6.10; never END_HEADERS). */
export function emptyContinuationFlood(frames: number): Scenario {
  return {
    name: `CONTINUATION flood, empty (${frames} frames)`,
    async run(port, deadline) {
      const a = await Attacker.connect(port);
      await a.write(headersFrame(1, requestBlock("atk"), 0), deadline);
      const n = await a.flood(frames, () => EMPTY_CONTINUATION, deadline, 5000);
      return { attackers: [a], sent: `${n} frames` };
    },
  };
}

/** HEADERS without END_HEADERS, then 1-byte CONTINUATION frames until `bytes` of header block (plus a little past it). */
export function oneByteContinuationFlood(bytes: number): Scenario {
  return {
    name: `CONTINUATION flood, 1-byte (${(bytes / MiB).toFixed(2)} MiB)`,
    async run(port, deadline) {
      const a = await Attacker.connect(port);
      // A literal whose value claims `bytes` bytes, so the block is well formed as far as it goes.
      const len: number[] = [127];
      for (let v = bytes - 127; ; v >>= 7) { if (v < 128) { len.push(v); break; } len.push((v & 0x7f) | 0x80); }
      const head = Buffer.concat([requestBlock("atk"), Buffer.from([0x00, 5]), Buffer.from("x-pad"), Buffer.from(len)]);
      await a.write(headersFrame(1, head, 0), deadline);
      const one = buildFrame(FrameType.CONTINUATION, 0, 1, Buffer.from("a"));
      const n = await a.flood(bytes + 1024, () => one, deadline, 8192);
      return { attackers: [a], sent: `${n} frames` };
    },
  };
}

/**
 * HPACK bomb (RFC 7541 section 4: the dynamic table): one ~4 KB entry, then `blocks` header blocks of
 * 64 KB that reference it once per byte (about 260 MB decoded each). The attacker never acknowledges
 * the router's SETTINGS, so it may use the default 4096-byte table (RFC 9113 section 6.5.3).
 */
export function hpackBomb(blocks: number): Scenario {
  return {
    name: `HPACK bomb (${blocks} × 64 KB blocks)`,
    async run(port, deadline) {
      const a = await Attacker.connect(port, { ackSettings: false });
      const entry = indexedLiteral("x-bomb", "b".repeat(4000));
      await a.write(headerBlockFrames(1, Buffer.concat([requestBlock("atk"), entry]), true), deadline);
      const refs = Buffer.alloc(64 * 1024, 0xbe); // indexed field 62: the newest dynamic-table entry
      let n = 0;
      for (; n < blocks && Date.now() < deadline; n++) {
        if (!(await a.write(headerBlockFrames(3 + 2 * n, Buffer.concat([requestBlock("atk"), refs]), true), deadline))) break;
      }
      return { attackers: [a], sent: `${n} blocks` };
    },
  };
}

/** `pings` PINGs from a client that never reads its socket (RFC 9113 section 6.7: each asks for an ACK). */
export function nonReadingPingFlood(pings: number): Scenario {
  return {
    name: `PING flood, non-reader (${pings} PINGs)`,
    async run(port, deadline) {
      const a = await Attacker.connect(port);
      a.socket.pause();
      const n = await a.flood(pings, () => PING, deadline, 5000);
      return {
        attackers: [a], sent: `${n} PINGs`,
        // Read again, briefly, to see whether a GOAWAY was queued behind the ACKs.
        async finish() { a.socket.resume(); await a.until(() => a.closed, 2000); },
      };
    },
  };
}

/** `frames` zero-length DATA frames without END_STREAM on one open stream (no progress, no flow control cost). */
export function emptyDataFlood(frames: number): Scenario {
  return {
    name: `empty DATA flood (${frames} frames)`,
    async run(port, deadline) {
      const a = await Attacker.connect(port);
      await a.write(headersFrame(1, requestBlock("atk", "ClientStream")), deadline);
      const n = await a.flood(frames, () => EMPTY_DATA, deadline, 5000);
      return { attackers: [a], sent: `${n} frames` };
    },
  };
}

/**
 * `streams` callers of the attacked deployment that grant zero stream window and never read
 * (RFC 9113 section 5.2.2), each asking for 4 MiB, held `holdMs` while the steady client calls.
 */
export function nonReadingStreams(streams: number, holdMs: number): Scenario {
  return {
    name: `${streams} non-reading streams, same deployment`,
    async run(port, deadline) {
      const attackers: Attacker[] = [];
      for (let i = 0; i < streams && Date.now() < deadline; i++) {
        const a = await Attacker.connect(port, { settings: [[Setting.INITIAL_WINDOW_SIZE, 0]] });
        a.socket.pause();
        await a.write(Buffer.concat([headersFrame(1, requestBlock("atk", "ServerStream")), grpcData(1, "64,65536")]), deadline);
        attackers.push(a);
      }
      return { attackers, sent: `${attackers.length} streams`, holdMs };
    },
  };
}

export interface AttackResult {
  readonly scenario: string;
  readonly engine: string;
  readonly sent: string;
  readonly cpuMs: number;
  readonly rssGrowthMiB: number;
  /** Frames of the attacker's deployment that reached the agent. */
  readonly agent: FrameCounts;
  /** GOAWAY code name(s) the attacker(s) got, or "none". */
  readonly goaway: string;
  /** Attacker connections the router closed (of how many). */
  readonly closed: string;
  readonly steadyOk: number;
  readonly steadyErrors: number;
  readonly steadyFirstError: string;
  readonly steadyMaxMs: number;
  readonly seconds: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Runs one scenario against a fresh bed: a steady client on its own connection calls the `steady`
 * deployment every 20 ms (2 s deadline) from before the attack until it has settled.
 */
export async function measureAttack(bed: AttackBed, scenario: Scenario, capMs = 10_000): Promise<AttackResult> {
  const pid = bed.router.pid;
  const steady = startSteadyClient(bed.router.port, "steady", 20, 2000);
  await sleep(500);
  const okBefore = steady.ok;
  const errorsBefore = steady.failures.length;
  bed.tap.reset();
  const cpu0 = cpuMs(pid);
  const rss0 = rssBytes(pid);
  const rss = rssSampler(pid);
  const t0 = Date.now();
  const deadline = t0 + capMs;
  const attack = await scenario.run(bed.router.port, deadline);
  if (attack.holdMs !== undefined) await sleep(Math.min(attack.holdMs, Math.max(0, deadline - Date.now())));
  else {
    // Floods: until every attacker connection ended, or 2 s more (the router may still be chewing).
    const stop = Math.min(deadline, Date.now() + 2000);
    await Promise.all(attack.attackers.map((a) => a.ended(Math.max(0, stop - Date.now()))));
  }
  // Then until the router's CPU goes quiet (it may still be working through what it read).
  for (let last = cpuMs(pid), i = 0; i < 40; i++) {
    await sleep(250);
    const now = cpuMs(pid);
    if (now - last < 30) break;
    last = now;
  }
  await attack.finish?.();
  const cpu1 = cpuMs(pid);
  const peak = rss.stop();
  const steadyOk = steady.ok - okBefore;
  const failures = steady.failures.slice(errorsBefore);
  const maxMs = steady.maxMs;
  await steady.stop();
  const codes = attack.attackers.map((a) => a.goaway()).map((g) => (g ? errorName(g.code) : "none"));
  const distinct = [...new Set(codes)];
  const result: AttackResult = {
    scenario: scenario.name, engine: bed.engine, sent: attack.sent,
    cpuMs: Math.round(cpu1 - cpu0), rssGrowthMiB: +((peak - rss0) / MiB).toFixed(1),
    agent: bed.tap.counts("atk"),
    goaway: distinct.length === 1 ? distinct[0]! : distinct.map((c) => `${c}×${codes.filter((x) => x === c).length}`).join(", "),
    closed: `${attack.attackers.filter((a) => a.closed).length}/${attack.attackers.length}`,
    steadyOk, steadyErrors: failures.length, steadyFirstError: failures[0] ?? "", steadyMaxMs: Math.round(maxMs),
    seconds: +((Date.now() - t0) / 1000).toFixed(1),
  };
  for (const a of attack.attackers) a.close();
  return result;
}

export function markdownTable(rows: readonly AttackResult[]): string {
  const head = "| attack | engine | sent | router CPU ms | RSS growth MiB | reached agent (HEADERS / DATA / RST) | attacker got GOAWAY | attacker closed | steady ok / errors (slowest ms) |";
  const lines = rows.map((r) => `| ${r.scenario} | ${r.engine} | ${r.sent} | ${r.cpuMs} | ${r.rssGrowthMiB} | ${r.agent.headers} / ${r.agent.data} / ${r.agent.rst} | ${r.goaway} | ${r.closed} | ${r.steadyOk} / ${r.steadyErrors}${r.steadyErrors > 0 ? ` (${r.steadyFirstError.slice(0, 40)})` : ""} (${r.steadyMaxMs}) |`);
  return [head, "|---|---|---|---|---|---|---|---|---|", ...lines].join("\n");
}

