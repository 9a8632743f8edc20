/**
 * envoy/entrypoint.sh with a stand-in `envoy` on PATH (a small Node program that serves
 * the admin endpoint on a Unix socket, as Envoy's `admin.address.pipe` does, and records what
 * happens), since there is no Envoy binary here. The drain call goes through this machine's real
 * curl (`--unix-socket`), the tool the image installs.
 */
import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const ENTRYPOINT = path.join(__dirname, "..", "..", "envoy", "entrypoint.sh");

// FAKE_ADMIN_STATUS: the admin's status code; FAKE_NO_ADMIN: never listen; FAKE_EXIT_AFTER_FAIL_MS:
// exit (code FAKE_EXIT_AFTER_FAIL_CODE) that long after /healthcheck/fail, as an Envoy dying mid-drain.
const FAKE_ENVOY = `#!/usr/bin/env node
const http = require("node:http");
const fs = require("node:fs");
const log = (event, extra) => fs.appendFileSync(process.env.FAKE_LOG, JSON.stringify({ event, at: Date.now(), argv: process.argv.slice(2), ...extra }) + "\\n");
if (process.env.FAKE_EXIT) { log("exit-early"); process.exit(Number(process.env.FAKE_EXIT)); }
const admin = http.createServer((req, res) => {
  log(req.method + " " + req.url, { headers: req.headers });
  res.statusCode = Number(process.env.FAKE_ADMIN_STATUS || 200);
  res.end("OK\\n");
  if (req.url === "/healthcheck/fail" && process.env.FAKE_EXIT_AFTER_FAIL_MS) {
    setTimeout(() => { log("exit-mid-drain"); process.exit(Number(process.env.FAKE_EXIT_AFTER_FAIL_CODE || 0)); }, Number(process.env.FAKE_EXIT_AFTER_FAIL_MS));
  }
});
if (process.env.FAKE_NO_ADMIN) log("ready");
// Envoy creates the admin socket with the pipe's mode (0600).
else admin.listen(process.env.ENVOY_ADMIN_SOCKET, () => { fs.chmodSync(process.env.ENVOY_ADMIN_SOCKET, 0o600); log("ready"); });
process.on("SIGTERM", () => { log("SIGTERM"); process.exit(0); });
setInterval(() => {}, 1000);
`;


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

  interface Event { event: string; at: number; argv: string[]; headers?: Record<string, string> }
  let stderr = "";
  const socket = (): string => path.join(dir, "admin.sock");
  const events = (): Event[] => {
    const file = path.join(dir, "log");
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Event) : [];
  };
  const start = async (env: Record<string, string>): Promise<ChildProcess> => {
    stderr = "";
    const p = spawn("bash", [ENTRYPOINT, "--log-level", "info"], {
      env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, FAKE_LOG: path.join(dir, "log"), ENVOY_CONFIG: "/cfg/envoy.yaml", ENVOY_ADMIN_SOCKET: socket(), ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    p.stderr!.on("data", (chunk: Buffer) => { stderr += chunk.toString(); });
    child = p;
    return p;
  };
  const exited = (p: ChildProcess): Promise<number | null> => new Promise((resolve) => p.once("exit", (code) => resolve(code)));
  const ready = async (): Promise<void> => {
    for (let i = 0; i < 200 && !events().some((e) => e.event === "ready"); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(events().some((e) => e.event === "ready"), "the stand-in envoy did not start");
  };

  it("on SIGTERM fails health checks first, keeps Envoy running for the drain time, then stops it and exits 0", async () => {
    const p = await start({ ENVOY_DRAIN_SECONDS: "1" });
    await ready();
    assert.deepEqual(events()[0]!.argv, ["-c", "/cfg/envoy.yaml", "--log-level", "info"]);
    assert.match(stderr, /ENVOY_BOOTSTRAP_OVERRIDE is not set: Envoy runs without overload limits/);
    const code = exited(p);
    p.kill("SIGTERM");
    assert.equal(await code, 0);
    const seen = events();
    // One admin call, then one SIGTERM: nothing else reaches Envoy during the drain.
    assert.deepEqual(seen.map((e) => e.event), ["ready", "POST /healthcheck/fail", "SIGTERM"]);
    // Envoy's admin takes POST for mutating endpoints; the request is complete (an empty body).
    assert.equal(seen[1]!.headers!["content-length"], "0");
    const failAt = seen[1]!.at;
    const termAt = seen[2]!.at;
    assert.ok(termAt - failAt >= 900, `Envoy was stopped ${termAt - failAt} ms after health checks started failing; the drain time is 1 s`);
    assert.match(stderr, /draining for up to 1s/);
  });

  it("drains the same way on SIGINT", async () => {
    const p = await start({ ENVOY_DRAIN_SECONDS: "1" });
    await ready();
    const code = exited(p);
    p.kill("SIGINT");
    assert.equal(await code, 0);
    assert.deepEqual(events().map((e) => e.event), ["ready", "POST /healthcheck/fail", "SIGTERM"]);
  });

  it("still drains and stops Envoy when the admin cannot be reached, and says so", async () => {
    const p = await start({ ENVOY_DRAIN_SECONDS: "1", FAKE_NO_ADMIN: "1" });
    await ready();
    const code = exited(p);
    const sentAt = Date.now();
    p.kill("SIGTERM");
    assert.equal(await code, 0);
    const seen = events();
    assert.deepEqual(seen.map((e) => e.event), ["ready", "SIGTERM"]);
    assert.ok(seen[1]!.at - sentAt >= 900, "the drain time still applies");
    assert.match(stderr, new RegExp(`could not reach Envoy's admin on ${socket().replace(/[.]/g, "\\.")} to start draining`));
  });

  it("says so when the admin refuses /healthcheck/fail, and drains anyway", async () => {
    const p = await start({ ENVOY_DRAIN_SECONDS: "0", FAKE_ADMIN_STATUS: "503" });
    await ready();
    const code = exited(p);
    p.kill("SIGTERM");
    assert.equal(await code, 0);
    assert.deepEqual(events().map((e) => e.event), ["ready", "POST /healthcheck/fail", "SIGTERM"]);
    assert.match(stderr, /admin answered 503 to \/healthcheck\/fail \(expected 200\); draining anyway/);
  });

  it("stops waiting when Envoy exits during the drain, and exits with Envoy's status", async () => {
    const p = await start({ ENVOY_DRAIN_SECONDS: "60", FAKE_EXIT_AFTER_FAIL_MS: "200", FAKE_EXIT_AFTER_FAIL_CODE: "7" });
    await ready();
    const code = exited(p);
    const sentAt = Date.now();
    p.kill("SIGTERM");
    assert.equal(await code, 7);
    // Generous bound: the loop checks once a second, far below the 60 s drain.
    assert.ok(Date.now() - sentAt < 10000, `the entrypoint waited ${Date.now() - sentAt} ms after Envoy had exited`);
    assert.deepEqual(events().map((e) => e.event), ["ready", "POST /healthcheck/fail", "exit-mid-drain"]);
  });

  it("falls back to the 20 s default for an ENVOY_DRAIN_SECONDS that is not a number, and says so", async () => {
    // Envoy exits 1 s into the drain, so the test need not wait the 20 s; the log says what was used.
    const p = await start({ ENVOY_DRAIN_SECONDS: "20s", FAKE_EXIT_AFTER_FAIL_MS: "1000" });
    await ready();
    const code = exited(p);
    p.kill("SIGTERM");
    assert.equal(await code, 0);
    assert.match(stderr, /ENVOY_DRAIN_SECONDS="20s" is not a whole number of seconds \(0-9999\); draining for 20s instead/);
    assert.match(stderr, /draining for up to 20s/);
  });

  it("hands ENVOY_BOOTSTRAP_OVERRIDE to envoy's --config-yaml, as one argument, before the extra arguments", async () => {
    const override = JSON.stringify({ overload_manager: { refresh_interval: "0.25s", resource_monitors: [{ name: "x y" }] } });
    const p = await start({ ENVOY_DRAIN_SECONDS: "0", ENVOY_BOOTSTRAP_OVERRIDE: override });
    await ready();
    assert.deepEqual(events()[0]!.argv, ["-c", "/cfg/envoy.yaml", "--config-yaml", override, "--log-level", "info"]);
    assert.doesNotMatch(stderr, /ENVOY_BOOTSTRAP_OVERRIDE is not set/);
    const code = exited(p);
    p.kill("SIGTERM");
    assert.equal(await code, 0);
  });

  it("exits with Envoy's own status when Envoy exits by itself", async () => {
    const p = await start({ FAKE_EXIT: "3" });
    assert.equal(await exited(p), 3);
    assert.deepEqual(events().map((e) => e.event), ["exit-early"]);
  });
});
