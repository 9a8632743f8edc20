/**
 * The header blocks the frame relay writes itself, and how a decoded block is forwarded: verbatim
 * when it is stateless, re-encoded (literals, no indexing) when it used the dynamic table or a
 * header must go.
 */
import { CALLER_HEADER } from "../auth";
import { encodeGrpcMessage, HOP_COUNT_KEY, Status, type StatusCode } from "../routing";
import { encodeHeaderList, encodeLiteral, type DecodeResult, type HeaderList } from "./hpack";

const hopLiterals: Buffer[] = [];
/** `x-pixell-hops: n`, built once per n. */
export function hopLiteral(n: number): Buffer {
  return (hopLiterals[n] ??= encodeLiteral(HOP_COUNT_KEY, String(n)));
}

/** `x-pixell-caller: name`, appended to a forwarded request. */
export function callerLiteral(name: string): Buffer {
  return encodeLiteral(CALLER_HEADER, name);
}

/** A router-made status: Trailers-Only (with `:status`) or trailers after a response already started. */
export function statusBlock(code: StatusCode, message: string, withStatus: boolean): Buffer {
  const list: HeaderList = withStatus ? [":status", "200", "content-type", "application/grpc"] : [];
  list.push("grpc-status", String(code), "grpc-message", encodeGrpcMessage(message));
  return encodeHeaderList(list);
}

export const BLOCK_415 = encodeHeaderList([":status", "415", "content-type", "text/plain"]);

/** Headers the router replaces when it forwards: its own hop count, and with authentication the credential and caller name. */
export const HOPS_DROP: ReadonlySet<string> = new Set([HOP_COUNT_KEY]);
export const AUTH_DROP: ReadonlySet<string> = new Set([HOP_COUNT_KEY, "authorization", CALLER_HEADER]);

/** What to forward for a decoded block: the block itself when stateless, otherwise a stateless re-encoding. */
export function forwardable(decoded: DecodeResult, block: Buffer, skip?: ReadonlySet<string>): Buffer {
  if (decoded.usedDynamic || skip !== undefined) return encodeHeaderList(decoded.headers, skip);
  return decoded.sizeUpdateBytes > 0 ? block.subarray(decoded.sizeUpdateBytes) : block;
}

/** The grpc-status a response or trailers block carries (UNKNOWN when it has none). */
export function grpcStatusOf(h: Readonly<HeaderList>): number {
  for (let i = 0; i < h.length; i += 2) if (h[i] === "grpc-status") return Number(h[i + 1]);
  return Status.UNKNOWN;
}
