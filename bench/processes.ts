/**
 * The processes the benchmark runs: spawned children it kills at the end, free loopback
 * ports, /proc readings of a process tree, and the Debian tools it installs when missing.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { accessSync, constants, readFileSync, readdirSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { descendants, parseProcStat, parseRssSplitBytes, parseVmHwmBytes } from "./stats";

/** A free TCP port on 127.0.0.1 (bound, read, released: a small race we accept on loopback). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Last few KB of stderr and stdout, for error messages. */
  output(): string;
  /** Set once the process has exited. */
  readonly exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
}

/** Every child the bench starts; `stopAll` ends them (SIGTERM, then SIGKILL after a grace period). */
export class Children {
  private readonly children: Child[] = [];

  start(name: string, command: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Child {
    const proc = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    if (proc.pid === undefined) throw new Error(`could not start ${name} (${command}): is it installed?`);
    let tail = "";
    const keep = (b: Buffer): void => { tail = (tail + b.toString()).slice(-4000); };
    proc.stdout!.on("data", keep);
    proc.stderr!.on("data", keep);
    const child: { -readonly [K in keyof Child]: Child[K] } = { name, proc, pid: proc.pid, output: () => tail, exited: undefined };
    proc.on("exit", (code, signal) => { child.exited = { code, signal }; });
    proc.on("error", () => undefined); // surfaced through `exited` and the readiness checks
    this.children.push(child);
    return child;
  }

  async stopAll(graceMs = 3000): Promise<void> {
    const running = this.children.splice(0).filter((c) => c.exited === undefined);
    await Promise.all(running.map((c) => new Promise<void>((resolve) => {
      const timer = setTimeout(() => { c.proc.kill("SIGKILL"); }, graceMs);
      c.proc.once("exit", () => { clearTimeout(timer); resolve(); });
      if (c.exited !== undefined) { clearTimeout(timer); resolve(); return; }
      c.proc.kill("SIGTERM");
    })));
  }

  /** Kills synchronously: for process 'exit' after an uncaught failure. */
  killAllNow(): void {
    for (const c of this.children) if (c.exited === undefined) c.proc.kill("SIGKILL");
  }
}

/** Resolves with the first stdout line of `child` that parses as JSON with a numeric `port`. */
export function waitForPortLine(child: Child, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let buffered = "";
    const timer = setTimeout(() => done(new Error(`${child.name} printed no port within ${timeoutMs} ms; output:\n${child.output()}`)), timeoutMs);
    const onData = (b: Buffer): void => {
      buffered += b.toString();
      for (const line of buffered.split("\n").slice(0, -1)) {
        try {
          const port = (JSON.parse(line) as { port?: unknown }).port;
          if (typeof port === "number") { done(undefined, port); return; }
        } catch { /* not the JSON line */ }
      }
    };
    // "close" (not "exit") so the output read so far includes the child's last words.
    const onExit = (): void => done(new Error(`${child.name} exited before printing its port; output:\n${child.output()}`));
    const done = (err: Error | undefined, port?: number): void => {
      clearTimeout(timer);
      child.proc.stdout!.off("data", onData);
      child.proc.off("close", onExit);
      if (err) reject(err); else resolve(port!);
    };
    child.proc.stdout!.on("data", onData);
    child.proc.once("close", onExit);
  });
}

function readProcs(): { pid: number; ppid: number }[] {
  const out: { pid: number; ppid: number }[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      out.push(parseProcStat(readFileSync(`/proc/${name}/stat`, "utf8")));
    } catch { /* the process ended while we listed */ }
  }
  return out;
}

/** Pids of `root` and its descendants (nginx's master and worker). */
export function processTree(root: number): number[] {
  return descendants(root, readProcs());
}

/** utime + stime (`total`) and utime alone (`user`), clock ticks of all threads, summed over `pids` from one read each. */
export function cpuTimes(pids: readonly number[]): { total: number; user: number } {
  let total = 0;
  let user = 0;
  for (const pid of pids) {
    try {
      const s = parseProcStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
      total += s.cpuTicks;
      user += s.userTicks;
    } catch { /* gone */ }
  }
  return { total, user };
}

/** utime + stime (clock ticks, all threads) summed over `pids`. */
export function cpuTicks(pids: readonly number[]): number {
  return cpuTimes(pids).total;
}

