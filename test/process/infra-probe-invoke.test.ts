/**
 * How the scheduled probe is invoked: no Lambda retries, no stale events, one run at a time.
 * Sources: PutFunctionEventInvokeConfig (https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionEventInvokeConfig.html):
 * MaximumEventAgeInSeconds 60-21600, MaximumRetryAttempts 0-2 (default 2). Async invocation
 * (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html): a throttled
 * event returns to the queue and is retried until its maximum age, so with reserved concurrency 1
 * a second run waits rather than overlaps. PutFunctionConcurrency
 * (https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionConcurrency.html): reservations must
 * leave at least 100 unreserved executions in the account.
 */
import { strict as assert } from "node:assert";
import { ConfigError } from "../../infra/config";
import { EVENT_AGE_LIMITS, probeInvokePlan } from "../../infra/probe";
import { loadStackConfigFile, runProgram, type ProgramRun } from "../helpers/pulumi-program";

describe("infra probe invoke plan", () => {
  it("never retries, keeps an event at most one period, runs one at a time", () => {
    assert.deepEqual(probeInvokePlan("rate(1 minute)", 30), { periodSeconds: 60, maximumRetryAttempts: 0, maximumEventAgeInSeconds: 60, reservedConcurrentExecutions: 1 });
    assert.equal(probeInvokePlan("rate(5 minutes)", 30).maximumEventAgeInSeconds, 300);
  });

  it("keeps the event age inside Lambda's 60-21600 s", () => {
    assert.deepEqual(EVENT_AGE_LIMITS, { min: 60, max: 21600 });
    assert.equal(probeInvokePlan("rate(1 day)", 900).maximumEventAgeInSeconds, 21600);
    for (const schedule of ["rate(1 minute)", "rate(7 minutes)", "rate(2 hours)", "rate(1 day)", "cron(0 * * * ? *)"]) {
      const age = probeInvokePlan(schedule, 30).maximumEventAgeInSeconds;
      assert.ok(age >= 60 && age <= 21600, `${schedule}: ${age}`);
    }
  });

  it("refuses a Lambda timeout not below the schedule period, naming both keys", () => {
    assert.throws(() => probeInvokePlan("rate(1 minute)", 60), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /pixell-a2a:probeLambdaTimeoutSeconds = "60" is not valid: expected less than the period of pixell-a2a:probeSchedule "rate\(1 minute\)" \(60 s\)/);
      return true;
    });
    assert.doesNotThrow(() => probeInvokePlan("rate(1 minute)", 59));
    assert.doesNotThrow(() => probeInvokePlan("rate(5 minutes)", 120));
  });
});

describe("infra probe invoke config under mocks", function () {
  this.timeout(60000);
  const invokeConfig = (run: ProgramRun) => run.one("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig").inputs;

  it("Pulumi.dev.yaml: the function reserves 1 execution and its invoke config has 0 retries and a 60 s event age", async () => {
    const run = await runProgram(loadStackConfigFile());
    const fn = run.one("aws:lambda/function:Function").inputs;
    assert.equal(fn.reservedConcurrentExecutions, 1);
    assert.ok(fn.timeout < 60, "the Lambda timeout is below the 1-minute period");
    const cfg = invokeConfig(run);
    assert.deepEqual([cfg.functionName, cfg.maximumRetryAttempts, cfg.maximumEventAgeInSeconds], [fn.name, 0, 60]);
    assert.equal(cfg.qualifier, undefined, "applies to $LATEST, the version the schedule invokes");
  });

  it("a 5-minute schedule keeps events up to 300 s; a timeout not below the period fails the program with the key", async () => {
    const base = loadStackConfigFile();
    const run = await runProgram({ ...base, "pixell-a2a:probeSchedule": "rate(5 minutes)", "pixell-a2a:probeLambdaTimeoutSeconds": "120" });
    assert.equal(invokeConfig(run).maximumEventAgeInSeconds, 300);
    await assert.rejects(runProgram({ ...base, "pixell-a2a:probeLambdaTimeoutSeconds": "60" }), /pixell-a2a:probeLambdaTimeoutSeconds = "60" is not valid/);
  });
});
