/**
 * The command line of `npm run a2a`, as pure functions: argv in, a validated command (or a
 * usage error) out, and the text the commands print. No I/O here; cli.ts does the calls.
 */
import { wholeNumber } from "../lib/settings";
import { parseArgs } from "node:util";
import { isValidDeploymentId } from "../registry/types";
import type { HealthCheckResult } from "../lib/health";
import { DEFAULT_A2A_ENDPOINT, parseEndpoint, parseTlsSetting } from "./a2a-client";
import { alignColumns } from "../lib/table";

export const DEFAULT_CLI_TIMEOUT_MS = 5000;
/** Actions do real work (model calls): a Health-sized deadline would cut them off. */
export const DEFAULT_INVOKE_TIMEOUT_MS = 30_000;
export const DEFAULT_CHECK_CONCURRENCY = 16;

/** Exit codes scripts can branch on. */
export const EXIT = {
  /** The call succeeded (health: the agent is healthy; check: every deployment is). */
  OK: 0,
  /** The agent answered unhealthy, the call failed with a gRPC error, or the registry could not be read. */
  FAILED: 1,
  /** Bad command line: nothing was sent. */
  USAGE: 2,
} as const;

export const USAGE = `Usage: npm run a2a -- <command> [options]

Commands:
  health <deploymentId>                      Health call; exit 0 only if the agent says ok
  ping <deploymentId>                        Ping call
  capabilities <deploymentId>                DescribeCapabilities call
  invoke <deploymentId> <action> [key=value ...]
                                             Invoke an action with string parameters
  check --registry SOURCE                    Health-check every deployment SOURCE lists, print a table

Options:
  --endpoint HOST:PORT   A2A endpoint (default: $PAR_A2A_ENDPOINT, else ${DEFAULT_A2A_ENDPOINT})
  --timeout MS           deadline per call in milliseconds (default ${DEFAULT_CLI_TIMEOUT_MS}; invoke ${DEFAULT_INVOKE_TIMEOUT_MS})
  --json                 print one JSON document instead of text
  --tls                  TLS to the endpoint, system CAs (default: $PAR_A2A_TLS, else plaintext)
  --registry SOURCE      check: file:PATH, par:URL or cloudmap:NAMESPACE/SERVICE, comma-separated
                         (default: $ROUTER_REGISTRY)
  --concurrency N        check: Health calls in flight at once (default ${DEFAULT_CHECK_CONCURRENCY})
  --request-id ID        invoke: request id to send (default: a random UUID)
  -h, --help             this text

Environment: PAR_A2A_TOKEN, when set, is sent as "authorization: Bearer <token>" (routers with authentication on).

Exit codes: 0 ok, 1 unhealthy / call failed / registry unreadable, 2 usage error.
`;

export interface CommonOptions {
  readonly endpoint: string;
  readonly timeoutMs: number;
  readonly json: boolean;
  /** TLS to the endpoint (the NLB's TLS listener), system CAs. */
  readonly tls: boolean;
}

export type CliCommand =
  | { readonly kind: "help" }
  | ({ readonly kind: "health" | "ping" | "capabilities"; readonly deploymentId: string } & CommonOptions)
  | ({ readonly kind: "invoke"; readonly deploymentId: string; readonly action: string; readonly parameters: Record<string, string>; readonly requestId: string | undefined } & CommonOptions)
  | ({ readonly kind: "check"; readonly registry: string; readonly concurrency: number } & CommonOptions);

export type ParsedCli = CliCommand | { readonly kind: "usage-error"; readonly message: string };

function positiveInt(value: string, flag: string, max: number): number | string {
  try {
    return wholeNumber(flag, value, 1, max);
  } catch (err) {
    return (err as Error).message;
  }
}

