/**
 * Reading what the tools report: h2load's summary and per-request log, /proc's CPU and
 * memory lines, and the arithmetic on them (percentiles, medians). Pure functions.
 */

export interface H2loadSummary {
  readonly requestsPerSecond: number;
  readonly total: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly errored: number;
  readonly timeout: number;
  readonly status2xx: number;
}

/** Parses h2load's "finished in", "requests:" and "status codes:" lines; throws when one is missing. */
export function parseH2loadSummary(stdout: string): H2loadSummary {
  const finished = /finished in [\d.]+\w*, ([\d.]+) req\/s/.exec(stdout);
  const requests = /requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(stdout);
  const codes = /status codes: (\d+) 2xx/.exec(stdout);
  if (!finished || !requests || !codes) throw new Error(`h2load printed no summary (is the target up?); its output was:\n${stdout.slice(-2000)}`);
  return {
    requestsPerSecond: Number(finished[1]),
    total: Number(requests[1]),
    succeeded: Number(requests[2]),
    failed: Number(requests[3]),
    errored: Number(requests[4]),
    timeout: Number(requests[5]),
    status2xx: Number(codes[1]),
  };
}

/**
 * h2load `--log-file`: one line per request, "start µs since epoch <TAB> HTTP status <TAB> µs to end
 * of response". Returns the durations (µs) of the requests answered with HTTP 200, sorted.
 */
export function parseH2loadLog(text: string): number[] {
  const durations: number[] = [];
  for (const line of text.split("\n")) {
    const cols = line.split("\t");
    if (cols.length < 3 || cols[1] !== "200") continue;
    const us = Number(cols[2]);
    if (Number.isFinite(us)) durations.push(us);
  }
  return durations.sort((a, b) => a - b);
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Median of values (NaN entries ignored); NaN when none. */
export function median(values: readonly number[]): number {
  const xs = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return NaN;
  const mid = Math.floor(xs.length / 2);
  return xs.length % 2 === 1 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
}

/** a / b, NaN when either is missing or b is 0. */
export function ratio(a: number, b: number): number {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN;
}

/**
 * `/proc/<pid>/stat`: pid, parent pid, utime + stime and utime alone (clock ticks, all threads).
 * The command name (field 2) is in parentheses and may hold spaces, so split after its last ')'.
 */
export function parseProcStat(text: string): { pid: number; ppid: number; cpuTicks: number; userTicks: number } {
  const close = text.lastIndexOf(")");
  const pid = Number(text.slice(0, text.indexOf(" ")));
  // Fields after the name, numbered from 3 (state) in proc(5).
  const rest = text.slice(close + 2).trim().split(/\s+/);
  const field = (n: number): number => Number(rest[n - 3]);
  const userTicks = field(14);
  const cpuTicks = userTicks + field(15);
  if (!Number.isFinite(pid) || !Number.isFinite(cpuTicks)) throw new Error(`unreadable /proc stat line: ${text.slice(0, 200)}`);
  return { pid, ppid: field(4), cpuTicks, userTicks };
}

/** `VmHWM:   12345 kB` from /proc/<pid>/status, in bytes; NaN when absent (e.g. a zombie). */
export function parseVmHwmBytes(status: string): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}

/** `RssAnon:` and `RssFile:` from /proc/<pid>/status, in bytes (private memory vs mapped files such as the node binary); NaN when absent. */
export function parseRssSplitBytes(status: string): { anon: number; file: number } {
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB$`, "m").exec(status);
    return m ? Number(m[1]) * 1024 : NaN;
  };
  return { anon: kb("RssAnon"), file: kb("RssFile") };
}

/** `root` and every descendant of it, given (pid, ppid) pairs. */
export function descendants(root: number, procs: readonly { pid: number; ppid: number }[]): number[] {
  const children = new Map<number, number[]>();
  for (const p of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}
