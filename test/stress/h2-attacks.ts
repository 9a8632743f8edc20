/**
 * `npm run stress:h2-attacks [-- --engine frames|http2] [--only NAME]`: the HTTP/2 attacks of issue 13 at the
 * issue's scale, each against a fresh child-process router with a steady client on another connection.
 * Prints one markdown row per attack × engine (router CPU and RSS growth from /proc, frames that reached the
 * agent, the attacker's GOAWAY, the steady client's errors), for docs/decisions/h2-attacks.md. Each attack is
 * capped at 10 s. Numbers are indicative: the machine is shared.
 */
import { ENGINES, startAttackBed, type Engine } from "../h2spec/kit";
import {
  emptyContinuationFlood, emptyDataFlood, hpackBomb, markdownTable, measureAttack, nonReadingPingFlood, nonReadingStreams,
  oneByteContinuationFlood, rapidReset, type AttackResult, type Scenario,
} from "../h2spec/scenarios";

const SCENARIOS: readonly Scenario[] = [
  rapidReset(5000),
  emptyContinuationFlood(200_000),
  oneByteContinuationFlood(1024 * 1024),
  hpackBomb(20),
  nonReadingPingFlood(200_000),
  emptyDataFlood(500_000),
  nonReadingStreams(24, 4000),
];

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const e = arg("--engine");
  if (e !== undefined && !(ENGINES as readonly string[]).includes(e)) throw new Error(`--engine must be one of ${ENGINES.join(", ")}, got ${e}`);
  const engines = e === undefined ? ENGINES : [e as Engine];
  const only = arg("--only");
  const rows: AttackResult[] = [];
  for (const scenario of SCENARIOS) {
    if (only !== undefined && !scenario.name.includes(only)) continue;
    for (const engine of engines) {
      const bed = await startAttackBed(engine);
      try {
        const r = await measureAttack(bed, scenario);
        rows.push(r);
        process.stderr.write(JSON.stringify(r) + "\n");
      } finally {
        await bed.close();
      }
    }
  }
  process.stdout.write(markdownTable(rows) + "\n");
}

main().catch((err: unknown) => {
  process.stderr.write(`stress failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