/** Peak resident set (VmHWM) summed over `pids`, in bytes. */
export function peakRssBytes(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try { sum += parseVmHwmBytes(readFileSync(`/proc/${pid}/status`, "utf8")) || 0; } catch { /* gone */ }
  }
  return sum;
}

/**
 * Resets the peak (VmHWM) of `pids` to their current RSS, so a later peakRssBytes is the peak of what ran
 * in between (proc(5), /proc/PID/clear_refs: "5" resets the high water mark, Linux 4.0 and later).
 * Returns false when a process refused it (not ours, or gone).
 */
export function resetPeakRss(pids: readonly number[]): boolean {
  let ok = true;
  for (const pid of pids) {
    try { writeFileSync(`/proc/${pid}/clear_refs`, "5"); } catch { ok = false; }
  }
  return ok;
}

/** RssAnon and RssFile now, summed over `pids`, in bytes. */
export function rssSplitBytes(pids: readonly number[]): { anon: number; file: number } {
  let anon = 0;
  let file = 0;
  for (const pid of pids) {
    try {
      const s = parseRssSplitBytes(readFileSync(`/proc/${pid}/status`, "utf8"));
      anon += s.anon || 0;
      file += s.file || 0;
    } catch { /* gone */ }
  }
  return { anon, file };
}

export function clockTicksPerSecond(): number {
  try {
    const n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

function which(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":").concat(["/usr/sbin", "/sbin"])) {
    try {
      accessSync(`${dir}/${binary}`, constants.X_OK);
      return `${dir}/${binary}`;
    } catch { /* not here */ }
  }
  return undefined;
}

export interface Tools { readonly nginx: string; readonly haproxy: string; readonly h2load: string }

/** Debian packages per binary; nginx-light when the release still has it, else nginx. */
const PACKAGES: Record<keyof Tools, readonly string[]> = { nginx: ["nginx-light", "nginx"], haproxy: ["haproxy"], h2load: ["nghttp2-client"] };

function hasCandidate(pkg: string): boolean {
  try {
    const out = execFileSync("apt-cache", ["policy", pkg], { encoding: "utf8" });
    return /Candidate: (?!\(none\))\S+/.test(out);
  } catch {
    return false;
  }
}

/**
 * Finds nginx, haproxy and h2load; installs the missing ones with apt-get when running as
 * root on Debian, and otherwise fails saying what to install.
 */
export function ensureTools(log: (line: string) => void): Tools {
  const find = (): Partial<Record<keyof Tools, string>> => ({ nginx: which("nginx"), haproxy: which("haproxy"), h2load: which("h2load") });
  let found = find();
  const missing = (Object.keys(PACKAGES) as (keyof Tools)[]).filter((k) => !found[k]);
  if (missing.length > 0) {
    const hint = `install them with: apt-get install -y nginx-light haproxy nghttp2-client (missing: ${missing.join(", ")})`;
    if (process.getuid?.() !== 0) throw new Error(`the benchmark needs nginx, haproxy and h2load; not running as root, so ${hint}`);
    if (!which("apt-get")) throw new Error(`the benchmark needs nginx, haproxy and h2load and apt-get is not available; ${hint}`);
    log(`installing ${missing.join(", ")} with apt-get`);
    execFileSync("apt-get", ["update"], { stdio: ["ignore", "ignore", "inherit"] });
    const packages = missing.map((k) => PACKAGES[k].find(hasCandidate)).filter((p): p is string => p !== undefined);
    if (packages.length < missing.length) throw new Error(`apt has no candidate for some of ${missing.join(", ")}; ${hint}`);
    execFileSync("apt-get", ["install", "-y", "--no-install-recommends", ...packages], {
      stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
    found = find();
  }
  if (!found.nginx || !found.haproxy || !found.h2load) throw new Error("nginx, haproxy or h2load still missing after apt-get install; install nginx-light (or nginx), haproxy and nghttp2-client");
  return { nginx: found.nginx, haproxy: found.haproxy, h2load: found.h2load };
}

/** First line of a command's version output (nginx prints it on stderr), for the results header. */
export function versionLine(command: string, args: readonly string[]): string {
  const r = spawnSync(command, args, { encoding: "utf8" });
  return `${r.stdout ?? ""}${r.stderr ?? ""}`.trim().split("\n")[0]!.trim() || "unknown";
}
