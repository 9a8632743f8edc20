/**
 * Several sources asked in order (`--registry file:a.json,par:http://...`): the first that
 * knows an id wins. Lookups stay synchronous until a source needs to ask someone.
 */
import type { DeploymentRecord, RegistrySource, Resolution } from "./types";

/** A parsed `--registry` entry. */
export type SourceSpec =
  | { readonly kind: "file"; readonly path: string }
  | { readonly kind: "par"; readonly url: string }
  | { readonly kind: "cloudmap"; readonly namespace: string; readonly service: string };

const ACCEPTED = "file:PATH, par:URL or cloudmap:NAMESPACE/SERVICE";

/** Parses `--registry`/ROUTER_REGISTRY. Throws an Error that names the bad entry and the accepted forms. */
export function parseRegistrySpec(spec: string): SourceSpec[] {
  const entries = spec.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (entries.length === 0) throw new Error(`registry is empty: give one or more of ${ACCEPTED}, comma-separated`);
  return entries.map((entry): SourceSpec => {
    const colon = entry.indexOf(":");
    const kind = colon < 0 ? "" : entry.slice(0, colon);
    const rest = colon < 0 ? "" : entry.slice(colon + 1);
    if (kind === "file" && rest !== "") return { kind, path: rest };
    if (kind === "par") {
      let url: URL | undefined;
      try { url = new URL(rest); } catch { url = undefined; }
      if (url && (url.protocol === "http:" || url.protocol === "https:")) return { kind, url: rest };
      throw new Error(`registry entry "${entry}": par: needs an http(s) URL such as par:http://127.0.0.1:8080`);
    }
    if (kind === "cloudmap") {
      const m = /^([A-Za-z0-9.-]+)\/([A-Za-z0-9._-]+)$/.exec(rest);
      if (m) return { kind, namespace: m[1]!, service: m[2]! };
      throw new Error(`registry entry "${entry}": cloudmap: needs NAMESPACE/SERVICE such as cloudmap:pixell-runtime.local/agents`);
    }
    throw new Error(`registry entry "${entry}" is not understood: use ${ACCEPTED}`);
  });
}

export class RegistryChain implements RegistrySource {
  readonly description: string;

  constructor(readonly sources: readonly RegistrySource[]) {
    this.description = sources.map((s) => s.description).join(",");
  }

  async start(): Promise<void> {
    await Promise.all(this.sources.map((s) => s.start()));
  }

  lookup(id: string): Resolution | Promise<Resolution> {
    const sources = this.sources;
    for (let i = 0; i < sources.length; i++) {
      let r: Resolution | Promise<Resolution>;
      try {
        r = sources[i]!.lookup(id);
      } catch (err) {
        return this.continueAsync(id, i + 1, err);
      }
      if (r instanceof Promise) return r.then((t) => t ?? this.continueAsync(id, i + 1, undefined), (err: unknown) => this.continueAsync(id, i + 1, err));
      if (r !== undefined) return r;
    }
    return undefined;
  }

  list(): DeploymentRecord[] {
    const seen = new Map<string, DeploymentRecord>();
    for (const s of this.sources) for (const d of s.list()) if (!seen.has(d.id)) seen.set(d.id, d);
    return [...seen.values()];
  }

  onChange(listener: () => void): () => void {
    const offs = this.sources.map((s) => s.onChange(listener));
    return () => offs.forEach((off) => off());
  }

  async close(): Promise<void> {
    await Promise.all(this.sources.map((s) => s.close()));
  }

  /** Later sources still get their turn after one failed; the first failure is reported if none knows the id. */
  private async continueAsync(id: string, from: number, firstError: unknown): Promise<Resolution> {
    for (let i = from; i < this.sources.length; i++) {
      try {
        const t = await this.sources[i]!.lookup(id);
        if (t !== undefined) return t;
      } catch (err) {
        firstError ??= err;
      }
    }
    if (firstError !== undefined) throw firstError;
    return undefined;
  }
}
