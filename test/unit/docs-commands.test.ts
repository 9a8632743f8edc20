/**
 * The README and docs/ promise commands, flags, config keys, stack outputs and links. These tests fail when
 * one of them no longer exists in the code, so the docs cannot drift from what the project runs.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseCli } from "../../client/cli-args";
import { CONFIG_KEYS } from "../../infra/config";
import { LOCAL_OPTIONS } from "../../local/options";
import { ROUTER_SETTINGS } from "../../router/config";

const ROOT = path.resolve(__dirname, "..", "..");
const read = (rel: string): string => fs.readFileSync(path.join(ROOT, rel), "utf8");
const DOCS = ["README.md", ...fs.readdirSync(path.join(ROOT, "docs"), { recursive: true, encoding: "utf8" })
  .filter((f) => f.endsWith(".md")).map((f) => path.join("docs", f))];
const scripts = (JSON.parse(read("package.json")) as { scripts: Record<string, string> }).scripts;

/** Every fenced or inline code span of a markdown file, the text that users copy. */
function codeOf(markdown: string): string[] {
  const spans: string[] = [];
  for (const m of markdown.matchAll(/```[^\n]*\n([\s\S]*?)```/g)) spans.push(...m[1]!.split("\n"));
  for (const m of markdown.replace(/```[\s\S]*?```/g, "").matchAll(/`([^`\n]+)`/g)) spans.push(m[1]!);
  return spans;
}

describe("docs: every command, flag, key, output and link the docs name exists", () => {
  it("README.md is the front door: at most about 200 lines, the two commands first", () => {
    const readme = read("README.md");
    assert.ok(readme.split("\n").length <= 210, `README.md has ${readme.split("\n").length} lines`);
    const firstBlock = /```bash\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
    assert.match(firstBlock, /^npm ci && npm start\b/m);
    assert.match(firstBlock, /^npm test\b/m);
  });

  for (const file of DOCS) {
    const code = codeOf(read(file));
    it(`${file}: every \`npm run X\` is a package.json script`, () => {
      for (const line of code) {
        for (const m of line.matchAll(/\bnpm run ([a-z][\w:-]*)/g)) assert.ok(scripts[m[1]!] !== undefined, `${file}: "npm run ${m[1]}" is not a script (in: ${line})`);
      }
    });

    it(`${file}: every \`npm run a2a -- <command> [--options]\` parses`, () => {
      for (const line of code) {
        const m = /\bnpm run a2a -- (.*)$/.exec(line);
        if (!m) continue;
        // Placeholders stand for values: <id>, $(...), "$VAR".
        const argv = m[1]!.replace(/\$\([^)]*\)/g, "x").replace(/\s+#.*$/, "").replace(/\|.*$/, "").replace(/\[[^\]]*\]/g, "").trim().split(/\s+/)
          .map((a) => a.replace(/[<>"]/g, "")).filter((a) => a.length > 0 && a !== "...");
        // "<command>" and "health|ping|..." stand for the commands, which the parser's own tests cover.
        if (/^<|\|/.test(m[1]!)) continue;
        const parsed = parseCli(argv, {});
        assert.ok(parsed.kind !== "usage-error" || !/unknown (command|option)/i.test(parsed.message), `${file}: "${line}" → ${JSON.stringify(parsed)}`);
      }
    });

    it(`${file}: every \`npm start -- --flag\` is one of local mode's flags`, () => {
      for (const line of code) {
        const m = /\bnpm start -- (.*)$/.exec(line);
        if (!m) continue;
        for (const f of m[1]!.matchAll(/--([a-z][\w-]*)/g)) assert.ok(f[1]! in LOCAL_OPTIONS, `${file}: npm start has no --${f[1]} (in: ${line})`);
      }
    });

    it(`${file}: every \`pixell-a2a:<key>\` is a stack config key`, () => {
      for (const line of code) {
        for (const m of line.matchAll(/\bpixell-a2a:([a-zA-Z][a-zA-Z0-9]*)/g)) assert.ok((CONFIG_KEYS as readonly string[]).includes(m[1]!), `${file}: pixell-a2a:${m[1]} is not a config key`);
      }
    });

    it(`${file}: every \`pulumi stack output X\` is exported by index.ts`, () => {
      const index = read("index.ts");
      for (const line of code) {
        for (const m of line.matchAll(/pulumi stack output ([a-zA-Z][a-zA-Z0-9]*)/g)) assert.match(index, new RegExp(`^export const ${m[1]}\\b`, "m"), `${file}: index.ts exports no ${m[1]}`);
      }
    });

    it(`${file}: every relative link points at a file or folder that exists`, () => {
      const text = read(file).replace(/```[\s\S]*?```/g, "");
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!.split("#")[0]!;
        if (target === "" || /^[a-z]+:/.test(target)) continue;
        assert.ok(fs.existsSync(path.resolve(ROOT, path.dirname(file), target)), `${file}: link ${m[1]} points nowhere`);
      }
    });
  }

  it("docs/router.md's flag table lists exactly the router's settings, with their variables and defaults", () => {
    const rows = [...read("docs/router.md").matchAll(/^\| `--([a-z-]+)` \| `([A-Z_]+)` \| ([^|]+) \|/gm)];
    const documented = new Map(rows.map((r) => [r[1]!, { env: r[2]!, default: r[3]!.trim() }]));
    assert.deepEqual([...documented.keys()].sort(), Object.keys(ROUTER_SETTINGS).sort());
    for (const [flag, setting] of Object.entries(ROUTER_SETTINGS)) {
      const doc = documented.get(flag)!;
      assert.equal(doc.env, setting.env, `--${flag}`);
      const expected = setting.default === undefined ? "(" : `\`${setting.default}\``;
      assert.ok(doc.default.startsWith(expected), `--${flag}: documented default ${doc.default}, code has ${String(setting.default)}`);
    }
  });
});
