/**
 * A small Dockerfile reader: parses a Dockerfile into stages and resolves each instruction the way
 * BuildKit does, into a plan that test/helpers/docker-build.ts carries out without a daemon.
 * It understands what this project's Dockerfiles use and throws on anything else, so a new
 * instruction or flag fails the image tests loudly instead of being skipped.
 *
 * Rules, from the Dockerfile reference (https://docs.docker.com/reference/dockerfile/):
 * - A line ending in `\` continues on the next; lines starting with `#` are comments (parser
 *   directives such as `# syntax=` are comments to this reader). Keywords are case-insensitive.
 * - "ARG": an ARG before the first FROM is outside any stage and can only be used in FROM lines;
 *   inside a stage, `ARG NAME` without a value takes the global default. A build arg overrides the
 *   default. ARG and ENV values are in the environment of every later RUN of the stage.
 * - "Environment replacement": `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR:+word}` are expanded in
 *   FROM, COPY, ENV, WORKDIR, USER, EXPOSE, STOPSIGNAL (not in RUN, CMD, ENTRYPOINT: the shell of a
 *   RUN expands its own variables; exec-form CMD is never expanded). An unset variable is empty.
 * - "WORKDIR": a relative path is relative to the previous WORKDIR; the default is `/`.
 * - "RUN"/"CMD"/"ENTRYPOINT": a JSON array is the exec form; anything else is the shell form,
 *   run as `/bin/sh -c <command>`.
 * - "VOLUME": a JSON array or space-separated paths; recorded in the image config (`volumes`).
 */

export type Instruction = { readonly keyword: string; readonly args: string; readonly line: number };

export interface ParsedStage {
  readonly from: Instruction;
  readonly instructions: readonly Instruction[];
}

export interface ParsedDockerfile {
  /** ARG instructions before the first FROM. */
  readonly globalArgs: readonly Instruction[];
  readonly stages: readonly ParsedStage[];
}

export interface CopyStep {
  readonly kind: "copy";
  readonly line: number;
  /** A stage name or index (`COPY --from=build`); absent: the build context. */
  readonly from?: string;
  /** Octal mode from `--chmod` (symbolic modes are refused). */
  readonly chmod?: number;
  readonly sources: readonly string[];
  /** Absolute path in the stage: WORKDIR applied, trailing slash kept (it is significant). */
  readonly dest: string;
}

export interface RunStep {
  readonly kind: "run";
  readonly line: number;
  /** The argv: `/bin/sh -c <command>` for the shell form. */
  readonly argv: readonly string[];
  /** The stage's working directory when the RUN starts. */
  readonly workdir: string;
  /** ARG and ENV values in scope (ENV wins over ARG of the same name, as in Docker). */
  readonly env: Readonly<Record<string, string>>;
}

export interface WorkdirStep { readonly kind: "workdir"; readonly line: number; readonly path: string }

export type Step = CopyStep | RunStep | WorkdirStep;

export interface PlannedStage {
  readonly index: number;
  readonly name?: string;
  /** The FROM image after argument expansion (`node:20-bookworm-slim`). */
  readonly base: string;
  readonly steps: readonly Step[];
  /** The image configuration the stage ends with. */
  readonly config: {
    readonly env: Readonly<Record<string, string>>;
    readonly workdir: string;
    readonly user?: string;
    readonly cmd?: readonly string[];
    readonly entrypoint?: readonly string[];
    readonly expose: readonly string[];
    readonly stopSignal?: string;
    /** VOLUME paths, in order. */
    readonly volumes: readonly string[];
  };
}

export class DockerfileError extends Error {
  constructor(line: number, message: string) {
    super(`Dockerfile line ${line}: ${message}`);
  }
}

/** Splits the text into instructions (continuations joined, comments and blank lines dropped). */
export function parseDockerfile(text: string): ParsedDockerfile {
  const instructions: Instruction[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const first = i + 1;
    let line = lines[i]!;
    if (/^\s*#/.test(line) || line.trim() === "") continue;
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      line = line.replace(/\\\s*$/, "");
      i++;
      const next = lines[i]!;
      if (/^\s*#/.test(next)) continue; // comment lines inside a continuation are dropped
      line += next;
    }
    const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(line);
    if (!m) throw new DockerfileError(first, `cannot read "${line.trim()}"`);
    instructions.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: first });
  }
  const globalArgs: Instruction[] = [];
  const stages: { from: Instruction; instructions: Instruction[] }[] = [];
  for (const ins of instructions) {
    if (ins.keyword === "FROM") stages.push({ from: ins, instructions: [] });
    else if (stages.length === 0) {
      if (ins.keyword !== "ARG") throw new DockerfileError(ins.line, `${ins.keyword} before the first FROM (only ARG may come first)`);
      globalArgs.push(ins);
    } else stages[stages.length - 1]!.instructions.push(ins);
  }
  if (stages.length === 0) throw new DockerfileError(1, "no FROM instruction");
  return { globalArgs, stages };
}

