/**
 * Auth configuration from environment variables (and equivalent flags), as a
 * typed, validated value. Every error names the key and what it accepts.
 */
import { ROUTER_AUTH_ENV } from "../../lib/env-contract";
import { ALLOW_CLAIM_NAME, ALLOW_CLAIM_RULE, CALLER_AUTH_MODES as MODES, DEFAULT_ALLOW_CLAIM } from "../../lib/caller-auth";
import { wholeNumber } from "../../lib/settings";

export type TokensLocation = { readonly kind: "file"; readonly path: string } | { readonly kind: "secretsmanager"; readonly secretId: string };

export type AuthConfig =
  | { readonly mode: "off" }
  | { readonly mode: "bearer"; readonly tokens: TokensLocation; readonly refreshMs: number }
  | {
      readonly mode: "jwt";
      readonly jwksUrl: string;
      readonly issuer: string;
      readonly audience?: string;
      readonly allowClaim: string;
      readonly cacheSize: number;
    };

/** Environment keys, with the command-line flag the router accepts for each. */
export const AUTH_ENV_FLAGS = {
  [ROUTER_AUTH_ENV.mode]: "auth",
  [ROUTER_AUTH_ENV.tokens]: "auth-tokens",
  [ROUTER_AUTH_ENV.refreshMs]: "auth-refresh-ms",
  [ROUTER_AUTH_ENV.jwksUrl]: "auth-jwks-url",
  [ROUTER_AUTH_ENV.issuer]: "auth-issuer",
  [ROUTER_AUTH_ENV.audience]: "auth-audience",
  [ROUTER_AUTH_ENV.allowClaim]: "auth-allow-claim",
  [ROUTER_AUTH_ENV.jwtCacheSize]: "auth-jwt-cache-size",
} as const;
export type AuthEnvKey = keyof typeof AUTH_ENV_FLAGS;

export const AUTH_DEFAULTS = {
  refreshMs: 60_000,
  allowClaim: DEFAULT_ALLOW_CLAIM,
  cacheSize: 10_000,
} as const;

const BEARER_ONLY: AuthEnvKey[] = ["ROUTER_AUTH_TOKENS", "ROUTER_AUTH_REFRESH_MS"];
const JWT_ONLY: AuthEnvKey[] = ["ROUTER_AUTH_JWKS_URL", "ROUTER_AUTH_ISSUER", "ROUTER_AUTH_AUDIENCE", "ROUTER_AUTH_ALLOW_CLAIM", "ROUTER_AUTH_JWT_CACHE_SIZE"];

export class AuthConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AuthConfigError";
  }
}

/**
 * Reads the auth keys. `flags` (keyed by flag name without dashes, e.g. `{"auth": "jwt"}`)
 * override the environment. Unset or empty ROUTER_AUTH means off (local mode).
 */
export function parseAuthConfig(env: Readonly<Record<string, string | undefined>>, flags: Readonly<Record<string, string | undefined>> = {}): AuthConfig {
  const get = (key: AuthEnvKey): string | undefined => {
    const v = flags[AUTH_ENV_FLAGS[key]] ?? env[key];
    return v === undefined || v.trim() === "" ? undefined : v.trim();
  };
  const modeValue = get("ROUTER_AUTH") ?? "off";
  if (!isMode(modeValue)) {
    throw new AuthConfigError(`ROUTER_AUTH=${JSON.stringify(modeValue.slice(0, 64))} is not valid: accepted values are ${MODES.join(", ")}`);
  }
  const mode = modeValue;
  if (mode === "off") return { mode: "off" };

  const misplaced = (mode === "bearer" ? JWT_ONLY : BEARER_ONLY).filter((k) => get(k) !== undefined);
  if (misplaced.length > 0) {
    throw new AuthConfigError(`${misplaced.join(", ")} ${misplaced.length === 1 ? "is" : "are"} not used when ROUTER_AUTH=${mode}: remove ${misplaced.length === 1 ? "it" : "them"} or set ROUTER_AUTH=${mode === "bearer" ? "jwt" : "bearer"}`);
  }

  if (mode === "bearer") {
    const tokens = get("ROUTER_AUTH_TOKENS");
    if (tokens === undefined) throw new AuthConfigError("ROUTER_AUTH_TOKENS is required when ROUTER_AUTH=bearer: set it to file:PATH or secretsmanager:SECRET_ID");
    return { mode, tokens: parseTokensLocation(tokens), refreshMs: positiveInt("ROUTER_AUTH_REFRESH_MS", get("ROUTER_AUTH_REFRESH_MS"), AUTH_DEFAULTS.refreshMs, 1000) };
  }

  const jwksUrl = get("ROUTER_AUTH_JWKS_URL");
  if (jwksUrl === undefined) throw new AuthConfigError("ROUTER_AUTH_JWKS_URL is required when ROUTER_AUTH=jwt: set it to the https URL of your identity provider's JWKS");
  checkJwksUrl(jwksUrl);
  const issuer = get("ROUTER_AUTH_ISSUER");
  if (issuer === undefined) throw new AuthConfigError("ROUTER_AUTH_ISSUER is required when ROUTER_AUTH=jwt: set it to the exact `iss` your tokens carry");
  const allowClaim = get("ROUTER_AUTH_ALLOW_CLAIM") ?? AUTH_DEFAULTS.allowClaim;
  if (!ALLOW_CLAIM_NAME.test(allowClaim)) {
    throw new AuthConfigError(`ROUTER_AUTH_ALLOW_CLAIM=${JSON.stringify(allowClaim.slice(0, 64))} is not valid: expected ${ALLOW_CLAIM_RULE}`);
  }
  return {
    mode,
    jwksUrl,
    issuer,
    audience: get("ROUTER_AUTH_AUDIENCE"),
    allowClaim,
    cacheSize: positiveInt("ROUTER_AUTH_JWT_CACHE_SIZE", get("ROUTER_AUTH_JWT_CACHE_SIZE"), AUTH_DEFAULTS.cacheSize, 1),
  };
}

function isMode(value: string): value is (typeof MODES)[number] {
  return (MODES as readonly string[]).includes(value);
}

function parseTokensLocation(value: string): TokensLocation {
  const colon = value.indexOf(":");
  const scheme = colon < 0 ? "" : value.slice(0, colon);
  const rest = colon < 0 ? "" : value.slice(colon + 1);
  if (scheme === "file" && rest !== "") return { kind: "file", path: rest };
  if (scheme === "secretsmanager" && rest !== "") return { kind: "secretsmanager", secretId: rest };
  throw new AuthConfigError(`ROUTER_AUTH_TOKENS=${JSON.stringify(value.slice(0, 200))} is not valid: accepted values are file:PATH or secretsmanager:SECRET_ID (a name or ARN)`);
}

function checkJwksUrl(value: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AuthConfigError(`ROUTER_AUTH_JWKS_URL=${JSON.stringify(value.slice(0, 200))} is not a URL: expected https://.../jwks.json`);
  }
  const loopback = url.hostname === "127.0.0.1" || url.hostname === "localhost" || url.hostname === "[::1]";
  // Keys fetched over plain HTTP could be swapped in transit; only loopback (tests, sidecars) may use it.
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    throw new AuthConfigError(`ROUTER_AUTH_JWKS_URL must use https (http is accepted for 127.0.0.1/localhost only), got ${url.protocol}`);
  }
}

function positiveInt(key: AuthEnvKey, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  try {
    return wholeNumber(key, value.slice(0, 64), min, Number.MAX_SAFE_INTEGER);
  } catch (err) {
    throw new AuthConfigError((err as Error).message);
  }
}
