/**
 * Linux network namespaces as stand-ins for ECS tasks: each "task" is a namespace with its own
 * address on a bridge the test creates in the root namespace (veth pairs), so traffic between
 * tasks crosses a real network boundary (separate network stacks, a bridge, ARP) instead of one
 * loopback. Addresses are the test's own (10.214.X.0/24, X from the process id so parallel runs
 * do not meet); nothing leaves the bridge. Requires root (`ip netns add`).
 */
import { execFileSync } from "node:child_process";

export interface NetnsTask {
  readonly index: number;
  /** The namespace's name, for `ip netns exec`. */
  readonly netns: string;
  /** The task's address on the bridge. */
  readonly ip: string;
  /** The root namespace's end of the task's veth pair. */
  readonly hostLink: string;
}

export interface NetnsNetwork {
  readonly tasks: readonly NetnsTask[];
  /** The bridge's address: where the test itself (root namespace) reaches the tasks from. */
  readonly bridgeIp: string;
  /** Cuts a task's link (its "ENI" gone): the address stops answering ARP. */
  unplug(task: NetnsTask): void;
  /** Removes every namespace, link and the bridge; safe to call twice and after a partial setup. */
  cleanup(): void;
}

const ip = (...args: string[]): void => {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"], timeout: 10_000 });
};

/** Why namespaces cannot be made here (not root, no `ip`, no CAP_NET_ADMIN), or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== "linux") return `network namespaces need Linux (this is ${process.platform})`;
  const probe = `a2a-probe-${process.pid}`;
  try {
    ip("netns", "add", probe);
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    return `\`ip netns add\` failed (${stderr || (err as Error).message}): run as root on Linux to cross a real network boundary`;
  }
  try { ip("netns", "del", probe); } catch { /* best effort */ }
  return undefined;
}

/** Creates `count` namespaces on one bridge. On any failure it removes what it made and rethrows. */
export function createNetnsTasks(count: number): NetnsNetwork {
  const tag = String(process.pid % 10000);
  const subnet = `10.214.${20 + (process.pid % 200)}`;
  const bridge = `a2abr${tag}`;
  const tasks: NetnsTask[] = Array.from({ length: count }, (_, index) => ({
    index,
    netns: `a2a-task-${tag}-${index}`,
    ip: `${subnet}.${11 + index}`,
    hostLink: `a2av${tag}x${index}`,
  }));
  const made = { bridge: false, netns: [] as string[], links: [] as string[] };
  const cleanup = (): void => {
    for (const ns of made.netns.splice(0)) { try { ip("netns", "del", ns); } catch { /* gone already */ } }
    for (const link of made.links.splice(0)) { try { ip("link", "del", link); } catch { /* went with its namespace */ } }
    if (made.bridge) {
      made.bridge = false;
      try { ip("link", "del", bridge); } catch { /* gone already */ }
    }
  };
  try {
    ip("link", "add", bridge, "type", "bridge");
    made.bridge = true;
    ip("addr", "add", `${subnet}.1/24`, "dev", bridge);
    ip("link", "set", bridge, "up");
    for (const t of tasks) {
      ip("netns", "add", t.netns);
      made.netns.push(t.netns);
      ip("link", "add", t.hostLink, "type", "veth", "peer", "name", "eth0", "netns", t.netns);
      made.links.push(t.hostLink);
      ip("link", "set", t.hostLink, "master", bridge);
      ip("link", "set", t.hostLink, "up");
      ip("-n", t.netns, "link", "set", "lo", "up");
      ip("-n", t.netns, "addr", "add", `${t.ip}/24`, "dev", "eth0");
      ip("-n", t.netns, "link", "set", "eth0", "up");
    }
  } catch (err) {
    cleanup();
    throw err;
  }
  // A test killed before its after hook still leaves nothing behind.
  process.once("exit", cleanup);
  return {
    tasks,
    bridgeIp: `${subnet}.1`,
    unplug(task) { ip("link", "set", task.hostLink, "down"); },
    cleanup() {
      process.off("exit", cleanup);
      cleanup();
    },
  };
}
