/**
 * What an agent may see of the caller. The caller's credential is for the router only:
 * forwarded, it would let the agent's code call every deployment the credential allows.
 * The agent gets the principal's name instead, in a header the caller cannot set.
 */
import type { IncomingHttpHeaders } from "node:http2";
import type { Principal } from "./types";

/** Set by the router to the authenticated principal's name; any value the caller sent is replaced. */
export const CALLER_HEADER = "x-pixell-caller";

/** Removes the credential and stamps the caller's name, in place (the proxy forwards this object). */
export function prepareForwardedHeaders(headers: IncomingHttpHeaders, principal: Principal | undefined): IncomingHttpHeaders {
  delete headers.authorization;
  delete headers[CALLER_HEADER];
  if (principal !== undefined) headers[CALLER_HEADER] = principal.name;
  return headers;
}
