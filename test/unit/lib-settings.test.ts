/** lib/settings.ts: the one parser for flags and environment variables; errors name key, value and what is accepted. */
import { strict as assert } from "node:assert";
import { boolean, formatHostPort, hostPort, isUnset, oneOf, SettingError, wholeNumber } from "../../lib/settings";

describe("lib settings parser", () => {
  it("whole numbers: digits only, within bounds, the error names key, value and range", () => {
    assert.equal(wholeNumber("K", " 42 ", 1, 100), 42);
    for (const bad of ["0", "101", "1.5", "-3", "1e2", "0x10", "", "ten"]) {
      assert.throws(() => wholeNumber("K", bad, 1, 100), (err: unknown) => err instanceof SettingError && err.key === "K" && err.value === bad
        && err.message === `K must be a whole number from 1 to 100, got ${JSON.stringify(bad)}`);
    }
    assert.throws(() => wholeNumber("D", "x", 0, 9, "seconds"), /D must be a whole number of seconds from 0 to 9, got "x"/);
  });

  it("booleans: true/false/1/0 in any case, nothing else", () => {
    assert.deepEqual(["TRUE", "1", " false ", "0"].map((v) => boolean("B", v)), [true, true, false, false]);
    for (const bad of ["yes", "on", "2", ""]) assert.throws(() => boolean("B", bad), /B must be true, false, 1 or 0, got/);
  });

  it("one of a list", () => {
    assert.equal(oneOf("E", "http2", ["frames", "http2"] as const), "http2");
    assert.throws(() => oneOf("E", "h3", ["frames", "http2"]), /E must be one of frames, http2, got "h3"/);
  });

  it("host:port: names, IPv4, bracketed IPv6; port bounds; brackets removed from the host", () => {
    assert.deepEqual(hostPort("A", "nlb.elb.amazonaws.com:50051"), { host: "nlb.elb.amazonaws.com", port: 50051 });
    assert.deepEqual(hostPort("A", "[::1]:9902"), { host: "::1", port: 9902 });
    assert.deepEqual(hostPort("A", "0.0.0.0:0", 0), { host: "0.0.0.0", port: 0 });
    for (const bad of ["50051", "host:", "host:65536", "::1:80", "a b:1", "host:0"]) {
      assert.throws(() => hostPort("A", bad), (err: unknown) => err instanceof SettingError && /^A must be HOST:PORT with a port from 1 to 65535/.test(err.message), bad);
    }
    assert.equal(formatHostPort("::1", 80), "[::1]:80");
    assert.equal(formatHostPort("10.0.0.1", 80), "10.0.0.1:80");
  });

  it("unset means undefined or blank", () => {
    assert.deepEqual([undefined, "", "  ", "x"].map(isUnset), [true, true, true, false]);
  });
});
