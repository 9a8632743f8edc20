/**
 * A registry spec ("file:PATH,par:URL,cloudmap:NS/SERVICE") to its sources. Sources that need an
 * injected client (Cloud Map) come from the caller's factory.
 */
import type { Logger } from "../lib/log";
import { parseRegistrySpec, type SourceSpec } from "./chain";
import { FileSource } from "./file";
import { ParSource } from "./par";
import type { RegistrySource } from "./types";

/** Builds the sources this module does not construct itself (cloudmap), or undefined to use the default. */
export type SourceFactory = (spec: SourceSpec, logger: Logger) => RegistrySource | undefined;

/** Builds the sources a registry spec names; the router, the probe and the CLI all read registries this way. */
export function createSources(spec: string, logger: Logger, factory?: SourceFactory): RegistrySource[] {
  return parseRegistrySpec(spec).map((s) => {
    const custom = factory?.(s, logger);
    if (custom) return custom;
    switch (s.kind) {
      case "file": return new FileSource({ path: s.path, logger });
      case "par": return new ParSource({ url: s.url, logger });
      case "cloudmap": throw new Error(`registry source cloudmap:${s.namespace}/${s.service} needs a Cloud Map client: start the router through router/main.ts`);
    }
  });
}
