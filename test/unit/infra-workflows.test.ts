import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";

const ROOT = path.join(__dirname, "..", "..");
const read = (file: string): string => fs.readFileSync(path.join(ROOT, file), "utf8");

// Workflow documents are free-form YAML.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = Record<string, any>;

function steps(doc: Doc, job: string): Doc[] {
  return doc.jobs[job].steps as Doc[];
}

describe("infra workflows and build context", () => {
  it("runs the tests, then a PR-commenting pulumi preview on pull requests", () => {
    const pr = YAML.parse(read(".github/workflows/pr.yml")) as Doc;
    assert.ok(pr.on.pull_request);
    assert.ok(steps(pr, "test").some((s) => s.run === "npm test"));
    assert.deepEqual(pr.jobs.preview.needs, "test");
    const pulumi = steps(pr, "preview").find((s) => String(s.uses).startsWith("pulumi/actions@"))!;
    assert.deepEqual([pulumi.with.command, pulumi.with["comment-on-pr"]], ["preview", true]);
    assert.equal(pulumi.env.PULUMI_ACCESS_TOKEN, "${{ secrets.PULUMI_ACCESS_TOKEN }}");
    assert.equal(pr.permissions["pull-requests"], "write");
  });

  it("runs pulumi up on main, after the tests, one deploy at a time", () => {
    const deploy = YAML.parse(read(".github/workflows/deploy.yml")) as Doc;
    assert.deepEqual(deploy.on.push.branches, ["main"]);
    assert.equal(deploy.concurrency["cancel-in-progress"], false);
    const all = steps(deploy, "up");
    const testAt = all.findIndex((s) => s.run === "npm test");
    const upAt = all.findIndex((s) => String(s.uses).startsWith("pulumi/actions@") && s.with.command === "up");
    assert.ok(testAt >= 0 && upAt > testAt);
  });

  it("sends the router Dockerfile every file it copies (.dockerignore keeps them)", () => {
    const ignored = read(".dockerignore").split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
    const copies = read("router/Dockerfile").split("\n").filter((l) => l.startsWith("COPY ") && !l.includes("--from="));
    const sources = copies.flatMap((l) => l.split(/\s+/).slice(1, -1));
    assert.ok(sources.length >= 5);
    for (const src of sources) {
      assert.ok(fs.existsSync(path.join(ROOT, src)), `${src} exists`);
      assert.ok(!ignored.some((pattern) => src === pattern || src.startsWith(`${pattern}/`)), `${src} is not in .dockerignore`);
    }
    assert.ok(ignored.includes("node_modules") && ignored.includes(".git"));
    assert.match(read("router/Dockerfile"), /^USER node$/m);
    assert.doesNotMatch(read("router/Dockerfile"), /^HEALTHCHECK/m, "ECS runs the health check from the task definition");
  });
});
