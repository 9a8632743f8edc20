/**
 * bench/registry-lookup-report.ts (issue 17, row c): the markdown table of PAR's and Cloud Map's lookup
 * CPU at 10,000 deployments, on fixed figures. Pure: no I/O, no timing.
 */
import assert from "node:assert/strict";
import { BENCH_USAGE, parseBenchArgs } from "../../bench/options";
import {
  cpuPerLookupUs, formatCpu, formatLookups, formatWall, registryLookupRows, renderRegistryLookups,
  REGISTRY_LOOKUP_HEADER, type LookupPhase, type RegistryLookupFigures,
} from "../../bench/registry-lookup-report";

const phase = (lookups: number, distinctIds: number, cpuUs: number, requests: number, wallMs: number): LookupPhase =>
  ({ deployments: 10_000, lookups, distinctIds, cpuUs, requests, wallMs });

const FIGURES: RegistryLookupFigures = {
  par: {
    firstMisses: phase(2000, 2000, 2_540_000, 2000, 3672.4),
    cold: phase(2000, 2000, 1_298_000, 2000, 1885.2),
    warm: phase(200_000, 2000, 79_000, 0, 96.5),
    concurrency: 64,
    coldConnections: 0,
  },
  cloudMap: {
    shards: 10,
    load: phase(0, 0, 270_123, 10, 397.2),
    cold: phase(10_000, 10_000, 17_800, 0, 19.54),
    warm: phase(200_000, 10_000, 166_200, 0, 192),
  },
};

/** The table's data rows as cells (header and separator dropped). */
function tableRows(markdown: string): string[][] {
  return markdown.split("\n").filter((l) => l.startsWith("| ")).slice(1)
    .filter((l) => !l.startsWith("| ---")).map((l) => l.slice(2, -2).split(" | "));
}

describe("bench registry-lookup report (issue 17 row c)", () => {
  it("formats CPU in ns below 1 µs, µs below 1 ms, ms above, three significant digits", () => {
    assert.equal(formatCpu(0.395), "395 ns");
    assert.equal(formatCpu(1.78), "1.78 µs");
    assert.equal(formatCpu(64.94), "64.9 µs");
    assert.equal(formatCpu(649), "649 µs");
    assert.equal(formatCpu(1270), "1.27 ms");
    assert.equal(formatCpu(270_123), "270 ms");
    assert.equal(formatCpu(NaN), "–");
    assert.equal(formatCpu(-1), "–");
  });

  it("formats wall time and the lookups column", () => {
    assert.equal(formatWall(3672.4), "3,672 ms");
    assert.equal(formatWall(96.5), "96.5 ms");
    assert.equal(formatWall(1.234), "1.23 ms");
    assert.equal(formatLookups(phase(200_000, 2000, 1, 0, 1)), "200,000 over 2,000 ids");
    assert.equal(formatLookups(phase(2000, 2000, 1, 0, 1)), "2,000");
    assert.equal(formatLookups(phase(0, 0, 1, 0, 1)), "0");
  });

  it("CPU per lookup is the phase's CPU over its lookups; a load has none", () => {
    assert.equal(cpuPerLookupUs(FIGURES.par.cold), 649);
    assert.equal(cpuPerLookupUs(FIGURES.par.warm), 0.395);
    assert.ok(Number.isNaN(cpuPerLookupUs(FIGURES.cloudMap.load)));
  });

  it("has the rows PAR first misses / cold / warm and Cloud Map load / cold / warm, in that order, with their figures", () => {
    assert.deepEqual(registryLookupRows(FIGURES), [
      ["PAR REST, first misses of the process (JIT cold, 64 in flight)", "10,000", "2,000", "1.27 ms", "2,000", "3,672 ms"],
      ["PAR REST, cold (every id a miss, 64 in flight)", "10,000", "2,000", "649 µs", "2,000", "1,885 ms"],
      ["PAR REST, warm (cache hits)", "10,000", "200,000 over 2,000 ids", "395 ns", "0", "96.5 ms"],
      ["Cloud Map, load (10 shards, first listing)", "10,000", "–", "270 ms total", "10", "397 ms"],
      ["Cloud Map, cold (first lookup of each id after the load)", "10,000", "10,000", "1.78 µs", "0", "19.5 ms"],
      ["Cloud Map, warm (repeated lookups)", "10,000", "200,000 over 10,000 ids", "831 ns", "0", "192 ms"],
    ]);
  });

  it("renders a markdown table with the header, right-aligned figures and the rows, then what was counted", () => {
    const md = renderRegistryLookups(FIGURES);
    const lines = md.split("\n");
    assert.equal(lines[0], `| ${REGISTRY_LOOKUP_HEADER.join(" | ")} |`);
    assert.equal(lines[0], "| source, phase | deployments | lookups | CPU per lookup | requests to the source | wall |");
    assert.equal(lines[1], "| --- | ---: | ---: | ---: | ---: | ---: |");
    assert.deepEqual(tableRows(md), registryLookupRows(FIGURES));
    assert.match(md, /PAR cold opened 0 new TCP connections for its 2,000 requests/);
    assert.match(md, /process\.cpuUsage\(\)/);
    assert.match(md, /child process/);
  });

  it("says 'shard' for one shard and 'connection' for one", () => {
    const one: RegistryLookupFigures = { par: { ...FIGURES.par, coldConnections: 1 }, cloudMap: { ...FIGURES.cloudMap, shards: 1 } };
    const md = renderRegistryLookups(one);
    assert.match(md, /Cloud Map, load \(1 shard, first listing\)/);
    assert.match(md, /opened 1 new TCP connection for/);
  });

  it("npm run bench runs the part by default and --no-registry skips it (in the usage line)", () => {
    assert.equal(parseBenchArgs([]).registry, true);
    assert.equal(parseBenchArgs(["--quick", "--no-registry"]).registry, false);
    assert.match(BENCH_USAGE, /--no-registry/);
  });
});
