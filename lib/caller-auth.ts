/**
 * The caller-authentication contract between the stack (infra writes ROUTER_AUTH*) and the router
 * (router/auth reads them): the modes and the rule for the claim that lists a caller's deployments.
 * Written once so the stack refuses in `pulumi preview` exactly what the router would refuse at start.
 */

/** `off`: every call is allowed; `bearer`: tokens document; `jwt`: JWTs verified against a JWKS. */
export const CALLER_AUTH_MODES = ["off", "bearer", "jwt"] as const;
export type CallerAuthMode = (typeof CALLER_AUTH_MODES)[number];

/** A JWT claim name the router reads the allowed deployments from. */
export const ALLOW_CLAIM_NAME = /^[A-Za-z0-9_.:/-]{1,128}$/;
export const ALLOW_CLAIM_RULE = "a claim name of 1-128 characters [A-Za-z0-9_.:/-], e.g. pixell:deployments";
export const DEFAULT_ALLOW_CLAIM = "pixell:deployments";
