import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as grpc from "@grpc/grpc-js";
import { checkHealth } from "../../lib/health";

describe("local mode (npm start)", () => {
  it("brings up demo agents behind the router, answers through it, and stops cleanly on Ctrl-C", async function () {
    this.timeout(30_000);
    // Port 0: the test must not collide with a developer's running `npm start`.
    const child = spawn(process.execPath, ["--import", "tsx", "local/main.ts", "--port", "0", "--admin-port", "0"], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    try {
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout!.on("data", (b: Buffer) => {
          out += b.toString();
          const m = /router \(A2A endpoint\)\s+127\.0\.0\.1:(\d+)/.exec(out);
          if (m && out.includes("Ctrl-C")) resolve(Number(m[1]));
        });
        child.once("exit", (code) => reject(new Error(`local mode exited early (${code}): ${out}`)));
      });
      const ids = [...out.matchAll(/^ {2}(demo-[a-z]+) +127\.0\.0\.1:\d+$/gm)].map((m) => m[1]!);
      assert.deepEqual(ids, ["demo-echo", "demo-summarizer", "demo-planner"]);
      assert.match(out, /npm run a2a -- invoke demo-echo/);
      // The probe's first run prints a table with every deployment healthy.
      await new Promise<void>((resolve) => {
        const check = (): void => { if (/probe .*\n[\s\S]*demo-planner[\s\S]*healthy in/.test(out.slice(out.indexOf("Ctrl-C")))) resolve(); else setTimeout(check, 50); };
        check();
      });
      const table = out.slice(out.indexOf("Ctrl-C"));
      for (const id of ids) assert.match(table, new RegExp(`${id}\\s.*(ok|healthy|OK)`, "i"));
      // Per task and per endpoint, as the Lambda reports them in AWS: the router is the one task.
      assert.match(table, new RegExp(`TASK\\s+HEALTH[^\\n]*\\n127\\.0\\.0\\.1:${port}\\s+healthy`));
      assert.match(table, /endpoint: reachable in/);
      const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
      const results = await Promise.all(ids.map((id) => checkHealth(client, id, 3000)));
      client.close();
      assert.deepEqual(results.map((r) => [r.ok, r.message]), ids.map((id) => [true, `deployment ${id} is healthy`]));
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      child.kill("SIGINT");
      assert.equal(await exited, 0);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
