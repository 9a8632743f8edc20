/**
 * infra/envoy/entrypoint.sh with a stand-in `envoy` on PATH (a small Node program that serves
 * the admin endpoint and records what happens), since there is no Envoy binary here.
 */
import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

const ENTRYPOINT = path.join(__dirname, "..", "infra", "envoy", "entrypoint.sh");

const FAKE_ENVOY = `#!/usr/bin/env node
const http = require("node:http");
const fs = require("node:fs");
const log = (event) => fs.appendFileSync(process.env.FAKE_LOG, JSON.stringify({ event, at: Date.now(), argv: process.argv.slice(2) }) + "\\n");
if (process.env.FAKE_EXIT) { log("exit-early"); process.exit(Number(process.env.FAKE_EXIT)); }
const admin = http.createServer((req, res) => { log(req.method + " " + req.url); res.end("OK\\n"); });
admin.listen(Number(process.env.ENVOY_ADMIN_PORT), "127.0.0.1", () => log("ready"));
process.on("SIGTERM", () => { log("SIGTERM"); process.exit(0); });
`;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

describe("envoy entrypoint: drains on SIGTERM instead of dropping calls", function () {
  this.timeout(15000);
  let dir: string;
  let child: ChildProcess | undefined;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "envoy-entrypoint-"));
    fs.writeFileSync(path.join(dir, "envoy"), FAKE_ENVOY, { mode: 0o755 });
  });
  afterEach(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    child = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const events = (): { event: string; at: number; argv: string[] }[] => {
    const file = path.join(dir, "log");
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { event: string; at: number; argv: string[] }) : [];
  };
  const start = async (env: Record<string, string>): Promise<ChildProcess> => {
    const p = spawn("bash", [ENTRYPOINT, "--log-level", "info"], {
      env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, FAKE_LOG: path.join(dir, "log"), ENVOY_CONFIG: "/cfg/envoy.yaml", ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    child = p;
    return p;
  };
  const exited = (p: ChildProcess): Promise<number | null> => new Promise((resolve) => p.once("exit", (code) => resolve(code)));

  it("on SIGTERM fails health checks first, keeps Envoy running for the drain time, then stops it and exits 0", async () => {
    const p = await start({ ENVOY_ADMIN_PORT: String(await freePort()), ENVOY_DRAIN_SECONDS: "1" });
    for (let i = 0; i < 100 && !events().some((e) => e.event === "ready"); i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(events()[0]!.argv, ["-c", "/cfg/envoy.yaml", "--log-level", "info"]);
    const code = exited(p);
    p.kill("SIGTERM");
    assert.equal(await code, 0);
    const seen = events();
    assert.deepEqual(seen.map((e) => e.event), ["ready", "POST /healthcheck/fail", "SIGTERM"]);
    const failAt = seen[1]!.at;
    const termAt = seen[2]!.at;
    assert.ok(termAt - failAt >= 900, `Envoy was stopped ${termAt - failAt} ms after health checks started failing; the drain time is 1 s`);
  });

  it("exits with Envoy's own status when Envoy exits by itself", async () => {
    const p = await start({ ENVOY_ADMIN_PORT: String(await freePort()), FAKE_EXIT: "3" });
    assert.equal(await exited(p), 3);
    assert.deepEqual(events().map((e) => e.event), ["exit-early"]);
  });
});