/** `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR:+word}`; `\$` is a literal dollar. */
export function expandVariables(text: string, vars: Readonly<Record<string, string>>, line: number): string {
  return text.replace(/\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)|\$\{[^}]*\}?/g,
    (whole, braced: string | undefined, op: string | undefined, word: string | undefined, bare: string | undefined) => {
      if (whole === "\\$") return "$";
      const name = braced ?? bare;
      if (name === undefined) throw new DockerfileError(line, `unsupported substitution ${whole}`);
      const value = vars[name];
      if (op === "-") return value !== undefined && value !== "" ? value : word!;
      if (op === "+") return value !== undefined && value !== "" ? word! : "";
      return value ?? "";
    });
}

/** A JSON array of strings (exec form), or undefined when `args` is not one. */
function execForm(args: string): string[] | undefined {
  if (!args.startsWith("[")) return undefined;
  try {
    const parsed: unknown = JSON.parse(args);
    if (Array.isArray(parsed) && parsed.every((s) => typeof s === "string")) return parsed as string[];
  } catch {
    // Docker treats an unparsable `[...` as the shell form; so do we.
  }
  return undefined;
}

/** Leading `--name=value` / `--name` flags of COPY and friends. */
function splitFlags(args: string): { flags: Map<string, string>; rest: string } {
  const flags = new Map<string, string>();
  let rest = args;
  for (let m = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(rest); m; m = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(rest)) {
    flags.set(m[1]!, m[2] ?? "true");
    rest = rest.slice(m[0].length);
  }
  return { flags, rest };
}

