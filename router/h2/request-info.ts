/**
 * What the frame relay reads of a request's decoded header list, in one pass: the fields the call
 * policy needs, RFC 9113 section 8 validity (router/h2/field-rules.ts), and the list's size. Everything
 * else is forwarded unread. Known names are matched by the switch (valid by construction); only other
 * names go through the name-character check.
 */
import { CALLER_HEADER } from "../auth";
import type { CallRequest } from "../call-policy";
import {
  BAD_VALUE_RULE, badContentLengthRule, connectionSpecificRule, duplicatePseudoRule, MISSING_METHOD_RULE, MISSING_PATH_RULE, MISSING_SCHEME_RULE,
  nameRule, parseContentLength, pseudoAfterRegularRule, teRule, unknownPseudoRule, valueRule,
} from "./field-rules";
import { HOP_COUNT_KEY } from "../routing";
import type { HeaderList } from "./header-list";

export interface RequestInfo extends CallRequest {
  method: string | undefined;
  path: string | undefined;
  contentType: string | undefined;
  hasHops: boolean;
  /** The caller sent x-pixell-caller, which only the router may set. */
  hasCaller: boolean;
  /** The RFC 9113 section 8 rule the request breaks (a stream error: reset, never forwarded), or undefined. */
  malformed: string | undefined;
  /** content-length when present (RFC 9113 8.1.1: DATA must add up to it), else -1. */
  contentLength: number;
  headerListBytes: number;
  /** Only the keys decideRoute and the authenticator read. */
  headers: Record<string, string>;
}

// Bits for the request pseudo-headers seen (RFC 9113 8.3.1: each at most once).
const METHOD = 1;
const SCHEME = 2;
const PATH = 4;
const AUTHORITY = 8;

/**
 * `badValueAt`: where the decoder found the first invalid value (DecodeResult.badValueAt, -1 for none);
 * without it each value is checked here.
 */
export function readRequestInfo(h: Readonly<HeaderList>, badValueAt?: number): RequestInfo {
  const info: RequestInfo = { method: undefined, path: undefined, contentType: undefined, hasHops: false, hasCaller: false, malformed: undefined, contentLength: -1, headerListBytes: 0, headers: {} };
  let seen = 0;
  let regular = false;
  let bad: string | undefined;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    const value = h[i + 1]!;
    info.headerListBytes += name.length + value.length + 32;
    if (badValueAt === undefined ? valueRule(value) !== undefined : i === badValueAt) {
      bad = BAD_VALUE_RULE;
      break;
    }
    let pseudo = 0;
    switch (name) {
      case ":method": pseudo = METHOD; info.method = value; break;
      case ":scheme": pseudo = SCHEME; break;
      case ":path": pseudo = PATH; info.path = value; break;
      case ":authority": pseudo = AUTHORITY; break;
      case "content-type": info.contentType = value; break;
      case "te": bad = teRule(value); break;
      case HOP_COUNT_KEY: info.hasHops = true; info.headers[name] ??= value; break;
      case "grpc-timeout": case "x-deployment-id": case "deployment-id": case "deployment_id": case "authorization":
        info.headers[name] ??= value;
        break;
      case CALLER_HEADER: info.hasCaller = true; break;
      // Sent by every gRPC client: known valid names skip the character check.
      case "user-agent": case "grpc-accept-encoding": case "grpc-encoding": break;
      case "content-length": {
        const n = parseContentLength(value);
        if (n < 0 || (info.contentLength >= 0 && n !== info.contentLength)) bad = badContentLengthRule(value);
        else info.contentLength = n;
        break;
      }
      // RFC 9113 8.2.2: HTTP/2 carries no connection-specific fields.
      case "connection": case "keep-alive": case "proxy-connection": case "transfer-encoding": case "upgrade":
        bad = connectionSpecificRule(name);
        break;
      // :status and anything else with a colon is not a request pseudo-header (RFC 9113 8.3).
      default: bad = name.charCodeAt(0) === 0x3a ? unknownPseudoRule(name, "request") : nameRule(name); break;
    }
    if (bad !== undefined) break;
    if (pseudo === 0) regular = true;
    else if (regular) { bad = pseudoAfterRegularRule(name); break; }
    else if ((seen & pseudo) !== 0) { bad = duplicatePseudoRule(name); break; }
    else seen |= pseudo;
  }
  // RFC 9113 8.3.1 (8.5: CONNECT has neither :scheme nor :path; it is not gRPC and gets 415).
  if (bad === undefined) {
    if ((seen & METHOD) === 0) bad = MISSING_METHOD_RULE;
    else if (info.method !== "CONNECT") {
      if ((seen & SCHEME) === 0) bad = MISSING_SCHEME_RULE;
      else if (info.path === undefined || info.path === "") bad = MISSING_PATH_RULE;
    }
  }
  info.malformed = bad;
  return info;
}

/** Before a call's headers are read. */
export const NO_REQUEST: RequestInfo = { method: undefined, path: undefined, contentType: undefined, hasHops: false, hasCaller: false, malformed: undefined, contentLength: -1, headerListBytes: 0, headers: {} };
