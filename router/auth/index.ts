/**
 * Caller authentication and authorization for the router (optional; off in local mode).
 *
 *   parseAuthConfig(env, flags)   ROUTER_AUTH* keys -> AuthConfig          (config.ts)
 *   buildAuthenticator(config)    AuthConfig -> a started Authenticator    (this file)
 *   Authenticator                 authenticate(headers) then authorize(principal, id)  (types.ts)
 *   BearerAuthenticator           static tokens from a file or Secrets Manager  (bearer.ts, tokens.ts, token-sources.ts)
 *   JwtAuthenticator              JWTs verified against a JWKS with jose   (jwt.ts)
 *   compileAllowList              exact ids and `*` globs                   (allow-list.ts)
 *   parseBearer                   the `authorization` metadata              (header.ts)
 *   prepareForwardedHeaders       drop the credential, name the caller for the agent  (forward.ts)
 */
import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { silentLogger, type Logger } from "../../lib/log";
import { BearerAuthenticator } from "./bearer";
import type { AuthConfig } from "./config";
import { JwtAuthenticator } from "./jwt";
import { secretsManagerSdk } from "./secrets-manager-sdk";
import { FileTokenSource, SecretsManagerTokenSource, type TokenSource } from "./token-sources";
import type { Authenticator, Principal } from "./types";

export * from "./types";
export * from "./config";
export { compileAllowList, patternProblem } from "./allow-list";
export { parseBearer, MAX_TOKEN_LENGTH } from "./header";
export { parseTokensDocument, sha256, type TokenTable } from "./tokens";
export { FileTokenSource, SecretsManagerTokenSource, type TokenSource } from "./token-sources";
export { BearerAuthenticator } from "./bearer";
export { CALLER_HEADER, prepareForwardedHeaders } from "./forward";
export { JwtAuthenticator } from "./jwt";

export interface BuildAuthenticatorOptions {
  readonly logger?: Logger;
  /** Injected for tests and for sharing one client; by default one is made from the environment's region and credentials. */
  readonly secretsManager?: SecretsManagerClient;
  /** How often a tokens file is polled for changes. */
  readonly filePollMs?: number;
}

const ANONYMOUS: Principal = { name: "anonymous", allow: () => true };

/** Every call is allowed: the local-mode default. */
export const allowAllAuthenticator: Authenticator = {
  mode: "off",
  authenticate: () => ANONYMOUS,
  authorize: () => undefined,
  close: async () => undefined,
};

/**
 * Builds and starts the authenticator for `config`. Rejects, saying what to fix,
 * when its credentials cannot be loaded: a router that cannot check callers must
 * not become ready.
 */
export async function buildAuthenticator(config: AuthConfig, options: BuildAuthenticatorOptions = {}): Promise<Authenticator> {
  const logger = options.logger ?? silentLogger;
  switch (config.mode) {
    case "off":
      return allowAllAuthenticator;
    case "bearer": {
      const source: TokenSource =
        config.tokens.kind === "file"
          ? new FileTokenSource(config.tokens.path, logger, { pollMs: options.filePollMs })
          : new SecretsManagerTokenSource(config.tokens.secretId, options.secretsManager ?? new (secretsManagerSdk().SecretsManagerClient)({}), logger, {
              refreshMs: config.refreshMs,
              ownsClient: options.secretsManager === undefined,
            });
      await source.start();
      return new BearerAuthenticator(source);
    }
    case "jwt": {
      const jwt = new JwtAuthenticator({ ...config, logger });
      await jwt.start();
      return jwt;
    }
  }
}
