/**
 * The bearer-token secrets document and the in-memory table built from it.
 *
 *   {"tokens":[{"name":"pac","sha256":"<hex>","allow":["deployment-a","team-*"]},
 *              {"name":"ci","token":"<plain token>","allow":["*"]}]}
 *
 * Plain `token` values are hashed on load and then forgotten; lookups hash the
 * presented token, find the entry by hash and confirm with a timing-safe compare.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { compileAllowList, patternProblem, type AllowCheck } from "./allow-list";
import type { Principal } from "./types";

interface TokenEntry {
  readonly hash: Buffer;
  /** What the router gets: name and allow-list only, so nothing derived from the token travels further. */
  readonly principal: Principal;
}

export interface TokenTable {
  /** Number of tokens loaded. */
  readonly size: number;
  /** The principal owning `token`, or undefined. Synchronous: one hash and one Map lookup. */
  find(token: string): Principal | undefined;
}

export function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

const HEX_SHA256 = /^[0-9a-fA-F]{64}$/;
const NAME_SYNTAX = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$/;

/** Parses and validates a secrets document. Errors name the field; they never contain a token. */
export function parseTokensDocument(text: string, origin = "tokens document"): TokenTable {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    // V8's JSON errors quote the surrounding input, which may be a token: keep only the position.
    const pos = /position (\d+)/.exec(String((err as Error).message));
    throw new Error(`${origin} is not valid JSON${pos ? ` (at position ${pos[1]})` : ""}`);
  }
  if (typeof doc !== "object" || doc === null || !Array.isArray((doc as { tokens?: unknown }).tokens)) {
    throw new Error(`${origin} must be an object {"tokens":[{"name":...,"sha256":...,"allow":[...]}]}`);
  }
  const list = (doc as { tokens: unknown[] }).tokens;
  const byHash = new Map<string, TokenEntry>();
  const names = new Set<string>();
  list.forEach((item, i) => {
    const where = `${origin}: tokens[${i}]`;
    if (typeof item !== "object" || item === null) throw new Error(`${where} must be an object`);
    const e = item as Record<string, unknown>;
    if (typeof e.name !== "string" || !NAME_SYNTAX.test(e.name)) {
      throw new Error(`${where}.name must be 1-128 characters of [A-Za-z0-9._:@/-]`);
    }
    if (names.has(e.name)) throw new Error(`${where}.name "${e.name}" is used twice: names must be unique`);
    names.add(e.name);
    const hasHash = e.sha256 !== undefined;
    const hasToken = e.token !== undefined;
    if (hasHash === hasToken) throw new Error(`${where} ("${e.name}") must have exactly one of "sha256" (hex of the token's SHA-256) or "token"`);
    let hash: Buffer;
    if (hasHash) {
      if (typeof e.sha256 !== "string" || !HEX_SHA256.test(e.sha256)) throw new Error(`${where}.sha256 must be 64 hex characters (sha256sum of the token)`);
      hash = Buffer.from(e.sha256, "hex");
    } else {
      if (typeof e.token !== "string" || e.token.length < 16) throw new Error(`${where}.token must be a string of at least 16 characters`);
      hash = sha256(e.token);
    }
    if (!Array.isArray(e.allow)) throw new Error(`${where}.allow must be an array of deployment ids or patterns like "team-*"`);
    e.allow.forEach((p, j) => {
      const problem = patternProblem(p);
      if (problem) throw new Error(`${where}.allow[${j}]: ${problem}`);
    });
    const key = hash.toString("hex");
    if (byHash.has(key)) throw new Error(`${where} ("${e.name}") has the same token as "${byHash.get(key)!.principal.name}"`);
    const allow: AllowCheck = compileAllowList(e.allow as string[]);
    byHash.set(key, { hash, principal: Object.freeze({ name: e.name, allow }) });
  });
  return tableOf(byHash);
}

function tableOf(byHash: Map<string, TokenEntry>): TokenTable {
  return {
    size: byHash.size,
    find(token) {
      const presented = sha256(token);
      const entry = byHash.get(presented.toString("hex"));
      // The Map lookup is keyed by a hash, so its timing tells nothing useful about
      // the token; the constant-time compare is the actual equality check.
      if (entry === undefined || !timingSafeEqual(entry.hash, presented)) return undefined;
      return entry.principal;
    },
  };
}
