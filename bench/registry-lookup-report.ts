/**
 * The registry-lookup row (issue 17, row c) as markdown: PAR's REST source and the Cloud Map source at
 * 10,000 deployments, CPU per lookup with a cold cache and a warm one. Pure: figures in, text out.
 */

/** One measured phase: `lookups` calls (0 for a load) that together cost `cpuUs` of process CPU. */
export interface LookupPhase {
  /** Deployments the source's backend holds. */
  readonly deployments: number;
  readonly lookups: number;
  /** Distinct ids the lookups cycled over (0 for a load). */
  readonly distinctIds: number;
  /** process.cpuUsage() user + system over the phase, µs. */
  readonly cpuUs: number;
  /** HTTP requests the fake backend saw during the phase. */
  readonly requests: number;
  readonly wallMs: number;
}

export interface RegistryLookupFigures {
  readonly par: {
    /** The process's first misses, before the cold phase (fetch and the source not yet compiled), on other ids. */
    readonly firstMisses: LookupPhase;
    readonly cold: LookupPhase;
    readonly warm: LookupPhase;
    /** Lookups in flight at once in the cold phase. */
    readonly concurrency: number;
    /** TCP connections PAR accepted during the cold phase (0: fetch reused its keep-alive pool). */
    readonly coldConnections: number;
  };
  readonly cloudMap: {
    /** Cloud Map services (shards) the deployments are spread over, one source each. */
    readonly shards: number;
    /** The sources' start(): the first listing of every shard. */
    readonly load: LookupPhase;
    readonly cold: LookupPhase;
    readonly warm: LookupPhase;
  };
}

const count = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–");

/** A CPU time given in µs, in the unit that keeps 3 significant digits readable: ns, µs or ms. */
export function formatCpu(us: number): string {
  if (!Number.isFinite(us) || us < 0) return "–";
  if (us < 1) return `${Math.round(us * 1000)} ns`;
  if (us < 1000) return `${us < 10 ? us.toFixed(2) : us < 100 ? us.toFixed(1) : us.toFixed(0)} µs`;
  const ms = us / 1000;
  return `${ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0)} ms`;
}

export function formatWall(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "–";
  return ms < 10 ? `${ms.toFixed(2)} ms` : ms < 100 ? `${ms.toFixed(1)} ms` : `${count(ms)} ms`;
}

/** "200,000 over 2,000 ids" when the lookups repeat ids, else the count. */
export function formatLookups(p: LookupPhase): string {
  return p.distinctIds > 0 && p.distinctIds < p.lookups ? `${count(p.lookups)} over ${count(p.distinctIds)} ids` : count(p.lookups);
}

/** CPU per lookup in µs; NaN for a phase without lookups. */
export function cpuPerLookupUs(p: LookupPhase): number {
  return p.lookups > 0 ? p.cpuUs / p.lookups : NaN;
}

/** The table's rows, in order: PAR first misses, PAR cold, PAR warm, Cloud Map load, Cloud Map cold, Cloud Map warm. */
export function registryLookupRows(f: RegistryLookupFigures): string[][] {
  const row = (name: string, p: LookupPhase): string[] =>
    [name, count(p.deployments), formatLookups(p), formatCpu(cpuPerLookupUs(p)), count(p.requests), formatWall(p.wallMs)];
  return [
    row(`PAR REST, first misses of the process (JIT cold, ${f.par.concurrency} in flight)`, f.par.firstMisses),
    row(`PAR REST, cold (every id a miss, ${f.par.concurrency} in flight)`, f.par.cold),
    row("PAR REST, warm (cache hits)", f.par.warm),
    [`Cloud Map, load (${f.cloudMap.shards} shard${f.cloudMap.shards === 1 ? "" : "s"}, first listing)`, count(f.cloudMap.load.deployments), "–",
      `${formatCpu(f.cloudMap.load.cpuUs)} total`, count(f.cloudMap.load.requests), formatWall(f.cloudMap.load.wallMs)],
    row("Cloud Map, cold (first lookup of each id after the load)", f.cloudMap.cold),
    row("Cloud Map, warm (repeated lookups)", f.cloudMap.warm),
  ];
}

export const REGISTRY_LOOKUP_HEADER = ["source, phase", "deployments", "lookups", "CPU per lookup", "requests to the source", "wall"] as const;

/** The markdown table, with one line under it saying what was counted. */
export function renderRegistryLookups(f: RegistryLookupFigures): string {
  const rows = registryLookupRows(f);
  const line = (cells: readonly string[]): string => `| ${cells.join(" | ")} |`;
  return [
    line(REGISTRY_LOOKUP_HEADER),
    line(REGISTRY_LOOKUP_HEADER.map((_, i) => (i === 0 ? "---" : "---:"))),
    ...rows.map(line),
    "",
    `PAR cold opened ${count(f.par.coldConnections)} new TCP connection${f.par.coldConnections === 1 ? "" : "s"} for its ${count(f.par.cold.requests)} requests (fetch's keep-alive pool). `
      + "CPU: process.cpuUsage() (user + system) of the process holding the sources, over the phase, divided by its lookups; "
      + "the fake PAR and Cloud Map endpoints run in a child process, so their CPU is not counted. "
      + "Lookups go through the router's RegistryChain built by createSources. "
      + "PAR cold follows the first-misses row, on other ids (connections open, fetch compiled); its warm phase cycles over the ids cached less than 4 s before it, "
      + "inside the source's 5 s TTL, so any request in that row is a stale entry being refreshed. "
      + "Cloud Map's load row is the CPU of the whole first listing (the SDK's requests and JSON parsing, the snapshot build).",
    "",
  ].join("\n");
}
