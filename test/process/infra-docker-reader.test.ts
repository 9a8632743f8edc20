import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { reproduceBuild } from "../helpers/docker-build";
import { buildContext, ignoreFileFor } from "../helpers/docker-context";
import { parseDockerfile, planStages, type RunStep } from "../helpers/dockerfile";

/**
 * The daemon-free Docker reproduction itself, on small Dockerfiles whose outcome the docs state:
 * COPY and ARG from https://docs.docker.com/reference/dockerfile/ ("Adding files from the build
 * context", "Destination", "COPY --from", "COPY --chmod", "ARG"), ignore files from
 * https://docs.docker.com/build/concepts/context/#dockerignore-files.
 */

function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (fs.statSync(path.join(dir, r)).isDirectory()) walk(r);
      else out.push(r);
    }
  };
  walk("");
  return out;
}

describe("infra Dockerfile reader and build reproduction", () => {
  let dir: string;
  let ctx: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "docker-reader-"));
    ctx = path.join(dir, "ctx");
    for (const [f, body] of Object.entries({
      "a.txt": "a", "b.txt": "b", "src/x.ts": "x", "src/deep/y.ts": "y", "src/node_modules/m.js": "m",
      "app.log": "log", "docs/keep.md": "keep", "docs/drop.md": "drop", "run.sh": "#!/bin/sh\n",
    })) {
      fs.mkdirSync(path.dirname(path.join(ctx, f)), { recursive: true });
      fs.writeFileSync(path.join(ctx, f), body);
    }
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const build = async (dockerfile: string, buildArgs: Record<string, string> = {}, notRunHere?: (step: RunStep) => boolean) => {
    const file = path.join(ctx, "Dockerfile");
    fs.writeFileSync(file, dockerfile);
    return reproduceBuild({ dockerfile: file, context: ctx, buildArgs, workDir: path.join(dir, "work"), ...(notRunHere ? { notRunHere } : {}) });
  };

  it("COPY of a directory copies its contents, not the directory; a file goes into a dest ending in / or as the file dest", async () => {
    const b = await build("FROM scratch\nWORKDIR /w\nCOPY src ./code\nCOPY a.txt ./one/\nCOPY b.txt renamed\nCOPY a.txt b.txt /many/\n");
    assert.deepEqual(tree(b.imageRoot), ["many/a.txt", "many/b.txt", "w/code/deep/y.ts", "w/code/node_modules/m.js", "w/code/x.ts", "w/one/a.txt", "w/renamed"]);
  });

  it("several sources need a destination ending in /; a missing source is 'not found'", async () => {
    await assert.rejects(build("FROM scratch\nCOPY a.txt b.txt /dir\n"), /destination must be a directory and end with a \//);
    await assert.rejects(build("FROM scratch\nCOPY nope.txt /\n"), /"\/nope.txt": not found/);
  });

  it(".dockerignore: **/node_modules, *.log, and a ! exception where the last matching line wins", async () => {
    fs.writeFileSync(path.join(ctx, ".dockerignore"), "# comment\n**/node_modules\n*.log\ndocs\n!docs/keep.md\n");
    const b = await build("FROM scratch\nCOPY src /src/\nCOPY docs /docs/\n");
    assert.deepEqual(tree(b.imageRoot), ["docs/keep.md", "src/deep/y.ts", "src/x.ts"]);
    await assert.rejects(build("FROM scratch\nCOPY app.log /\n"), /not found/);
    // Case-sensitive, as on a Linux builder.
    assert.ok(buildContext(ctx, path.join(ctx, "Dockerfile")).includes("APP.LOG"));
  });

  it("a Dockerfile-specific <name>.dockerignore beside the Dockerfile wins over the context's .dockerignore", () => {
    fs.writeFileSync(path.join(ctx, ".dockerignore"), "a.txt\n");
    fs.mkdirSync(path.join(dir, "df"));
    const dockerfile = path.join(dir, "df", "build.Dockerfile");
    assert.equal(ignoreFileFor(ctx, dockerfile), path.join(ctx, ".dockerignore"));
    fs.writeFileSync(`${dockerfile}.dockerignore`, "b.txt\n");
    assert.equal(ignoreFileFor(ctx, dockerfile), `${dockerfile}.dockerignore`);
    const c = buildContext(ctx, dockerfile);
    assert.deepEqual([c.includes("a.txt"), c.includes("b.txt")], [true, false]);
  });

  it("COPY --from reads an earlier stage's root and ignores .dockerignore; --chmod sets the mode", async () => {
    fs.writeFileSync(path.join(ctx, ".dockerignore"), "a.txt\n");
    const b = await build("FROM scratch AS one\nCOPY b.txt /out/\nCOPY --chmod=0750 run.sh /out/bin/run\nFROM scratch\nWORKDIR /app\nCOPY --from=one /out/ ./\n");
    assert.deepEqual(tree(b.imageRoot), ["app/b.txt", "app/bin/run"]);
    assert.equal(fs.statSync(path.join(b.imageRoot, "app/bin/run")).mode & 0o7777, 0o750);
    await assert.rejects(build("FROM scratch\nCOPY --from=nowhere /x /\n"), /no earlier stage/);
  });

  it("ARG before FROM is only for FROM; re-declared in a stage it takes the global default; build args override", () => {
    const df = parseDockerfile("ARG BASE=alpine:3\nARG MODE=a\nFROM ${BASE} AS s\nARG MODE\nARG OTHER=x\nENV M=${MODE} O=${OTHER:-none} G=${BASE}\nCOPY f.${MODE} /\n");
    const [plain] = planStages(df);
    assert.equal(plain!.base, "alpine:3");
    assert.equal(plain!.name, "s");
    assert.deepEqual(plain!.config.env, { M: "a", O: "x", G: "" });
    const [overridden] = planStages(df, { MODE: "b", BASE: "debian" });
    assert.equal(overridden!.base, "debian");
    assert.deepEqual(overridden!.steps.map((s) => (s.kind === "copy" ? s.sources : [])), [["f.b"]]);
  });

  it("RUN runs /bin/sh -c in WORKDIR with the stage's ARG and ENV, absolute paths rebased onto the stage", async () => {
    const b = await build("FROM scratch\nARG WHO=arg\nENV GREETING=hi\nWORKDIR /w\nRUN touch /made here\n");
    assert.deepEqual(tree(b.imageRoot), ["made", "w/here"]);
    const run = b.image.steps.find((s) => s.kind === "run");
    assert.ok(run?.kind === "run");
    assert.deepEqual([run.argv, run.workdir, run.env], [["/bin/sh", "-c", "touch /made here"], "/w", { WHO: "arg", GREETING: "hi" }]);
    await assert.rejects(build("FROM scratch\nRUN echo a && echo b\n"), /shell syntax is not understood/);
  });

  it("VOLUME (JSON or words) is recorded in the image config; a RUN the caller holds back is recorded, not run", async () => {
    assert.deepEqual(planStages(parseDockerfile('FROM scratch\nVOLUME ["/a", "/b"]\nVOLUME /c /d\n'))[0]!.config.volumes, ["/a", "/b", "/c", "/d"]);
    const b = await build("FROM scratch\nRUN touch /kept\nRUN echo a && touch /never\n", {}, (step) => step.argv.join(" ").includes("&&"));
    assert.deepEqual(tree(b.imageRoot), ["kept"]);
    assert.deepEqual(b.notRun.map((s) => s.argv[2]), ["echo a && touch /never"]);
  });

  it("refuses what it does not understand instead of skipping it", () => {
    assert.throws(() => planStages(parseDockerfile("FROM scratch\nADD x /\n")), /ADD is not understood/);
    assert.throws(() => planStages(parseDockerfile("FROM scratch\nCOPY --chown=1 x /\n")), /--chown is not understood/);
    assert.throws(() => planStages(parseDockerfile("FROM scratch\nCOPY *.txt /\n")), /wildcards/);
    assert.throws(() => parseDockerfile("COPY x /\nFROM scratch\n"), /before the first FROM/);
  });
});
