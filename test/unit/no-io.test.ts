import * as assert from "node:assert/strict";
import * as childProcess from "node:child_process";
import * as net from "node:net";

// The guard that keeps this folder fast: `npm run test:unit` preloads test/helpers/no-io.cjs.
describe("unit tests", () => {
  it("run with the no-I/O guard: a listen, a connect or a child process throws and names test/process/", () => {
    assert.ok(Object.keys(require.cache).some((f) => f.endsWith("no-io.cjs")), "run unit tests with `npm run test:unit` (it preloads test/helpers/no-io.cjs)");
    assert.throws(() => net.createServer().listen(0, "127.0.0.1"), /unit tests do no I\/O \(net\.Server\.listen.*test\/process\//);
    assert.throws(() => new net.Socket().connect(1, "127.0.0.1"), /net\.Socket\.connect/);
    assert.throws(() => childProcess.spawnSync("true"), /child_process\.spawnSync/);
  });
});
