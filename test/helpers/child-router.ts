/**
 * The router as a child process (`node --import tsx router/main.ts`), the way it runs in
 * production: a crash shows as an exit, and its file descriptors and memory are read from
 * /proc/<pid> without the test's own sockets and heap mixed in.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const REPO_ROOT = path.resolve(__dirname, "..", "..");

export interface ChildRouter {
  readonly pid: number;
  readonly port: number;
  readonly adminPort: number;
  readonly process: ChildProcess;
  /** Everything the router wrote to stdout (JSON log lines). */
  log(): string;
  /** Exit code once exited; undefined while it runs. */
  exitCode(): number | null | undefined;
  /** Resolves with the exit code (or the signal name) when the process ends. */
  readonly exited: Promise<number | string | null>;
  admin(pathname: string): Promise<{ status: number; body: string }>;
  /** Heap used after a full GC, in bytes (only with `gcProbe: true`). */
  heapAfterGc(): Promise<number>;
  /** SIGKILL if still running, and wait for it to be gone. */
  kill(): Promise<void>;
}

export interface ChildRouterOptions {
  readonly registry: string;
  readonly drainMs?: number;
  /** info or lower: the start-up line ("router started") is read for the ports. */
  readonly logLevel?: "info" | "debug";
  readonly extraArgs?: readonly string[];
  /** Node flags, e.g. --max-old-space-size. */
  readonly nodeArgs?: readonly string[];
  /** Preload gc-on-signal.cjs so heapAfterGc() works (adds --expose-gc; the router code is untouched). */
  readonly gcProbe?: boolean;
  /** More environment for the router (e.g. AWS endpoint overrides), on top of this process's. */
  readonly env?: Readonly<Record<string, string>>;
  /** Run inside this network namespace (`ip netns exec NAME ...`; the test made it). */
  readonly netns?: string;
  /** Listen (gRPC and admin) on this address, and reach the admin server there (default 127.0.0.1). */
  readonly host?: string;
}

export async function startChildRouter(opts: ChildRouterOptions): Promise<ChildRouter> {
  const probe = opts.gcProbe ? ["--expose-gc", "--require", path.join(__dirname, "gc-on-signal.cjs")] : [];
  const host = opts.host ?? "127.0.0.1";
  const node = [process.execPath, ...probe, ...(opts.nodeArgs ?? []), "--import", "tsx", path.join(REPO_ROOT, "router", "main.ts"),
    "--listen", `${host}:0`, "--admin", `${host}:0`, "--registry", opts.registry, "--drain-ms", String(opts.drainMs ?? 10_000),
    ...(opts.extraArgs ?? [])];
  const [command, ...args] = opts.netns ? ["ip", "netns", "exec", opts.netns, ...node] : node;
  const child = spawn(command!, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...opts.env, LOG_LEVEL: opts.logLevel ?? "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  let code: number | null | undefined;
  const exited = new Promise<number | string | null>((resolve) => child.once("exit", (c, sig) => { code = c; resolve(c ?? sig); }));
  child.stdout!.on("data", (b: Buffer) => { out += b.toString(); });
  child.stderr!.on("data", (b: Buffer) => { err += b.toString(); });
  const ports = await new Promise<{ port: number; adminPort: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`router did not start in 15 s: ${out}${err}`)), 15_000);
    const check = (): void => {
      const m = /"listen":"[^"]*:(\d+)","admin":"[^"]*:(\d+)"/.exec(out);
      if (m) { clearTimeout(timer); child.stdout!.off("data", check); resolve({ port: Number(m[1]), adminPort: Number(m[2]) }); }
    };
    child.stdout!.on("data", check);
    void exited.then((c) => { clearTimeout(timer); reject(new Error(`router exited early (${c}): ${out}${err}`)); });
  });
  return {
    pid: child.pid!,
    ...ports,
    process: child,
    log: () => out,
    exitCode: () => code,
    exited,
    async admin(pathname) {
      const res = await fetch(`http://${host}:${ports.adminPort}${pathname}`);
      return { status: res.status, body: await res.text() };
    },
    async heapAfterGc() {
      if (!opts.gcProbe) throw new Error("start the router with gcProbe: true to read its heap");
      const from = out.length;
      child.kill("SIGUSR2");
      const until = Date.now() + 5000;
      for (;;) {
        const m = /\{"heapUsedAfterGc":(\d+)\}/.exec(out.slice(from));
        if (m) return Number(m[1]);
        if (Date.now() > until) throw new Error("the router did not report its heap in 5 s");
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async kill() {
      if (code === undefined) child.kill("SIGKILL");
      await exited;
    },
  };
}

/** Open file descriptors of a process (sockets included). */
export function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** Resident set size of a process, in bytes, from /proc/<pid>/status. */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** A gauge or counter's value from Prometheus text, summed over the series whose labels match. */
export function metricSeries(text: string, name: string): string[] {
  return text.split("\n").filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

export function metricValue(text: string, name: string): number {
  return metricSeries(text, name).reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
}
