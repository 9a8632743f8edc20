/** A throwaway self-signed certificate for 127.0.0.1, made with the openssl command, for TLS tests. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

export interface SelfSigned {
  readonly certPem: Buffer;
  readonly keyPem: Buffer;
  /** The certificate's file, for GRPC_DEFAULT_SSL_ROOTS_FILE_PATH. */
  readonly certPath: string;
  remove(): void;
}

/** Undefined when no openssl command is installed (the caller skips its TLS tests). */
export function makeSelfSigned(): SelfSigned | undefined {
  const dir = mkdtempSync(path.join(tmpdir(), "a2a-tls-"));
  const certPath = path.join(dir, "cert.pem");
  const keyPath = path.join(dir, "key.pem");
  try {
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", keyPath, "-out", certPath, "-days", "1", "-subj", "/CN=localhost",
      "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ], { stdio: "ignore", timeout: 10_000 });
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  return {
    certPem: readFileSync(certPath),
    keyPem: readFileSync(keyPath),
    certPath,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
