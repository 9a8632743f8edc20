/**
 * A network namespace a test creates for itself, joined to the host by a veth pair: a stand-in for
 * another task's network. Taking its link down silences it the way a vanished Fargate task is silent:
 * no FIN, no RST, no ICMP. The host keeps a permanent neighbour entry for the agent's address, as an
 * instance in a VPC never sees ARP fail: packets toward a dead peer simply disappear.
 *
 * Addresses come from 10.213.0.0/16 in /29 blocks picked from the process id, skipping any block
 * already on the host: host side .1, agent side .2, and .6, routed into the namespace but owned by
 * nobody (the namespace does not forward), so a SYN to it is never answered.
 */
import { execFileSync, spawnSync } from "node:child_process";

export class NetnsUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NetnsUnavailable";
  }
}

export interface AgentNetns {
  readonly name: string;
  /** The router's side of the link. */
  readonly hostAddress: string;
  /** Where an agent inside the namespace listens. */
  readonly agentAddress: string;
  /** Routed into the namespace and owned by nobody: connection attempts stay in SYN-SENT. */
  readonly blackholeAddress: string;
  /** The namespace's end of the link down (`ip link set ... down`) or up again. */
  setLink(up: boolean): void;
  /** Deletes the link, the route and the namespace; safe to call twice. */
  remove(): void;
}

let seq = 0;

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Whether any address or route on the host already falls in the /29 at prefix.base. */
function blockInUse(prefix: string, base: number): boolean {
  const text = ip("-4", "-o", "addr", "show") + ip("-4", "route", "show");
  for (const m of text.matchAll(/\b(\d+\.\d+\.\d+)\.(\d+)\b/g)) {
    if (m[1] === prefix && Number(m[2]) >= base && Number(m[2]) < base + 8) return true;
  }
  return false;
}

/** Creates the namespace and its link; throws NetnsUnavailable when `ip netns add` is not allowed here. */
export function createAgentNetns(): AgentNetns {
  const n = seq++;
  const name = `pxka-${process.pid}-${n}`;
  const hostIf = `pxk${process.pid % 1_000_000}${n}h`;
  const nsIf = `pxk${process.pid % 1_000_000}${n}n`;
  const add = spawnSync("ip", ["netns", "add", name], { encoding: "utf8" });
  if (add.status !== 0) throw new NetnsUnavailable(`ip netns add failed (${(add.stderr || add.error?.message || "").trim()}): needs root and a kernel with network namespaces`);

  let removed = false;
  let route = "";
  const remove = (): void => {
    if (removed) return;
    removed = true;
    if (route) spawnSync("ip", ["route", "del", route]);
    spawnSync("ip", ["link", "del", hostIf]); // deletes the peer too
    spawnSync("ip", ["netns", "del", name]);
  };
  try {
    let block = (process.pid * 7 + n * 13) % 8192;
    let prefix = "";
    let base = 0;
    for (let tries = 0; tries < 64; tries++, block = (block + 1) % 8192) {
      prefix = `10.213.${block >> 5}`;
      base = (block & 31) * 8;
      if (!blockInUse(prefix, base)) break;
    }
    const hostAddress = `${prefix}.${base + 1}`;
    const agentAddress = `${prefix}.${base + 2}`;
    const blackholeAddress = `${prefix}.${base + 6}`;
    const inNs = (...args: string[]): string => ip("netns", "exec", name, "ip", ...args);
    ip("link", "add", hostIf, "type", "veth", "peer", "name", nsIf);
    ip("link", "set", nsIf, "netns", name);
    ip("addr", "add", `${hostAddress}/29`, "dev", hostIf);
    ip("link", "set", hostIf, "up");
    inNs("addr", "add", `${agentAddress}/29`, "dev", nsIf);
    inNs("link", "set", nsIf, "up");
    inNs("link", "set", "lo", "up");
    const mac = ip("netns", "exec", name, "cat", `/sys/class/net/${nsIf}/address`).trim();
    ip("neigh", "replace", agentAddress, "lladdr", mac, "dev", hostIf, "nud", "permanent");
    route = `${blackholeAddress}/32`;
    ip("route", "add", route, "via", agentAddress, "dev", hostIf);
    return {
      name, hostAddress, agentAddress, blackholeAddress,
      setLink(up) { inNs("link", "set", nsIf, up ? "up" : "down"); },
      remove,
    };
  } catch (err) {
    remove();
    throw err;
  }
}
