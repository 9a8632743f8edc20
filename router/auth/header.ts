/**
 * Reading the `authorization` metadata of a call. Messages never repeat the
 * credential: they say what was wrong with its shape only.
 */
import type { IncomingHttpHeaders } from "node:http2";
import { refuse, type AuthRefusal } from "./types";

/** RFC 6750 b64token: what a bearer token may contain. JWTs fit it too. */
const TOKEN_SYNTAX = /^[A-Za-z0-9\-._~+/]+=*$/;
/** Longer than any token we issue or any sane JWT; bounds the work done on hostile input. */
export const MAX_TOKEN_LENGTH = 8192;

export type BearerParse = { readonly token: string } | { readonly refusal: AuthRefusal };

export function parseBearer(headers: IncomingHttpHeaders): BearerParse {
  const raw = headers.authorization;
  // A repeated header arrives as an array: ambiguous, so refused rather than guessed.
  if (Array.isArray(raw)) return { refusal: refuse("more than one authorization metadata entry: send exactly one 'authorization: Bearer <token>'") };
  if (raw === undefined || raw === "") {
    return { refusal: refuse("missing authorization metadata: send 'authorization: Bearer <token>'") };
  }
  const space = raw.indexOf(" ");
  const scheme = space < 0 ? raw : raw.slice(0, space);
  if (scheme.toLowerCase() !== "bearer") {
    // The scheme is echoed only when it is short and plain; it is never the credential itself.
    const shown = /^[A-Za-z][A-Za-z0-9-]{0,19}$/.test(scheme) && space >= 0 ? ` "${scheme}"` : "";
    return { refusal: refuse(`unsupported authorization scheme${shown}: expected 'authorization: Bearer <token>'`) };
  }
  const token = raw.slice(space + 1).trim();
  if (space < 0 || token === "") return { refusal: refuse("empty bearer token: send 'authorization: Bearer <token>'") };
  if (token.length > MAX_TOKEN_LENGTH) return { refusal: refuse(`bearer token longer than ${MAX_TOKEN_LENGTH} characters`) };
  if (!TOKEN_SYNTAX.test(token)) return { refusal: refuse("malformed bearer token: expected base64url/token68 characters only") };
  return { token };
}
