/**
 * Bundles the router (router/main.ts) into one CommonJS file with esbuild: what router/Dockerfile
 * runs in its build stage (`npx tsx build/router.ts dist/router`), and what the
 * Dockerfile test runs to check the bundle starts and answers its health check.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as esbuild from "esbuild";
import { BUNDLED_PROTO_DIR, PROTO_INCLUDE_DIRS } from "../envoy/proto";
import { groupEntrySource, stubFileName, stubSource, VENDOR_GROUPS, vendorDir, vendorExternals } from "./vendor";

const REPO_ROOT = path.join(__dirname, "..");

export interface RouterBundle {
  readonly file: string;
  readonly bytes: number;
  /** Every file the bundle was built from, relative to the repository (forward slashes); node_modules included. */
  readonly sources: readonly string[];
  /** What main.js itself was built from (without the vendor files'), same form. */
  readonly mainSources: readonly string[];
  /** Each vendor group file (build/vendor.ts): its size and what it was built from. */
  readonly vendor: Readonly<Record<string, { readonly bytes: number; readonly sources: readonly string[] }>>;
}

const COMMON = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: "none",
  metafile: true,
  logLevel: "warning",
  // node_modules may be a symlink to a shared install (a worktree): resolve within this checkout.
  preserveSymlinks: true,
} as const satisfies esbuild.BuildOptions;

/** esbuild names inputs relative to the working directory: make them relative to the repository. */
function inputsOf(result: { readonly metafile: esbuild.Metafile }): string[] {
  return Object.keys(result.metafile.inputs)
    .filter((p) => !p.startsWith("<")) // the generated vendor entries (stdin)
    .map((p) => path.relative(REPO_ROOT, path.resolve(p)).split(path.sep).join("/"));
}

export async function bundleRouter(outDir: string): Promise<RouterBundle> {
  const file = path.join(outDir, "main.js");
  const result = await esbuild.build({
    ...COMMON,
    entryPoints: [path.join(REPO_ROOT, "router", "main.ts")],
    outfile: file,
    sourcemap: true, // stack traces in the logs point at the TypeScript source
    sourcesContent: false,
    plugins: [vendorExternals()],
  });
  const vendor: Record<string, { bytes: number; sources: string[] }> = {};
  fs.mkdirSync(vendorDir(outDir), { recursive: true });
  for (const [group, packages] of Object.entries(VENDOR_GROUPS)) {
    const groupFile = path.join(vendorDir(outDir), `${group}.js`);
    const built = await esbuild.build({
      ...COMMON,
      stdin: { contents: groupEntrySource(packages), resolveDir: REPO_ROOT, sourcefile: `<vendor ${group}>`, loader: "js" },
      outfile: groupFile,
    });
    vendor[group] = { bytes: fs.statSync(groupFile).size, sources: inputsOf(built).sort() };
    for (const pkg of packages) fs.writeFileSync(path.join(vendorDir(outDir), stubFileName(pkg)), stubSource(group, pkg));
  }
  // proto/index.ts finds agent.proto next to itself (__dirname): in the bundle that is outDir.
  fs.copyFileSync(path.join(REPO_ROOT, "proto", "agent.proto"), path.join(outDir, "agent.proto"));
  // The xDS server (Option B) loads Envoy's API protos at run time; the image has no node_modules,
  // so they travel beside the bundle (envoy/proto.ts looks there first).
  const protoOut = path.join(outDir, BUNDLED_PROTO_DIR);
  const xdsDeps = path.join(path.dirname(require.resolve("@grpc/grpc-js-xds/package.json")), "deps");
  for (const dir of PROTO_INCLUDE_DIRS) {
    fs.cpSync(path.join(xdsDeps, dir), path.join(protoOut, dir), { recursive: true, filter: (src) => fs.statSync(src).isDirectory() || src.endsWith(".proto") });
  }
  fs.cpSync(path.join(path.dirname(require.resolve("protobufjs/package.json")), "google"), path.join(protoOut, "protobufjs", "google"), { recursive: true });
  const mainSources = [...inputsOf(result), "proto/agent.proto"].sort();
  const sources = [...new Set([...mainSources, ...Object.values(vendor).flatMap((v) => v.sources)])].sort();
  return { file, bytes: fs.statSync(file).size, sources, mainSources, vendor };
}

if (require.main === module) {
  const outDir = process.argv[2] ?? path.join(REPO_ROOT, "dist", "router");
  bundleRouter(outDir).then(({ file, bytes, vendor }) => {
    const groups = Object.entries(vendor).map(([g, v]) => `${g} ${v.bytes}`).join(", ");
    process.stdout.write(`router bundle: ${file} (${bytes} bytes; vendor: ${groups})\n`);
  }, (err: unknown) => {
    process.stderr.write(`router bundle failed: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
