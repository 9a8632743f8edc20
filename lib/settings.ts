/**
 * The one parser for settings read from flags and environment variables (router, probe, CLI,
 * bench). Every error names the key, the value it got and what is accepted, in one wording:
 * `KEY must be WHAT, got "VALUE"`.
 */

/** A setting's value was not accepted. `key` is what the user set (a flag, a variable, or both). */
export class SettingError extends Error {
  constructor(readonly key: string, readonly value: string | undefined, readonly accepted: string) {
    super(`${key} must be ${accepted}, got ${JSON.stringify(value ?? "")}`);
    this.name = "SettingError";
  }
}

/** Unset or blank: the caller's default applies. */
export function isUnset(raw: string | undefined): raw is undefined {
  return raw === undefined || raw.trim() === "";
}

/** A whole number in [min, max] (decimal digits only: no sign, exponent or fraction). */
export function wholeNumber(key: string, raw: string, min: number, max: number, unit = ""): number {
  const v = raw.trim();
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) {
    throw new SettingError(key, raw, `a whole number${unit === "" ? "" : ` of ${unit}`} from ${min} to ${max}`);
  }
  return n;
}

/** `true`/`1` or `false`/`0`, any case. */
export function boolean(key: string, raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw new SettingError(key, raw, "true, false, 1 or 0");
}

/** One of a fixed list. */
export function oneOf<T extends string>(key: string, raw: string, accepted: readonly T[]): T {
  const v = raw.trim();
  if ((accepted as readonly string[]).includes(v)) return v as T;
  throw new SettingError(key, raw, `one of ${accepted.join(", ")}`);
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

const HOST_PORT = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9._-]+)):(\d{1,5})$/;

/**
 * `host:port` or `[v6]:port`. `minPort` 0 accepts port 0 ("any free port", for listeners);
 * clients pass 1. The host comes back without brackets.
 */
export function hostPort(key: string, raw: string, minPort = 1): HostPort {
  const m = HOST_PORT.exec(raw.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < minPort || port > 65535) {
    throw new SettingError(key, raw, `HOST:PORT with a port from ${minPort} to 65535 (for example 127.0.0.1:50051, [::1]:50051 or my-nlb.elb.amazonaws.com:50051)`);
  }
  return { host: m[1] ?? m[2]!, port };
}

/** `HOST:PORT` text for a host that may be an IPv6 address. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}
