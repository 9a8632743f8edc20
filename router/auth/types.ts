/**
 * The contract between the router and caller authentication. The router calls
 * `authenticate` before any registry lookup and `authorize` once it knows the
 * deployment id. Both answer synchronously whenever they can: the bearer-token
 * path never returns a Promise, the JWT path only on a cache miss.
 */
import type { CallerAuthMode } from "../../lib/caller-auth";
import type { IncomingHttpHeaders } from "node:http2";
import { Status } from "../routing";

/** Who is calling, and which deployments they may call. */
export interface Principal {
  /** A name for logs and metrics (the token's configured name, or the JWT's subject). Never a credential. */
  readonly name: string;
  readonly allow: (deploymentId: string) => boolean;
}

/** A call without valid credentials. */
export interface AuthRefusal {
  readonly code: typeof Status.UNAUTHENTICATED;
  readonly message: string;
}

/** A caller asking for a deployment their credential does not cover. */
export interface AuthDenial {
  readonly code: typeof Status.PERMISSION_DENIED;
  readonly message: string;
}

export type AuthResult = Principal | AuthRefusal;

export type AuthMode = CallerAuthMode;

export interface Authenticator {
  readonly mode: AuthMode;
  authenticate(headers: IncomingHttpHeaders): AuthResult | Promise<AuthResult>;
  /** `undefined` means the call may proceed. */
  authorize(principal: Principal, deploymentId: string): AuthDenial | undefined;
  /** Stops refresh timers and file watchers. */
  close(): Promise<void>;
}

export function isRefusal(result: AuthResult): result is AuthRefusal {
  return "code" in result;
}

export function refuse(message: string): AuthRefusal {
  return { code: Status.UNAUTHENTICATED, message };
}

/** The one authorization rule every mode shares: the principal's allow-list decides. */
export function authorizeByAllowList(principal: Principal, deploymentId: string): AuthDenial | undefined {
  if (principal.allow(deploymentId)) return undefined;
  return {
    code: Status.PERMISSION_DENIED,
    message: `caller "${principal.name}" may not call deployment "${deploymentId}": add it (or a matching pattern) to the credential's allow-list`,
  };
}
