/** Starts test/helpers/echo-main.ts as a child process: an agent a test can SIGKILL, SIGSTOP, or run in a network namespace. */
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";

export interface ChildAgent {
  readonly port: number;
  readonly process: ChildProcess;
  /** SIGKILL (a crash: no GOAWAY, no trailers) and wait for the exit. */
  kill(): Promise<void>;
}

export interface ChildAgentOptions {
  /** Address to bind; default 127.0.0.1. */
  readonly host?: string;
  /** Run inside this network namespace (`ip netns exec`, which execs the command: the child's pid is node's). */
  readonly netns?: string;
}

export async function startChildAgent(name: string, port = 0, opts: ChildAgentOptions = {}): Promise<ChildAgent> {
  const node = [process.execPath, "--import", "tsx", path.join(__dirname, "echo-main.ts"), name, String(port), ...(opts.host ? [opts.host] : [])];
  const [cmd, ...args] = opts.netns === undefined ? node : ["ip", "netns", "exec", opts.netns, ...node];
  const child = spawn(cmd!, args, { cwd: path.resolve(__dirname, "..", ".."), stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let out = "";
  const listening = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent ${name} did not start in 15 s`)), 15_000);
    child.stdout!.on("data", (b: Buffer) => {
      out += b.toString();
      const m = /\{"port":(\d+)\}/.exec(out);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    void exited.then(() => { clearTimeout(timer); reject(new Error(`agent ${name} exited early`)); });
  });
  let killed = false;
  return {
    port: listening,
    process: child,
    async kill() {
      if (!killed) { killed = true; child.kill("SIGKILL"); }
      await exited;
    },
  };
}
