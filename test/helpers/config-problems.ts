/** What parseStackConfig refuses in a raw stack config, for the config tests. */
import { strict as assert } from "node:assert";
import { ConfigError, parseStackConfig, type RawConfig } from "../../infra/config";

/** The problems of a config that must be refused; fails the test if it is accepted. */
export function configProblems(raw: RawConfig, region?: string): readonly string[] {
  try {
    parseStackConfig(raw, region);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail("expected the config to be rejected");
}

/** The problems of a config, none when it is accepted. */
export function configProblemsIfAny(raw: RawConfig): readonly string[] {
  try {
    parseStackConfig(raw);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}
