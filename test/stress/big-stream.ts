/**
 * `npm run stress:big-stream [-- MiB]`: streams 1 GiB (default) through a child-process router
 * to a slow-reading client and reports the router's peak RSS. Exits 1 when the peak exceeds the
 * bound (RSS before + 200 MiB) or the stream does not arrive whole.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { RawClient, startEchoServer } from "../../fixtures/echo-server";
import { startChildRouter } from "../../fixtures/child-router";
import { slowStream } from "../helpers/slow-stream";

const MiB = 1024 * 1024;
const BOUND_BYTES = 200 * MiB;

async function main(): Promise<void> {
  const totalMiB = Number(process.argv[2] ?? 1024);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pixell-stress-"));
  const agent = await startEchoServer({ name: "big" });
  fs.writeFileSync(path.join(dir, "r.json"), JSON.stringify({ deployments: [{ id: "big", port: agent.port }] }));
  const router = await startChildRouter({ registry: `file:${path.join(dir, "r.json")}` });
  const client = new RawClient(`127.0.0.1:${router.port}`);
  try {
    const r = await slowStream({ client, routerPid: router.pid, deploymentId: "big", totalBytes: totalMiB * MiB, messageBytes: 64 * 1024, pauseMs: 20, pauseEvery: 32,
      agentSentBytes: () => agent.sent.bytes });
    const growth = r.rssMaxBytes - r.rssBeforeBytes;
    const ok = r.receivedBytes === totalMiB * MiB && r.status.code === 0 && growth < BOUND_BYTES;
    process.stdout.write(JSON.stringify({
      streamedMiB: r.receivedBytes / MiB, status: r.status.code, seconds: +(r.ms / 1000).toFixed(1),
      mibPerSecond: +((r.receivedBytes / MiB) / (r.ms / 1000)).toFixed(1),
      routerRssBeforeMiB: +(r.rssBeforeBytes / MiB).toFixed(1), routerRssPeakMiB: +(r.rssMaxBytes / MiB).toFixed(1),
      agentMaxLeadMiB: +(r.maxLeadBytes / MiB).toFixed(1), boundMiB: BOUND_BYTES / MiB, ok,
    }) + "\n");
    process.exitCode = ok ? 0 : 1;
  } finally {
    client.close();
    await router.kill();
    await agent.stop(true);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`stress failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
