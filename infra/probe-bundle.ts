import * as path from "node:path";
import * as esbuild from "esbuild";

/**
 * Adapter for probe-lambda's bundler. Same contract as probe-lambda/build.ts's
 * `buildProbeBundle(outDir)`; until that lands this bundles probe-lambda/handler.ts itself,
 * the way the Lambda expects it: one CommonJS file `index.js` exporting `handler`.
 */
export async function buildProbeBundle(outDir: string): Promise<{ file: string; bytes: number }> {
  const file = path.join(outDir, "index.js");
  const result = await esbuild.build({
    entryPoints: [path.join(__dirname, "..", "probe-lambda", "handler.ts")],
    outfile: file,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    minify: true,
    sourcemap: false,
    legalComments: "none",
    metafile: true,
    logLevel: "silent",
  });
  const bytes = Object.values(result.metafile.outputs).reduce((sum, o) => sum + o.bytes, 0);
  return { file, bytes };
}
