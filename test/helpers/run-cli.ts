/** Spawns the real command-line tool (`node --import tsx client/cli.ts ...`) and collects its output. */
import { execFile } from "node:child_process";
import * as path from "node:path";

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const ROOT = path.join(__dirname, "..", "..");

export function runCliProcess(args: readonly string[], env: Record<string, string | undefined> = {}, timeoutMs = 30_000): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--import", "tsx", path.join(ROOT, "client", "cli.ts"), ...args],
      // LOG_LEVEL and PAR_A2A_ENDPOINT from the test runner's environment must not leak in.
      { cwd: ROOT, timeout: timeoutMs, env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_NO_WARNINGS: "1", ...env } },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== "number") return reject(err);
        resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
      },
    );
  });
}
