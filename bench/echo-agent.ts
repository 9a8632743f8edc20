/**
 * `node --import tsx bench/echo-agent.ts <name>`: the test echo server (raw bytes, every
 * streaming kind) in its own process, so the bench's streaming figures do not count the
 * agent's CPU against the proxy. Prints one JSON line with its port, like fixtures/demo-agent.ts.
 */
import { startEchoServer } from "../fixtures/echo-server";

const name = process.argv[2] ?? "bench-echo";
startEchoServer({ name }).then((server) => {
  process.stdout.write(JSON.stringify({ name, host: "127.0.0.1", port: server.port }) + "\n");
  const stop = (): void => { void server.stop(true).then(() => process.exit(0)); };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}, (err: unknown) => {
  process.stderr.write(`echo agent failed to start: ${String(err)}\n`);
  process.exit(1);
});
