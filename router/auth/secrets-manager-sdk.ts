/**
 * The Secrets Manager SDK, loaded on first use: only a router whose bearer tokens live in Secrets
 * Manager needs it, and loading it costs every other router ~12 MiB of RSS (docs/decisions/router-memory.md).
 * A typed lazy require: esbuild keeps the package's init behind the call, Node caches the module.
 */
export type SecretsManagerSdk = typeof import("@aws-sdk/client-secrets-manager");

export function secretsManagerSdk(): SecretsManagerSdk {
  return require("@aws-sdk/client-secrets-manager") as SecretsManagerSdk;
}
