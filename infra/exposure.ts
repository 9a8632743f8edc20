import { admitsEveryone } from "./reachability";
import { ALLOW_ANONYMOUS_INTERNET_TAG } from "./policy/policies";

/**
 * The one combination the stack refuses unless asked for by name: an A2A endpoint that is
 * internet-facing, admits every address and has no caller authentication. Anyone who learns or
 * guesses a deployment id could invoke that agent, and NOT_FOUND versus an answer tells a scanner
 * which ids exist. `pulumi preview` fails on it (config) and so does the policy pack's
 * `no-anonymous-internet-endpoint` (resources); `allowAnonymousInternet: true` lets it through,
 * with a warning on every preview. Why this and not caller auth on by default:
 * docs/decisions/secure-by-default.md.
 */

export const ALLOW_ANONYMOUS_INTERNET_KEY = "allowAnonymousInternet";
/** Put on every resource when the stack opts in, so the policy pack knows the exposure is deliberate. */
export { ALLOW_ANONYMOUS_INTERNET_TAG };

export interface Exposure {
  readonly internetFacing: boolean;
  readonly allowedCidrs: readonly string[];
  readonly callerAuth: "off" | "bearer" | "jwt";
}

export function isAnonymousInternet(e: Exposure): boolean {
  return e.internetFacing && admitsEveryone(e.allowedCidrs) && e.callerAuth === "off";
}

const WAYS_OUT = "Turn on caller authentication (pixell-a2a:callerAuth: bearer, with pixell-a2a:tlsCertificateArn so tokens never cross the internet in clear text; docs/infra.md, \"Turning on caller authentication\"), "
  + "or admit only your callers (pixell-a2a:allowedCidrs), or keep the endpoint inside the VPC (pixell-a2a:internetFacing: false)";

/** What `pulumi preview` refuses, one line per problem (empty when the config is fine). */
export function exposureProblems(e: Exposure, allowAnonymousInternet: boolean): string[] {
  if (isAnonymousInternet(e) && !allowAnonymousInternet) {
    return [`pixell-a2a:callerAuth is off while pixell-a2a:internetFacing is true and pixell-a2a:allowedCidrs (${e.allowedCidrs.join(", ")}) admits every address: anyone on the internet could call every agent by its deployment id, and tell which ids exist. ${WAYS_OUT}. To run an anonymous internet endpoint anyway, set pixell-a2a:${ALLOW_ANONYMOUS_INTERNET_KEY}: true`];
  }
  if (!isAnonymousInternet(e) && allowAnonymousInternet) {
    const why = e.callerAuth !== "off" ? `pixell-a2a:callerAuth is ${e.callerAuth}` : !e.internetFacing ? "the NLB is internal" : "pixell-a2a:allowedCidrs does not admit every address";
    return [`pixell-a2a:${ALLOW_ANONYMOUS_INTERNET_KEY} is true but the endpoint is not anonymous (${why}): remove the key, so that it cannot silently apply again if that changes`];
  }
  return [];
}

/** The warning every preview of an opted-in anonymous endpoint prints. */
export function exposureWarnings(e: Exposure): string[] {
  if (!isAnonymousInternet(e)) return [];
  return [`ANONYMOUS INTERNET ENDPOINT (pixell-a2a:${ALLOW_ANONYMOUS_INTERNET_KEY} is true): the A2A listener is internet-facing, admits every address and checks no caller, so anyone can invoke any agent whose deployment id they know or guess. ${WAYS_OUT}, then remove ${ALLOW_ANONYMOUS_INTERNET_KEY}`];
}
