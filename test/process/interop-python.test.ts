/**
 * Interop: Python's grpcio (gRPC C-core, an independent implementation) drives the router:
 * unary, server-stream, a deadline, a cancel, and the router's own refusals. Skipped with a
 * message when no python3 with grpc is installed (Debian: apt-get install -y python3-grpcio).
 */
import { strict as assert } from "node:assert";
import { execFile, spawnSync } from "node:child_process";
import * as path from "node:path";
import { waitForCancels } from "../../fixtures/echo-server";
import { startRouterFixture, type RouterFixture } from "../helpers/router-fixture";

/** The first python that can import grpc: $PYTHON, python3 on PATH, then Debian's /usr/bin/python3 (pyenv shims often lack it). */
function findPythonWithGrpc(): string | undefined {
  for (const candidate of [process.env.PYTHON, "python3", "/usr/bin/python3"]) {
    if (!candidate) continue;
    const r = spawnSync(candidate, ["-c", "import grpc"], { stdio: "ignore", timeout: 10_000 });
    if (r.status === 0) return candidate;
  }
  return undefined;
}

interface Failure { ok: false; code: string; details: string; trailers: Record<string, string> }
type Outcome<T> = { ok: true; value: T } | Failure;
interface PythonResults {
  grpcio: string;
  unary: Outcome<{ body: string; servedBy: string; trailer: string }>;
  serverStream: Outcome<number[]>;
  deadline: Outcome<string>;
  notFound: Outcome<string>;
  malformedId: Outcome<string>;
  agentError: Outcome<string>;
  cancel: { cancelled: boolean };
}

function failed<T>(o: Outcome<T>): Failure {
  assert.equal(o.ok, false, `expected a failure, got ${JSON.stringify(o)}`);
  return o as Failure;
}

describe("interop: Python grpcio client through the router", function () {
  this.timeout(30_000);
  let python: string | undefined;
  let f: RouterFixture;
  before(async function () {
    python = findPythonWithGrpc();
    if (!python) {
      process.stderr.write("      skipped: no python3 can import grpc (Debian: apt-get install -y python3-grpcio)\n");
      this.skip();
    }
    f = await startRouterFixture(["alpha"]);
  });
  after(async () => { await f?.close(); });

  it("unary, server-stream, deadline, cancel, and the router's refusals behave as with grpc-js", async () => {
    const out = await new Promise<string>((resolve, reject) => {
      execFile(python!, [path.join(__dirname, "..", "interop", "python_client.py"), `127.0.0.1:${f.router.port}`], { timeout: 20_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`python client failed: ${err.message}\n${stderr}`)) : resolve(stdout)));
    });
    const r = JSON.parse(out) as PythonResults;
    process.stderr.write(`      grpcio ${r.grpcio}\n`);
    assert.deepEqual(r.unary, { ok: true, value: { body: "alpha:hello", servedBy: "alpha", trailer: "done-by-alpha" } });
    assert.deepEqual(r.serverStream, { ok: true, value: [100, 100, 100, 100, 100] });
    assert.equal(failed(r.deadline).code, "DEADLINE_EXCEEDED");
    const nf = failed(r.notFound);
    assert.equal(nf.code, "NOT_FOUND");
    assert.match(nf.details, /deployment nobody is not registered/);
    const bad = failed(r.malformedId);
    assert.equal(bad.code, "INVALID_ARGUMENT");
    assert.match(bad.details, /malformed x-deployment-id/);
    const agentErr = failed(r.agentError);
    assert.equal(agentErr.code, "FAILED_PRECONDITION");
    assert.equal(agentErr.details, "agent alpha refuses: precondition ünmet");
    assert.equal(agentErr.trailers["x-trailer"], "done-by-alpha");
    assert.deepEqual(r.cancel, { cancelled: true });
    // The agent saw its calls cancelled (the deadline's Hang and the cancelled Hang), so the cancel crossed the router.
    await waitForCancels(f.agents.get("alpha")!, 2);
    assert.deepEqual(f.agents.get("alpha")!.lastMetadata.get("Unary")!.get("x-from"), ["python"]);
  });
});
