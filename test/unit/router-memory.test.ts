/**
 * The router's memory decisions (docs/decisions/router-memory.md), held in place:
 * - router/Dockerfile's CMD runs node with exactly lib/router-node-flags.ts's flags, and its ENV sets ROUTER_ENV;
 * - the router's start-up import graph (static, value imports from router/main.ts) reaches no package that
 *   only some configurations need: the AWS SDKs and grpc-js load behind typed lazy requires.
 * Memory itself is measured in bench, not here (no timing or size assertions in unit tests).
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";
import { ROUTER_ENV, ROUTER_NODE_FLAGS } from "../../lib/router-node-flags";
import { stubFileName, VENDOR_GROUPS, vendorFiles } from "../../build/vendor";
import { parseDockerfile, planStages } from "../helpers/dockerfile";

const ROOT = path.join(__dirname, "..", "..");

/** Packages a router loads only when its configuration needs them, each ~11-15 MiB of RSS: the ones the build puts beside main.js. */
const LAZY_PACKAGES = Object.values(VENDOR_GROUPS).flat();

/**
 * The module specifiers a file imports for their values at load time: `import ... from` and
 * `export ... from` at top level, without `import type` / `export type` (erased by the compiler) and
 * without imports whose every binding is `type`. A require() inside a function is not a load-time import.
 */
export function loadTimeImports(text: string, fileName = "x.ts"): string[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
  const out: string[] = [];
  for (const st of sf.statements) {
    if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier)) {
      const clause = st.importClause;
      if (clause?.isTypeOnly) continue;
      const named = clause?.namedBindings;
      const allTypes = clause !== undefined && clause.name === undefined && named !== undefined && ts.isNamedImports(named) && named.elements.every((e) => e.isTypeOnly);
      if (!allTypes) out.push(st.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(st) && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier) && !st.isTypeOnly) {
      const clause = st.exportClause;
      const allTypes = clause !== undefined && ts.isNamedExports(clause) && clause.elements.every((e) => e.isTypeOnly);
      if (!allTypes) out.push(st.moduleSpecifier.text);
    }
  }
  return out;
}

function resolveLocal(from: string, spec: string): string {
  const base = path.resolve(path.dirname(from), spec);
  for (const candidate of [`${base}.ts`, path.join(base, "index.ts")]) if (fs.existsSync(candidate)) return candidate;
  throw new Error(`${path.relative(ROOT, from)}: cannot resolve ${spec}`);
}

/** Every repository file and package the entry loads at start, with the first file that imports each package. */
function startupGraph(entry: string): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const todo = [entry];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    for (const spec of loadTimeImports(fs.readFileSync(file, "utf8"), file)) {
      if (spec.startsWith(".")) todo.push(resolveLocal(file, spec));
      else if (!spec.startsWith("node:")) {
        const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!;
        if (!packages.has(name)) packages.set(name, path.relative(ROOT, file));
      }
    }
  }
  return { files, packages };
}

describe("router memory decisions", () => {
  it("router/Dockerfile's CMD is node, exactly ROUTER_NODE_FLAGS, then the bundle; its ENV sets ROUTER_ENV", () => {
    const stages = planStages(parseDockerfile(fs.readFileSync(path.join(ROOT, "router", "Dockerfile"), "utf8")));
    const config = stages[stages.length - 1]!.config;
    assert.deepEqual(config.cmd, ["node", ...ROUTER_NODE_FLAGS, "/app/main.js"]);
    assert.deepEqual(ROUTER_NODE_FLAGS, ["--max-semi-space-size=2", "--heap-growing-percent=30"], "the heap bounds the measurements chose");
    assert.ok(!config.cmd!.includes("--enable-source-maps"), "source maps are opt-in through NODE_OPTIONS (they cost 5-9 MiB)");
    for (const [k, v] of Object.entries(ROUTER_ENV)) assert.equal(config.env[k], v, `ENV ${k}`);
  });

  it("reads load-time imports: type-only imports and lazy requires are not load-time", () => {
    const text = [
      'import { a } from "pkg-a";',
      'import type { B } from "pkg-b";',
      'import { type C } from "pkg-c";',
      'import { type D, e } from "pkg-d";',
      'export { f } from "./f";',
      'export type { G } from "./g";',
      'import "side-effect";',
      'export function lazy() { return require("pkg-lazy") as typeof import("pkg-lazy"); }',
    ].join("\n");
    assert.deepEqual(loadTimeImports(text), ["pkg-a", "pkg-d", "./f", "side-effect"]);
  });

  it("router/main.ts's start-up graph loads no AWS SDK, grpc-js or protobufjs", () => {
    const { files, packages } = startupGraph(path.join(ROOT, "router", "main.ts"));
    // The graph is the real one: it reaches the relay, the admin server and the auth modules.
    for (const f of ["router/server.ts", "router/admin.ts", "router/auth/index.ts", "router/metrics.ts", "router/xds/attach.ts"]) {
      assert.ok(files.has(path.join(ROOT, f)), `start-up graph misses ${f}`);
    }
    assert.ok(packages.has("prom-client"), "prom-client is on every start (router/metrics.ts)");
    const eager = LAZY_PACKAGES.filter((p) => packages.has(p)).map((p) => `${p} (imported by ${packages.get(p)})`);
    assert.deepEqual(eager, [], `packages loaded at every start that only some configurations need: load them lazily (docs/decisions/router-memory.md)`);
  });

  it("gives each vendored package one group and its own stub file (build/vendor.ts)", () => {
    assert.equal(new Set(LAZY_PACKAGES).size, LAZY_PACKAGES.length, "a package in two groups");
    assert.equal(new Set(LAZY_PACKAGES.map(stubFileName)).size, LAZY_PACKAGES.length, "two packages share a stub file");
    assert.equal(stubFileName("@grpc/grpc-js"), "grpc__grpc-js.js");
    const groupFiles = Object.keys(VENDOR_GROUPS).map((g) => `${g}.js`);
    assert.deepEqual(LAZY_PACKAGES.map(stubFileName).filter((f) => groupFiles.includes(f)), [], "a stub named like a group file");
    assert.equal(new Set(vendorFiles()).size, groupFiles.length + LAZY_PACKAGES.length);
  });
});
