/**
 * The deployable bundle: one CommonJS file `index.js` (Lambda handler `index.handler`)
 * plus `agent.proto` beside it, which proto-loader reads at run time (proto/index.ts
 * resolves it from `__dirname`, the bundle's folder). The Pulumi program calls
 * `buildProbeBundle` and zips the folder; `npm run build:probe` writes dist/probe-lambda.
 */
import { copyFile, mkdir, stat } from "node:fs/promises";
import * as path from "node:path";
import { build } from "esbuild";

export const PROBE_ENTRY = path.join(__dirname, "handler.ts");
export const AGENT_PROTO_SOURCE = path.join(__dirname, "..", "proto", "agent.proto");
export const DEFAULT_OUT_DIR = path.join(__dirname, "..", "dist", "probe-lambda");

export interface ProbeBundle {
  /** The bundle file (`<outDir>/index.js`). */
  readonly file: string;
  /** Its size in bytes (minified, no source map). */
  readonly bytes: number;
  /** The proto copied beside it. */
  readonly proto: string;
}

export async function buildProbeBundle(outDir: string = DEFAULT_OUT_DIR): Promise<ProbeBundle> {
  await mkdir(outDir, { recursive: true });
  const file = path.join(outDir, "index.js");
  await build({
    entryPoints: [PROBE_ENTRY],
    outfile: file,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    minify: true,
    // Keep Node's own __dirname so proto/index.ts finds agent.proto beside the bundle.
    logLevel: "warning",
    legalComments: "none",
  });
  const proto = path.join(outDir, "agent.proto");
  await copyFile(AGENT_PROTO_SOURCE, proto);
  return { file, bytes: (await stat(file)).size, proto };
}

if (require.main === module) {
  buildProbeBundle(process.argv[2] ?? DEFAULT_OUT_DIR).then((b) => {
    process.stdout.write(`${b.file}: ${b.bytes} bytes (${(b.bytes / 1024).toFixed(0)} KiB), proto at ${b.proto}\n`);
  }, (err: unknown) => {
    process.stderr.write(`probe bundle failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
