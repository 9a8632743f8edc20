import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { CallerAuthConfig } from "./config";
import { ROUTER_AUTH_ENV as A, type EnvVar, type RouterEnvName } from "../lib/env-contract";
/** One entry of the router's environment; containers.ts spreads these into it. */
type EnvEntry = EnvVar<RouterEnvName>;

/**
 * Caller authentication as the stack wires it: the router's ROUTER_AUTH* environment (pure), and
 * the Secrets Manager secrets the router and the probe read, created here unless the config names
 * existing ones. Secrets use the AWS-managed key (aws/secretsmanager), which needs no kms:Decrypt
 * grant; a customer-managed key would need kms:Decrypt for both roles on that key.
 */

/** What the router container needs to know, with secret ARNs resolved. */
export type RouterAuthSettings =
  | { readonly mode: "off" }
  | { readonly mode: "bearer"; readonly tokensSecretArn: string }
  | { readonly mode: "jwt"; readonly jwksUrl: string; readonly issuer: string; readonly audience?: string; readonly allowClaim?: string };

/** The same, while the tokens secret's ARN may still be an Output (a secret the stack creates). */
export type RouterAuthInput =
  | { readonly mode: "off" }
  | { readonly mode: "bearer"; readonly tokensSecretArn: pulumi.Input<string> }
  | Extract<RouterAuthSettings, { mode: "jwt" }>;

/** The router's environment keys (lib/env-contract.ts). Off: none (the router's default is off). */
export function routerAuthEnvironment(auth: RouterAuthSettings): EnvEntry[] {
  switch (auth.mode) {
    case "off":
      return [];
    case "bearer":
      return [
        { name: A.mode, value: "bearer" },
        { name: A.tokens, value: `secretsmanager:${auth.tokensSecretArn}` },
      ];
    case "jwt": {
      const env: EnvEntry[] = [
        { name: A.mode, value: "jwt" },
        { name: A.jwksUrl, value: auth.jwksUrl },
        { name: A.issuer, value: auth.issuer },
      ];
      if (auth.audience !== undefined) env.push({ name: A.audience, value: auth.audience });
      if (auth.allowClaim !== undefined) env.push({ name: A.allowClaim, value: auth.allowClaim });
      return env;
    }
  }
}

/**
 * The first value of a tokens secret the stack creates: a valid document with no tokens, so the
 * router starts (it refuses to start on a secret without a value) and refuses every caller until
 * the operator puts the real document. The stack never overwrites the operator's value.
 */
export const EMPTY_TOKENS_DOCUMENT = JSON.stringify({ tokens: [] });

export interface CallerAuthSecretsArgs {
  readonly auth: CallerAuthConfig;
  /** Prefix of the created secrets' names, e.g. `pixell-a2a/dev`. */
  readonly namePrefix: string;
  readonly tags?: Record<string, string>;
}

export class CallerAuthSecrets extends pulumi.ComponentResource {
  /** The router's tokens document (bearer mode only). */
  readonly routerTokensSecretArn?: pulumi.Output<string>;
  /** The probe's token (bearer and jwt modes). */
  readonly probeTokenSecretArn?: pulumi.Output<string>;
  readonly createdSecrets: aws.secretsmanager.Secret[] = [];

  constructor(name: string, args: CallerAuthSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pixell:a2a:CallerAuthSecrets", name, {}, opts);
    const auth = args.auth;
    if (auth.mode === "bearer") {
      this.routerTokensSecretArn = auth.tokensSecretArn !== undefined
        ? pulumi.output(auth.tokensSecretArn)
        : this.createSecret(`${name}-router-tokens`, `${args.namePrefix}/router-tokens`,
          "Tokens document of the A2A router (ROUTER_AUTH_TOKENS): {\"tokens\":[{\"name\",\"sha256\",\"allow\"}]}", args.tags, EMPTY_TOKENS_DOCUMENT);
    }
    if (auth.mode !== "off") {
      this.probeTokenSecretArn = auth.probeTokenSecretArn !== undefined
        ? pulumi.output(auth.probeTokenSecretArn)
        : this.createSecret(`${name}-probe-token`, `${args.namePrefix}/probe-token`,
          "Bearer token the A2A probe Lambda sends (PROBE_AUTH_TOKEN_SECRET); its sha256 must be in the router's tokens with allow [\"*\"]", args.tags);
    }
    this.registerOutputs({ routerTokensSecretArn: this.routerTokensSecretArn, probeTokenSecretArn: this.probeTokenSecretArn });
  }

  private createSecret(resourceName: string, secretName: string, description: string, tags: Record<string, string> | undefined, initialValue?: string): pulumi.Output<string> {
    const secret = new aws.secretsmanager.Secret(resourceName, {
      name: secretName,
      description,
      // Default: the AWS-managed key, so the roles need no kms:Decrypt grant.
      recoveryWindowInDays: 7,
      tags,
    }, { parent: this });
    this.createdSecrets.push(secret);
    if (initialValue !== undefined) {
      const version = new aws.secretsmanager.SecretVersion(resourceName, {
        secretId: secret.id,
        secretString: initialValue,
      }, { parent: this, ignoreChanges: ["secretString"] });
      // The ARN carries the version as a dependency: nothing that reads the secret starts before it has a value.
      return pulumi.all([secret.arn, version.id]).apply(([arn]) => arn);
    }
    return secret.arn;
  }
}
