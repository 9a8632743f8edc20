/**
 * Routing decisions as plain functions: which deployment a call is for, and
 * whether it may be routed at all. No I/O here; the proxy calls these per call.
 */
import type { IncomingHttpHeaders } from "node:http2";
import { isValidDeploymentId } from "../registry/types";

/** gRPC status codes the router produces itself (the agent's own codes pass through untouched). */
export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;
export type StatusCode = (typeof Status)[keyof typeof Status];

/** Metadata keys read for the deployment id, in order: PAR's older router used the last two. */
export const DEPLOYMENT_ID_KEYS = ["x-deployment-id", "deployment-id", "deployment_id"] as const;

/** Counts router hops so two routers pointing at each other cannot loop a call forever. */
export const HOP_COUNT_KEY = "x-pixell-hops";

export interface RoutingError {
  readonly code: StatusCode;
  readonly message: string;
}

export type DeploymentIdResult = { readonly id: string } | { readonly error: RoutingError };

function firstValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Reads and validates the deployment id of a call from its request headers. */
export function extractDeploymentId(headers: IncomingHttpHeaders): DeploymentIdResult {
  let raw: string | undefined;
  for (const key of DEPLOYMENT_ID_KEYS) {
    raw = firstValue(headers[key]);
    if (raw !== undefined) break;
  }
  if (raw === undefined || raw === "") {
    return { error: { code: Status.INVALID_ARGUMENT, message: "missing x-deployment-id metadata: set it to the id of the deployment to call" } };
  }
  if (!isValidDeploymentId(raw)) {
    // Never echo more than a bounded, printable prefix of what the caller sent.
    const shown = JSON.stringify(raw.slice(0, 64));
    return {
      error: {
        code: Status.INVALID_ARGUMENT,
        message: `malformed x-deployment-id ${shown}: expected 1-128 characters of [A-Za-z0-9._-], starting with a letter or digit`,
      },
    };
  }
  return { id: raw };
}

const TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/**
 * Parses a `grpc-timeout` header (gRPC over HTTP/2: 1-8 digits and a unit of H M S m u n)
 * into milliseconds. Returns undefined when it is malformed.
 */
export function parseGrpcTimeout(value: string): number | undefined {
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  return m ? Number(m[1]) * TIMEOUT_UNIT_MS[m[2]!]! : undefined;
}

/** Percent-encodes a status message as `grpc-message` requires (bytes outside 0x20-0x7E, and '%'). */
export function encodeGrpcMessage(message: string): string {
  if (/^[\x20-\x24\x26-\x7e]*$/.test(message)) return message;
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : "%" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** The hop count a call arrived with (0 when absent or unreadable: a client cannot lower it below what routers add). */
export function readHopCount(headers: IncomingHttpHeaders): number {
  const n = Number(firstValue(headers[HOP_COUNT_KEY]));
  return Number.isInteger(n) && n > 0 ? n : 0;
}

/** The most request metadata the router forwards (HTTP/2's measure: name + value + 32 bytes per field). */
export const MAX_HEADER_LIST_BYTES = 16 * 1024;

/** A header list's size as HTTP/2 counts it (RFC 9113 6.5.2), from Node's flat `[name, value, ...]` array. */
export function headerListSize(rawHeaders: readonly string[]): number {
  let size = 0;
  for (let i = 0; i < rawHeaders.length; i++) size += rawHeaders[i]!.length;
  return size + 16 * rawHeaders.length; // 32 per field, two array entries per field
}

/** What a routable call asked for. */
export interface RouteRequest {
  readonly id: string;
  /** Routers the call already passed. */
  readonly hops: number;
  /** The call's deadline from grpc-timeout, in ms; 0 when it has none. */
  readonly timeoutMs: number;
}

/** A refusal, and whether it is worth a warning (it points at a misconfiguration, not a bad client). */
export type RouteRefusal = { readonly error: RoutingError; readonly warn: boolean };

/**
 * Everything the router decides from a call's headers before looking the id up, shared by both
 * engines: the deployment id, the loop guard, the deadline.
 */
export function decideRoute(headers: IncomingHttpHeaders, maxHops: number): RouteRequest | RouteRefusal {
  const parsed = extractDeploymentId(headers);
  if ("error" in parsed) return { error: parsed.error, warn: false };
  const id = parsed.id;
  const hops = readHopCount(headers);
  if (hops >= maxHops) {
    return {
      error: {
        code: Status.FAILED_PRECONDITION,
        message: `routing loop: the call for deployment ${id} already passed ${hops} routers (${HOP_COUNT_KEY}); ` +
          "a registry entry probably points at a router instead of an agent",
      },
      warn: true,
    };
  }
  let timeoutMs = 0;
  const timeoutHeader = firstValue(headers["grpc-timeout"]);
  if (timeoutHeader !== undefined) {
    const ms = parseGrpcTimeout(timeoutHeader);
    if (ms === undefined) {
      return {
        error: { code: Status.INVALID_ARGUMENT, message: `malformed grpc-timeout ${JSON.stringify(timeoutHeader.slice(0, 32))}: expected 1-8 digits and a unit of H, M, S, m, u or n` },
        warn: false,
      };
    }
    timeoutMs = ms;
  }
  return { id, hops, timeoutMs };
}

/** The refusal for request metadata over the limit, or undefined when it fits. */
export function metadataTooLarge(headerListBytes: number): RoutingError | undefined {
  if (headerListBytes <= MAX_HEADER_LIST_BYTES) return undefined;
  return { code: Status.RESOURCE_EXHAUSTED, message: `request metadata is ${headerListBytes} bytes, over the router's limit of ${MAX_HEADER_LIST_BYTES}: send less metadata` };
}
