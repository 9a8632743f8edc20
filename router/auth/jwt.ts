/**
 * JWT bearer tokens verified against a JWKS with `jose`. A verified token is
 * cached (by its SHA-256) until its `exp` (at most `maxCacheMs`), so repeat calls
 * with the same token are answered synchronously; the cache holds at most `cacheSize` tokens.
 */
import type { IncomingHttpHeaders } from "node:http2";
import { createRemoteJWKSet, jwtVerify, errors as joseErrors, type JWTPayload } from "jose";
import { LRUCache } from "lru-cache";
import type { Logger } from "../../lib/log";
import { compileAllowList, patternProblem } from "./allow-list";
import { parseBearer } from "./header";
import { sha256 } from "./tokens";
import { authorizeByAllowList, refuse, type AuthResult, type Authenticator, type Principal } from "./types";

export interface JwtAuthenticatorOptions {
  readonly jwksUrl: string;
  /** Required `iss`. */
  readonly issuer: string;
  /** Required `aud` (one of), when set. */
  readonly audience?: string;
  /** Claim holding the allow-list: an array of deployment ids or `*` patterns. */
  readonly allowClaim: string;
  /** Most verified tokens kept (oldest dropped first). */
  readonly cacheSize?: number;
  /**
   * Longest a verified token is trusted without verifying it again, even if its `exp` is later.
   * A key withdrawn from the JWKS stops working within this plus the JWKS cache age (10 minutes each by default).
   */
  readonly maxCacheMs?: number;
  /** Clock skew tolerated on exp/nbf, in seconds. */
  readonly clockToleranceSec?: number;
  /** Accepted signature algorithms; asymmetric only, so a JWKS public key can never double as an HMAC secret. */
  readonly algorithms?: string[];
  /**
   * After a JWKS fetch, how long an unknown `kid` is refused without fetching again
   * (jose's cooldown; bounds the JWKS traffic a stranger can cause). Identity providers
   * publish a new key well before signing with it, so the default of 30 s is safe.
   */
  readonly jwksCooldownMs?: number;
  readonly logger: Logger;
  /** For tests: the clock used for cache expiry (jose uses the real clock for `exp`). */
  readonly now?: () => number;
}

export const DEFAULT_JWT_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];

interface CachedPrincipal {
  readonly principal: Principal;
  readonly expiresAtMs: number;
}

export class JwtAuthenticator implements Authenticator {
  readonly mode = "jwt" as const;
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;
  /** Verified tokens by hash: bounded, least recently used evicted first, O(1) and synchronous. */
  private readonly cache: LRUCache<string, CachedPrincipal>;
  private readonly pending = new Map<string, Promise<AuthResult>>();
  private readonly now: () => number;

  constructor(private readonly options: JwtAuthenticatorOptions) {
    this.jwks = createRemoteJWKSet(new URL(options.jwksUrl), {
      timeoutDuration: 5000,
      cooldownDuration: options.jwksCooldownMs ?? 30_000,
      cacheMaxAge: 600_000,
    });
    this.cache = new LRUCache({ max: options.cacheSize ?? 10_000 });
    this.now = options.now ?? Date.now;
  }

  /** Fetches the JWKS once so a wrong URL fails at start-up rather than on the first call. */
  async start(): Promise<void> {
    try {
      await this.jwks.reload();
    } catch (err) {
      throw new Error(`cannot fetch the JWKS at ${this.options.jwksUrl}: ${(err as Error).message}; check ROUTER_AUTH_JWKS_URL`);
    }
  }

  /** Number of verified tokens currently cached (for metrics and tests). */
  get cachedTokens(): number {
    return this.cache.size;
  }

  authenticate(headers: IncomingHttpHeaders): AuthResult | Promise<AuthResult> {
    const parsed = parseBearer(headers);
    if ("refusal" in parsed) return parsed.refusal;
    const key = sha256(parsed.token).toString("base64");
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      if (hit.expiresAtMs > this.now()) return hit.principal;
      this.cache.delete(key);
    }
    let inFlight = this.pending.get(key);
    if (inFlight === undefined) {
      inFlight = this.verify(parsed.token, key).finally(() => this.pending.delete(key));
      this.pending.set(key, inFlight);
    }
    return inFlight;
  }

  readonly authorize = authorizeByAllowList;

  async close(): Promise<void> {
    this.cache.clear();
  }

  private async verify(token: string, key: string): Promise<AuthResult> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.jwks, {
        issuer: this.options.issuer,
        audience: this.options.audience,
        algorithms: this.options.algorithms ?? DEFAULT_JWT_ALGORITHMS,
        requiredClaims: ["exp"],
        clockTolerance: this.options.clockToleranceSec ?? 30,
      }));
    } catch (err) {
      return refuse(this.describeFailure(err));
    }
    const principal = this.principalOf(payload);
    if ("code" in principal) return principal;
    const expiresAtMs = Math.min((payload.exp as number) * 1000, this.now() + (this.options.maxCacheMs ?? 600_000));
    this.cache.set(key, { principal, expiresAtMs });
    return principal;
  }

  private principalOf(payload: JWTPayload): AuthResult {
    const name = typeof payload.sub === "string" && /^[\x21-\x7e]{1,128}$/.test(payload.sub) ? `jwt:${payload.sub}` : "jwt:(no sub)";
    const claim = payload[this.options.allowClaim];
    if (claim === undefined) return { name, allow: () => false };
    const patterns = typeof claim === "string" ? [claim] : claim;
    if (!Array.isArray(patterns) || patterns.some((p) => patternProblem(p) !== undefined)) {
      return refuse(`token claim "${this.options.allowClaim}" must be an array of deployment ids or patterns like "team-*"`);
    }
    return { name, allow: compileAllowList(patterns as string[]) };
  }

  /** A message for the caller: what failed, never the token or its claims' values. */
  private describeFailure(err: unknown): string {
    if (err instanceof joseErrors.JWTExpired) return "token expired: get a new one";
    if (err instanceof joseErrors.JWTClaimValidationFailed) return `token rejected: claim "${err.claim}" ${err.reason === "missing" ? "is missing" : "check failed"}`;
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) return "token signature verification failed";
    if (err instanceof joseErrors.JWKSNoMatchingKey) return "token signed by a key not in the JWKS";
    if (err instanceof joseErrors.JOSEAlgNotAllowed) return "token signature algorithm not allowed";
    if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) return "malformed JWT";
    // JWKS fetch failures are the router's problem, not the caller's: log them for the operator.
    this.options.logger.warn({ jwksUrl: this.options.jwksUrl, err: String((err as Error)?.message ?? err) }, "JWT verification failed unexpectedly");
    return "cannot verify token right now (JWKS unavailable): retry later";
  }
}
