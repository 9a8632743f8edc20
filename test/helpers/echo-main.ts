/**
 * An echo agent as its own process, so a test can SIGKILL it mid-call like a crashed agent.
 * Usage: node --import tsx test/helpers/echo-main.ts NAME [PORT [HOST]]; prints `{"port":N}` once listening.
 */
import { startEchoServer } from "../../fixtures/echo-server";

startEchoServer({ name: process.argv[2] ?? "agent", port: Number(process.argv[3] ?? 0), host: process.argv[4] }).then((s) => {
  process.stdout.write(JSON.stringify({ port: s.port }) + "\n");
}, (err: unknown) => {
  process.stderr.write(`echo agent failed: ${(err as Error).message}\n`);
  process.exit(1);
});
