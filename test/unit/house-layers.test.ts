/**
 * The house: which top-level folder may import which. Reads every .ts file's imports with
 * TypeScript's own scanner (`ts.preProcessFile`, the one tsc uses to find a file's dependencies) and
 * fails on an arrow the table does not allow, naming the file and the import.
 *
 * Why a short script and not dependency-cruiser: the rule is one table over top-level folders, and
 * `typescript` is already a dependency; the scanner sees `import`, `export ... from`, `import()` and
 * `require()` exactly as the compiler does, with no second resolver to keep in step with tsconfig.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";

const ROOT = path.join(__dirname, "..", "..");

/**
 * What each part may import besides itself, npm packages and Node. Lower layers first:
 * proto (the wire contract) ← lib ← registry ← envoy ← router; apps (client, probe-lambda, local) and the Pulumi program (infra)
 * sit on top; fixtures are stand-ins for the outside world shared by local mode, tests and bench;
 * nothing imports test/ or bench/.
 */
export const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  proto: [],
  lib: ["proto"],
  registry: ["lib", "proto"],
  envoy: ["lib", "registry"],
  router: ["lib", "registry", "envoy", "proto"],
  client: ["lib", "registry", "proto"],
  "probe-lambda": ["lib", "registry", "proto"],
  build: ["lib", "envoy", "proto"],
  infra: ["lib", "envoy", "build", "registry"],
  fixtures: ["lib", "registry", "envoy", "router", "proto"],
  local: ["lib", "registry", "envoy", "router", "client", "probe-lambda", "proto", "fixtures"],
  bench: ["lib", "registry", "envoy", "router", "client", "probe-lambda", "proto", "fixtures", "build", "infra"],
  test: ["lib", "registry", "envoy", "router", "client", "probe-lambda", "proto", "fixtures", "build", "infra", "local", "bench", "root"],
  root: ["infra", "lib"],
};

/** The part a repository-relative path belongs to: its top-level folder, or "root" for index.ts. */
function partOf(rel: string): string {
  const first = rel.split("/")[0]!;
  if (rel.includes("/")) return first;
  // `../proto` names the folder's index.ts
  return fs.existsSync(path.join(ROOT, first)) && fs.statSync(path.join(ROOT, first)).isDirectory() ? first : "root";
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name.startsWith(".") || entry.name === "dist") continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) sourceFiles(full, out);
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) out.push(full);
  }
  return out;
}

export interface Arrow {
  readonly file: string;
  readonly imports: string;
  readonly from: string;
  readonly to: string;
}

/** Every relative import in the repository as an arrow between parts. */
export function arrows(root: string = ROOT): Arrow[] {
  const result: Arrow[] = [];
  for (const file of sourceFiles(root)) {
    const rel = path.relative(root, file).split(path.sep).join("/");
    const info = ts.preProcessFile(fs.readFileSync(file, "utf8"), true, true);
    for (const ref of info.importedFiles) {
      if (!ref.fileName.startsWith(".")) continue;
      const target = path.relative(root, path.resolve(path.dirname(file), ref.fileName)).split(path.sep).join("/");
      result.push({ file: rel, imports: ref.fileName, from: partOf(rel), to: partOf(target) });
    }
  }
  return result;
}

/** The arrows the table forbids. */
export function wrongArrows(all: readonly Arrow[], allowed = ALLOWED): Arrow[] {
  return all.filter((a) => a.from !== a.to && !(allowed[a.from] ?? []).includes(a.to));
}

describe("house layers (imports run one way)", () => {
  const all = arrows();

  it("reads the imports of every part (the scanner sees them)", () => {
    const parts = new Set(all.map((a) => a.from));
    for (const p of ["router", "registry", "envoy", "client", "probe-lambda", "infra", "build", "test", "bench", "local"]) {
      assert.ok(parts.has(p), `no imports read from ${p}/`);
    }
    assert.ok(all.length > 300, `only ${all.length} imports read`);
  });

  it("every top-level folder with code is in the table", () => {
    const folders = fs.readdirSync(ROOT, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith(".") && e.name !== "node_modules" && e.name !== "dist" && e.name !== "docs")
      .map((e) => e.name)
      .filter((name) => sourceFiles(path.join(ROOT, name)).length > 0);
    const missing = folders.filter((f) => !(f in ALLOWED));
    assert.deepEqual(missing, [], `folders with no layering rule: ${missing.join(", ")} (add them to ALLOWED)`);
  });

  it("no import runs against the table", () => {
    const wrong = wrongArrows(all).map((a) => `${a.file} imports ${a.imports} (${a.from} → ${a.to})`);
    assert.deepEqual(wrong, [], `imports that run the wrong way:\n  ${wrong.join("\n  ")}`);
  });

  it("catches a wrong arrow (lib → router, router → infra, anything → test)", () => {
    const made: Arrow[] = [
      { file: "lib/x.ts", imports: "../router/server", from: "lib", to: "router" },
      { file: "router/x.ts", imports: "../infra/config", from: "router", to: "infra" },
      { file: "bench/x.ts", imports: "../test/helpers/y", from: "bench", to: "test" },
      { file: "router/y.ts", imports: "../lib/log", from: "router", to: "lib" },
    ];
    assert.deepEqual(wrongArrows(made).map((a) => a.file), ["lib/x.ts", "router/x.ts", "bench/x.ts"]);
  });
});