/** Parses argv (without `node cli.ts`). Environment variables give the defaults. */
export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv): ParsedCli {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        endpoint: { type: "string" },
        timeout: { type: "string" },
        json: { type: "boolean", default: false },
        tls: { type: "boolean" },
        registry: { type: "string" },
        concurrency: { type: "string" },
        "request-id": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (err) {
    return { kind: "usage-error", message: (err as Error).message };
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: "help" };
  const [command, ...args] = positionals;
  if (command === undefined) return { kind: "usage-error", message: "no command given" };

  const endpoint = values.endpoint ?? (env.PAR_A2A_ENDPOINT || DEFAULT_A2A_ENDPOINT);
  try {
    parseEndpoint(endpoint);
  } catch (err) {
    return { kind: "usage-error", message: `--endpoint: ${(err as Error).message}` };
  }
  const defaultTimeout = command === "invoke" ? DEFAULT_INVOKE_TIMEOUT_MS : DEFAULT_CLI_TIMEOUT_MS;
  const timeoutMs = values.timeout === undefined ? defaultTimeout : positiveInt(values.timeout, "--timeout", 600_000);
  if (typeof timeoutMs === "string") return { kind: "usage-error", message: timeoutMs };
  let tls: boolean;
  try {
    tls = values.tls ?? parseTlsSetting(env.PAR_A2A_TLS);
  } catch (err) {
    return { kind: "usage-error", message: (err as Error).message };
  }
  const common: CommonOptions = { endpoint, timeoutMs, json: values.json, tls };

  const needId = (): string | { error: string } => {
    const id = args[0];
    if (id === undefined) return { error: `${command} needs a deployment id` };
    if (!isValidDeploymentId(id)) return { error: `invalid deployment id ${JSON.stringify(id.slice(0, 64))}: expected 1-128 characters of [A-Za-z0-9._-], starting with a letter or digit` };
    return id;
  };
  const onlyFor = (flag: string, allowed: string): ParsedCli | undefined =>
    command !== allowed ? { kind: "usage-error", message: `--${flag} only applies to ${allowed}` } : undefined;
  if (values.registry !== undefined && command !== "check") return onlyFor("registry", "check")!;
  if (values.concurrency !== undefined && command !== "check") return onlyFor("concurrency", "check")!;
  if (values["request-id"] !== undefined && command !== "invoke") return onlyFor("request-id", "invoke")!;

  switch (command) {
    case "health":
    case "ping":
    case "capabilities": {
      const id = needId();
      if (typeof id !== "string") return { kind: "usage-error", message: id.error };
      if (args.length > 1) return { kind: "usage-error", message: `${command} takes one deployment id, got extra ${JSON.stringify(args.slice(1).join(" "))}` };
      return { kind: command, deploymentId: id, ...common };
    }
    case "invoke": {
      const id = needId();
      if (typeof id !== "string") return { kind: "usage-error", message: id.error };
      const action = args[1];
      if (action === undefined || action === "") return { kind: "usage-error", message: "invoke needs an action: invoke <deploymentId> <action> [key=value ...]" };
      const parameters: Record<string, string> = {};
      for (const kv of args.slice(2)) {
        const eq = kv.indexOf("=");
        if (eq <= 0) return { kind: "usage-error", message: `invoke parameter ${JSON.stringify(kv)} is not key=value` };
        const key = kv.slice(0, eq);
        if (key in parameters) return { kind: "usage-error", message: `invoke parameter ${JSON.stringify(key)} is given twice` };
        parameters[key] = kv.slice(eq + 1);
      }
      return { kind: "invoke", deploymentId: id, action, parameters, requestId: values["request-id"], ...common };
    }
    case "check": {
      if (args.length > 0) return { kind: "usage-error", message: `check takes no positional arguments, got ${JSON.stringify(args.join(" "))}` };
      const registry = values.registry ?? (env.ROUTER_REGISTRY || undefined);
      if (registry === undefined) return { kind: "usage-error", message: "check needs --registry SOURCE (or ROUTER_REGISTRY): file:PATH, par:URL or cloudmap:NAMESPACE/SERVICE" };
      const concurrency = values.concurrency === undefined ? DEFAULT_CHECK_CONCURRENCY : positiveInt(values.concurrency, "--concurrency", 256);
      if (typeof concurrency === "string") return { kind: "usage-error", message: concurrency };
      return { kind: "check", registry, concurrency, ...common };
    }
    default:
      return { kind: "usage-error", message: `unknown command ${JSON.stringify(command)}: use health, ping, capabilities, invoke or check` };
  }
}

/** A health-check table for a human: one row per deployment, unhealthy ones first, then a summary line. */
export function formatCheckTable(results: readonly HealthCheckResult[], endpoint: string): string {
  const rows = [...results].sort((a, b) => Number(a.ok) - Number(b.ok) || (a.deploymentId < b.deploymentId ? -1 : a.deploymentId > b.deploymentId ? 1 : 0));
  const header = ["DEPLOYMENT", "STATUS", "CODE", "LATENCY", "MESSAGE"];
  const cells = rows.map((r) => [r.deploymentId, r.ok ? "healthy" : "UNHEALTHY", r.codeName, `${r.latencyMs.toFixed(1)} ms`, oneLine(r.message)]);
  const healthy = results.filter((r) => r.ok).length;
  const summary = `${results.length} deployments via ${endpoint}: ${healthy} healthy, ${results.length - healthy} unhealthy`;
  return [...alignColumns([header, ...cells]), "", summary].join("\n") + "\n";
}

/** One health result as a single line of text. */
export function formatHealth(r: HealthCheckResult & { address?: string }): string {
  return `${r.deploymentId}: ${r.ok ? "healthy" : "UNHEALTHY"} (${r.codeName}, ${r.latencyMs.toFixed(1)} ms${r.address ? ` via ${r.address}` : ""}) ${oneLine(r.message)}\n`;
}

function oneLine(s: string): string {
  const flat = s.replace(/\s+/g, " ").trim();
  return flat.length > 120 ? `${flat.slice(0, 117)}...` : flat;
}
