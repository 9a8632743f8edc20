/**
 * Credentials for a router with authentication on: the probe sends
 * `authorization: Bearer <token>` on every Health call. In AWS the token is a Secrets
 * Manager secret, read at the start of each invocation so a rotation is picked up.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { isTimeout } from "./budget";

/** Reading the probe's token failed; the invocation fails (the token is never in the message). */
export class ProbeTokenError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ProbeTokenError";
  }
}

/**
 * The token in a secret's string: either the token itself, or JSON `{"token": "..."}`.
 * Pure; throws without echoing the secret.
 */
export function tokenFromSecretString(secretId: string, secret: string | undefined): string {
  const raw = (secret ?? "").trim();
  let token = raw;
  if (raw.startsWith("{")) {
    let doc: unknown;
    try {
      doc = JSON.parse(raw);
    } catch {
      throw new ProbeTokenError(`secret ${secretId} starts with '{' but is not JSON: store the token itself or {"token":"..."}`);
    }
    const t = (doc as { token?: unknown }).token;
    if (typeof t !== "string") throw new ProbeTokenError(`secret ${secretId} is JSON without a string "token" field: store the token itself or {"token":"..."}`);
    token = t.trim();
  }
  if (token === "" || /\s/.test(token)) {
    throw new ProbeTokenError(`secret ${secretId} holds no usable bearer token (empty or containing whitespace): store the token itself or {"token":"..."}`);
  }
  return token;
}

/** `signal` (the run's deadline) abandons the call, the SDK's retries included. */
export async function fetchBearerToken(sm: SecretsManagerClient, secretId: string, signal?: AbortSignal): Promise<string> {
  let secret: string | undefined;
  try {
    secret = (await sm.send(new GetSecretValueCommand({ SecretId: secretId }), signal ? { abortSignal: signal } : {})).SecretString;
  } catch (err) {
    const why = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    const hint = isTimeout(err, signal)
      ? "Secrets Manager did not answer in time: check the probe's network path to secretsmanager (NAT or VPC endpoint)"
      : "check PROBE_AUTH_TOKEN_SECRET and that the probe's role may call secretsmanager:GetSecretValue on it";
    throw new ProbeTokenError(`cannot read the probe's bearer token from Secrets Manager secret ${secretId} (${why}): ${hint}`, { cause: err });
  }
  return tokenFromSecretString(secretId, secret);
}