/** `KEY=value KEY2="two words"`, or the legacy `KEY value` form. */
function parseKeyValues(args: string, line: number): [string, string][] {
  if (!/^[^\s=]+=/.test(args)) {
    const m = /^(\S+)\s+(.*)$/.exec(args);
    if (!m) throw new DockerfileError(line, `ENV needs KEY=value, got "${args}"`);
    return [[m[1]!, m[2]!]];
  }
  const out: [string, string][] = [];
  const re = /([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)\s*/g;
  let consumed = 0;
  for (let m = re.exec(args); m; m = re.exec(args)) {
    if (m.index !== consumed) break;
    const raw = m[2]!;
    out.push([m[1]!, raw.startsWith("\"") ? raw.slice(1, -1).replace(/\\(.)/g, "$1") : raw]);
    consumed = re.lastIndex;
  }
  if (consumed !== args.length) throw new DockerfileError(line, `cannot read ENV "${args}"`);
  return out;
}

function joinImagePath(base: string, p: string): string {
  const trailing = p.endsWith("/") || p === "." || p.endsWith("/.");
  const parts = (p.startsWith("/") ? p : `${base}/${p}`).split("/");
  const out: string[] = [];
  for (const part of parts) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  const joined = `/${out.join("/")}`;
  return trailing && joined !== "/" ? `${joined}/` : joined;
}

/** Resolves every stage: arguments expanded, WORKDIR applied, COPY and RUN turned into steps. */
export function planStages(df: ParsedDockerfile, buildArgs: Readonly<Record<string, string>> = {}): PlannedStage[] {
  const globalDefaults: Record<string, string | undefined> = {};
  const globalScope: Record<string, string> = {};
  for (const arg of df.globalArgs) {
    const [name, def] = splitArg(arg);
    globalDefaults[name] = def;
    const value = buildArgs[name] ?? def;
    if (value !== undefined) globalScope[name] = value;
  }
  const planned: PlannedStage[] = [];
  df.stages.forEach((stage, index) => {
    const fromArgs = expandVariables(stage.from.args, globalScope, stage.from.line);
    const { flags: fromFlags, rest: fromRest } = splitFlags(`${fromArgs} `);
    for (const flag of fromFlags.keys()) if (flag !== "platform") throw new DockerfileError(stage.from.line, `FROM --${flag} is not understood by this reader`);
    const fm = /^(\S+)(?:\s+AS\s+(\S+))?\s*$/i.exec(fromRest.trim());
    if (!fm) throw new DockerfileError(stage.from.line, `cannot read FROM "${stage.from.args}"`);
    const args: Record<string, string> = {};
    const env: Record<string, string> = {};
    let workdir = "/";
    let user: string | undefined;
    let cmd: string[] | undefined;
    let entrypoint: string[] | undefined;
    let stopSignal: string | undefined;
    const expose: string[] = [];
    const volumes: string[] = [];
    const steps: Step[] = [];
    const scope = (): Record<string, string> => ({ ...args, ...env });
    for (const ins of stage.instructions) {
      const expanded = (): string => expandVariables(ins.args, scope(), ins.line);
      switch (ins.keyword) {
        case "ARG": {
          const [name, def] = splitArg(ins);
          const value = buildArgs[name] ?? def ?? globalDefaults[name];
          if (value !== undefined) args[name] = value;
          break;
        }
        case "ENV":
          for (const [k, v] of parseKeyValues(expanded(), ins.line)) env[k] = v;
          break;
        case "WORKDIR":
          workdir = joinImagePath(workdir, expanded()).replace(/(.)\/$/, "$1");
          steps.push({ kind: "workdir", line: ins.line, path: workdir });
          break;
        case "COPY": {
          const { flags, rest } = splitFlags(`${expanded()} `);
          for (const flag of flags.keys()) {
            if (!["from", "chmod"].includes(flag)) throw new DockerfileError(ins.line, `COPY --${flag} is not understood by this reader`);
          }
          const words = execForm(rest.trim()) ?? rest.trim().split(/\s+/);
          if (words.length < 2) throw new DockerfileError(ins.line, "COPY needs a source and a destination");
          const chmodText = flags.get("chmod");
          if (chmodText !== undefined && !/^[0-7]{3,4}$/.test(chmodText)) throw new DockerfileError(ins.line, `COPY --chmod=${chmodText}: only octal modes are understood by this reader`);
          const sources = words.slice(0, -1);
          for (const s of sources) if (/[*?[]/.test(s)) throw new DockerfileError(ins.line, `COPY source ${s}: wildcards are not understood by this reader`);
          steps.push({
            kind: "copy", line: ins.line, sources,
            dest: joinImagePath(workdir, words[words.length - 1]!),
            ...(flags.has("from") ? { from: flags.get("from")! } : {}),
            ...(chmodText !== undefined ? { chmod: parseInt(chmodText, 8) } : {}),
          });
          break;
        }
        case "RUN": {
          if (ins.args.startsWith("--")) throw new DockerfileError(ins.line, "RUN flags (--mount, --network) are not understood by this reader");
          const argv = execForm(ins.args) ?? ["/bin/sh", "-c", ins.args];
          steps.push({ kind: "run", line: ins.line, argv, workdir, env: scope() });
          break;
        }
        case "USER": user = expanded(); break;
        case "EXPOSE": expose.push(...expanded().split(/\s+/)); break;
        case "STOPSIGNAL": stopSignal = expanded(); break;
        case "CMD": cmd = execForm(ins.args) ?? ["/bin/sh", "-c", ins.args]; break;
        case "ENTRYPOINT": entrypoint = execForm(ins.args) ?? ["/bin/sh", "-c", ins.args]; break;
        case "LABEL": break;
        case "VOLUME": volumes.push(...(execForm(ins.args) ?? expanded().split(/\s+/))); break;
        default:
          throw new DockerfileError(ins.line, `${ins.keyword} is not understood by this reader`);
      }
    }
    planned.push({
      index, base: fm[1]!, ...(fm[2] ? { name: fm[2] } : {}), steps,
      config: { env, workdir, expose, volumes, ...(user ? { user } : {}), ...(cmd ? { cmd } : {}), ...(entrypoint ? { entrypoint } : {}), ...(stopSignal ? { stopSignal } : {}) },
    });
  });
  return planned;
}

function splitArg(ins: Instruction): [string, string | undefined] {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(ins.args);
  if (!m) throw new DockerfileError(ins.line, `cannot read ARG "${ins.args}"`);
  const raw = m[2];
  return [m[1]!, raw === undefined ? undefined : raw.replace(/^"(.*)"$/, "$1")];
}
