/**
 * The deployable bundle: one self-contained CommonJS file `index.js` (Lambda handler
 * `index.handler`). proto/index.ts reads `agent.proto` from disk at run time; in the
 * bundle that read is replaced by the same definition embedded as JSON, so the file
 * works alone in any archive. The Pulumi program calls `buildProbeBundle`;
 * `npm run build:probe` writes dist/probe-lambda/index.js.
 */
import { mkdir, readFile, stat } from "node:fs/promises";
import * as path from "node:path";
import { build, type Plugin } from "esbuild";
// proto-loader's own parser (a dependency of @grpc/proto-loader), so the embedded JSON is what loadSync would build.
import * as protobuf from "protobufjs";

export const PROBE_ENTRY = path.join(__dirname, "..", "probe-lambda", "handler.ts");
export const AGENT_PROTO_SOURCE = path.join(__dirname, "..", "proto", "agent.proto");
const PROTO_MODULE = path.join(__dirname, "..", "proto", "index.ts");
/** The one line of proto/index.ts that reads the file; the build fails if it changes. */
const PROTO_READ = "protoLoader.loadSync(AGENT_PROTO_PATH, LOADER_OPTIONS)";
export const DEFAULT_OUT_DIR = path.join(__dirname, "..", "dist", "probe-lambda");

export interface ProbeBundle {
  /** The bundle file (`<outDir>/index.js`): the whole Lambda code. */
  readonly file: string;
  /** Its size in bytes (minified, no source map). */
  readonly bytes: number;
}

/** agent.proto as protobufjs JSON, parsed as proto-loader parses it (`keepCase: false`, as proto/index.ts asks). */
export function agentProtoJson(): protobuf.INamespace {
  const root = new protobuf.Root().loadSync(AGENT_PROTO_SOURCE, { keepCase: false });
  root.resolveAll();
  return root.toJSON();
}

/** Replaces proto/index.ts's disk read with `protoLoader.fromJSON` of the embedded definition. */
function embedAgentProto(): Plugin {
  return {
    name: "embed-agent-proto",
    setup(b) {
      b.onLoad({ filter: /[\\/]proto[\\/]index\.ts$/ }, async (args) => {
        if (path.resolve(args.path) !== PROTO_MODULE) return undefined;
        const source = await readFile(args.path, "utf8");
        if (!source.includes(PROTO_READ)) {
          throw new Error(`proto/index.ts no longer contains "${PROTO_READ}": update embedAgentProto in build/probe.ts`);
        }
        const embedded = `protoLoader.fromJSON(${JSON.stringify(agentProtoJson())}, LOADER_OPTIONS)`;
        return { contents: source.replace(PROTO_READ, embedded), loader: "ts" };
      });
    },
  };
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
    logLevel: "warning",
    legalComments: "none",
    plugins: [embedAgentProto()],
  });
  return { file, bytes: (await stat(file)).size };
}

if (require.main === module) {
  buildProbeBundle(process.argv[2] ?? DEFAULT_OUT_DIR).then((b) => {
    process.stdout.write(`${b.file}: ${b.bytes} bytes (${(b.bytes / 1024).toFixed(0)} KiB)\n`);
  }, (err: unknown) => {
    process.stderr.write(`probe bundle failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
