/**
 * Static bearer tokens: `authorization: Bearer <token>` looked up in the table
 * of a TokenSource. Entirely synchronous: a parse, one SHA-256 and one Map lookup.
 */
import type { IncomingHttpHeaders } from "node:http2";
import { parseBearer } from "./header";
import type { TokenSource } from "./token-sources";
import { authorizeByAllowList, refuse, type AuthResult, type Authenticator } from "./types";

export class BearerAuthenticator implements Authenticator {
  readonly mode = "bearer" as const;

  constructor(private readonly source: TokenSource) {}

  authenticate(headers: IncomingHttpHeaders): AuthResult {
    const parsed = parseBearer(headers);
    if ("refusal" in parsed) return parsed.refusal;
    const entry = this.source.current().find(parsed.token);
    if (entry === undefined) return refuse("unknown bearer token: check the token, or ask for one to be added to the router's tokens");
    return entry;
  }

  readonly authorize = authorizeByAllowList;

  close(): Promise<void> {
    return this.source.close();
  }
}
