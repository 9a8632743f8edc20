/**
 * What the frame relay reads of a request's decoded header list, in one pass: the fields the call
 * policy needs, field validity, and the list's size. Everything else is forwarded unread.
 */
import { CALLER_HEADER } from "../auth";
import type { CallRequest } from "../call-policy";
import { HOP_COUNT_KEY } from "../routing";
import type { HeaderList } from "./hpack";

export interface RequestInfo extends CallRequest {
  method: string | undefined;
  path: string | undefined;
  contentType: string | undefined;
  hasHops: boolean;
  /** The caller sent x-pixell-caller, which only the router may set. */
  hasCaller: boolean;
  /** A field value breaks RFC 9113 8.2.1 (NUL, CR or LF, or whitespace at either end). */
  malformed: boolean;
  headerListBytes: number;
  /** Only the keys decideRoute and the authenticator read. */
  headers: Record<string, string>;
}

/** A field value with NUL, CR or LF, or with whitespace at either end (RFC 9113 8.2.1). */
const MALFORMED_VALUE = /[\0\r\n]|^[ \t]|[ \t]$/;

export function readRequestInfo(h: HeaderList): RequestInfo {
  const info: RequestInfo = { method: undefined, path: undefined, contentType: undefined, hasHops: false, hasCaller: false, malformed: false, headerListBytes: 0, headers: {} };
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    const value = h[i + 1]!;
    info.headerListBytes += name.length + value.length + 32;
    if (MALFORMED_VALUE.test(value)) info.malformed = true;
    switch (name) {
      case ":method": info.method = value; break;
      case ":path": info.path = value; break;
      case "content-type": info.contentType = value; break;
      case HOP_COUNT_KEY: info.hasHops = true; info.headers[name] ??= value; break;
      case "grpc-timeout": case "x-deployment-id": case "deployment-id": case "deployment_id": case "authorization":
        info.headers[name] ??= value;
        break;
      case CALLER_HEADER: info.hasCaller = true; break;
      default: break;
    }
  }
  return info;
}

/** Before a call's headers are read. */
export const NO_REQUEST: RequestInfo = readRequestInfo([]);
