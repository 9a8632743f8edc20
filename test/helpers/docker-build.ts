/**
 * Reproduces a Docker build without a daemon: each stage's filesystem is a directory of its own
 * (`<root>/stage-<n>`), filled by the stage's COPY steps from exactly the build context (after
 * its ignore file) or from an earlier stage, and its RUN steps run there. What the base image
 * provides (node, npm, /bin/sh) comes from this machine instead: the base image pull, its
 * platform and the layer cache are what only a real `docker build` shows.
 *
 * COPY, as the Dockerfile reference documents it (https://docs.docker.com/reference/dockerfile/#copy,
 * whose source and destination rules are those of ADD, "Adding files from the build context" and
 * "Destination"):
 * - a source path is relative to the context (leading `/` and `../` are stripped); with `--from`
 *   it is resolved from the filesystem root of that stage; a source the context lacks fails the
 *   build ("not found");
 * - a directory source copies its contents, not the directory itself, merged into the destination;
 * - a file source goes to `<dest>/<name>` when the destination ends with `/` (or is an existing
 *   directory), else it is written as the file `<dest>`;
 * - several sources need a destination that ends with `/`;
 * - missing destination directories are created; file permissions are preserved unless
 *   `--chmod` sets them (on every copied file and directory).
 * A RUN's absolute path arguments name paths in the stage, so they are rebased onto the stage's
 * directory (`npx tsx build/router.ts /out` writes `<stage>/out`): the one liberty taken,
 * since the stage is not a chroot. A RUN with shell syntax beyond plain words is refused, unless
 * the caller names it as one this machine must not run (`notRunHere`: package installs from the base
 * image's distribution), which is then recorded in `notRun` for the test to check.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { buildContext, contextFilesUnder, type BuildContext } from "./docker-context";
import { parseDockerfile, planStages, type CopyStep, type PlannedStage, type RunStep } from "./dockerfile";

export interface ReproducedBuild {
  readonly context: BuildContext;
  readonly stages: readonly PlannedStage[];
  /** Each stage's filesystem root on this machine, by stage index. */
  readonly roots: readonly string[];
  /** The last stage: the image. */
  readonly image: PlannedStage;
  readonly imageRoot: string;
  /** Every context file a COPY sent into a stage (context-relative, sorted). */
  readonly copiedFromContext: readonly string[];
  /** RUN steps `notRunHere` held back, in order. */
  readonly notRun: readonly RunStep[];
  /** The host path of an absolute path in the image. */
  inImage(imagePath: string): string;
}

export interface ReproduceOptions {
  readonly dockerfile: string;
  readonly context: string;
  readonly buildArgs?: Readonly<Record<string, string>>;
  /** Where the stage directories go; must be outside the repository (no node_modules up the chain). */
  readonly workDir: string;
  /** Environment for RUN steps beyond the stage's ARG/ENV: PATH and HOME stand in for the base image's. */
  readonly runEnv?: Readonly<Record<string, string>>;
  /** Upper bound for each RUN step. */
  readonly runTimeoutMs?: number;
  /** Called with each RUN's output, for diagnosis. */
  readonly onOutput?: (chunk: string) => void;
  /** RUN steps only a real build can carry out (they would change this machine, or need the base image). */
  readonly notRunHere?: (step: RunStep) => boolean;
}

export class BuildStepError extends Error {}

const stageDir = (workDir: string, index: number): string => path.join(workDir, `stage-${index}`);

function hostPath(root: string, imagePath: string): string {
  return path.join(root, path.posix.normalize(`/${imagePath}`));
}

/** Strips a leading `/` and `../` segments, as COPY does for context sources. */
function contextRelative(source: string): string {
  return path.posix.normalize(`/${source}`).slice(1).replace(/\/$/, "");
}

function copyTree(src: string, dest: string, chmod: number | undefined): void {
  const stat = fs.lstatSync(src);
  if (stat.isDirectory()) {
    fs.mkdirSync(dest, { recursive: true });
    if (chmod !== undefined) fs.chmodSync(dest, chmod);
    for (const name of fs.readdirSync(src)) copyTree(path.join(src, name), path.join(dest, name), chmod);
  } else {
    copyFile(src, dest, chmod);
  }
}

function copyFile(src: string, dest: string, chmod: number | undefined): void {
  if (fs.existsSync(dest) && fs.statSync(dest).isDirectory()) throw new BuildStepError(`cannot copy file onto directory ${dest}`);
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fs.copyFileSync(src, dest);
  fs.chmodSync(dest, chmod ?? (fs.statSync(src).mode & 0o7777));
}

function runCopy(step: CopyStep, ctx: BuildContext, roots: string[], stageIndex: number, byName: Map<string, number>, copied: Set<string>): void {
  const destRoot = roots[stageIndex]!;
  const destIsDir = step.dest.endsWith("/") || (fs.existsSync(hostPath(destRoot, step.dest)) && fs.statSync(hostPath(destRoot, step.dest)).isDirectory());
  if (step.sources.length > 1 && !step.dest.endsWith("/")) {
    throw new BuildStepError(`line ${step.line}: When using COPY with more than one source file, the destination must be a directory and end with a /`);
  }
  const dest = hostPath(destRoot, step.dest);
  for (const source of step.sources) {
    if (step.from !== undefined) {
      const fromIndex = byName.get(step.from) ?? (/^\d+$/.test(step.from) ? Number(step.from) : undefined);
      if (fromIndex === undefined || fromIndex >= stageIndex) throw new BuildStepError(`line ${step.line}: COPY --from=${step.from}: no earlier stage of that name (images are not pulled here)`);
      const src = hostPath(roots[fromIndex]!, source);
      if (!fs.existsSync(src)) throw new BuildStepError(`line ${step.line}: COPY --from=${step.from} ${source}: not found`);
      if (fs.statSync(src).isDirectory()) copyTree(src, dest, step.chmod);
      else copyFile(src, destIsDir ? path.join(dest, path.basename(src)) : dest, step.chmod);
      continue;
    }
    const rel = contextRelative(source);
    const abs = path.join(ctx.dir, rel);
    // An excluded directory is still sent when a `!` exception re-includes something inside it.
    const sent = fs.existsSync(abs) && (ctx.includes(rel) || (fs.statSync(abs).isDirectory() && contextFilesUnder(ctx, rel).length > 0));
    if (!sent) throw new BuildStepError(`line ${step.line}: COPY ${source}: "/${rel}": not found in the build context ${ctx.dir}`);
    if (fs.statSync(abs).isDirectory()) {
      fs.mkdirSync(dest, { recursive: true });
      if (step.chmod !== undefined) fs.chmodSync(dest, step.chmod);
      for (const file of contextFilesUnder(ctx, rel)) {
        copied.add(file);
        const inside = rel === "" ? file : file.slice(rel.length + 1);
        copyFile(path.join(ctx.dir, file), path.join(dest, inside), step.chmod);
      }
    } else {
      copied.add(rel);
      copyFile(abs, destIsDir ? path.join(dest, path.basename(rel)) : dest, step.chmod);
    }
  }
}

/** Plain words only: the RUN steps here are commands, not shell programs. */
const SHELL_SYNTAX = /[;&|<>`$(){}"'\\*?]/;

function rebasedArgv(step: RunStep, root: string): string[] {
  if (step.argv[0] === "/bin/sh" && step.argv[1] === "-c") {
    const command = step.argv[2]!;
    if (SHELL_SYNTAX.test(command)) throw new BuildStepError(`line ${step.line}: RUN ${command}: shell syntax is not understood by this reader`);
    const words = command.trim().split(/\s+/);
    return ["/bin/sh", "-c", words.map((w, i) => (i > 0 && w.startsWith("/") ? hostPath(root, w) : w)).join(" ")];
  }
  return step.argv.map((w, i) => (i > 0 && w.startsWith("/") ? hostPath(root, w) : w));
}

function runStep(step: RunStep, root: string, opts: ReproduceOptions): Promise<void> {
  const argv = rebasedArgv(step, root);
  const cwd = hostPath(root, step.workdir);
  fs.mkdirSync(cwd, { recursive: true });
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env: { ...opts.runEnv, ...step.env }, stdio: ["ignore", "pipe", "pipe"] });
    let tail = "";
    const onData = (chunk: Buffer): void => {
      const text = chunk.toString();
      tail = (tail + text).slice(-4000);
      opts.onOutput?.(text);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.runTimeoutMs ?? 120_000);
    child.on("error", (err) => { clearTimeout(timer); reject(err); });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new BuildStepError(`line ${step.line}: RUN ${step.argv.join(" ")} failed (${signal ?? `exit ${code}`}):\n${tail}`));
    });
  });
}

/** Plans the Dockerfile and carries out every stage in order. */
export async function reproduceBuild(opts: ReproduceOptions): Promise<ReproducedBuild> {
  const stages = planStages(parseDockerfile(fs.readFileSync(opts.dockerfile, "utf8")), opts.buildArgs ?? {});
  const ctx = buildContext(opts.context, opts.dockerfile);
  const roots = stages.map((s) => stageDir(opts.workDir, s.index));
  const byName = new Map(stages.flatMap((s) => (s.name ? [[s.name, s.index] as const] : [])));
  const copied = new Set<string>();
  const notRun: RunStep[] = [];
  for (const stage of stages) {
    const root = roots[stage.index]!;
    fs.mkdirSync(root, { recursive: true });
    for (const step of stage.steps) {
      if (step.kind === "workdir") fs.mkdirSync(hostPath(root, step.path), { recursive: true });
      else if (step.kind === "copy") runCopy(step, ctx, roots, stage.index, byName, copied);
      else if (opts.notRunHere?.(step)) notRun.push(step);
      else await runStep(step, root, opts);
    }
  }
  const image = stages[stages.length - 1]!;
  const imageRoot = roots[image.index]!;
  return {
    context: ctx, stages, roots, image, imageRoot,
    copiedFromContext: [...copied].sort(),
    notRun,
    inImage: (imagePath) => hostPath(imageRoot, imagePath),
  };
}

export interface ImageProcess {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: Record<string, string>;
  readonly uid?: number;
  readonly gid?: number;
}

/**
 * How the container's main process starts: ENTRYPOINT then CMD (exec form), in WORKDIR, with the
 * image's ENV plus `env` (the task definition's), as USER. Absolute arguments are rebased onto the
 * image's directory; `hostCommands` maps a command the base image provides (`node`) to this
 * machine's; `users` maps USER names to ids (from the base image's /etc/passwd, which is not here).
 * A user switch needs root here; without it the process runs as the current user.
 */
export function imageProcess(build: ReproducedBuild, opts: {
  readonly env: Readonly<Record<string, string>>;
  readonly hostCommands: Readonly<Record<string, string>>;
  readonly users?: Readonly<Record<string, { uid: number; gid: number }>>;
}): ImageProcess {
  const { config } = build.image;
  const argv = [...(config.entrypoint ?? []), ...(config.cmd ?? [])];
  if (argv.length === 0) throw new BuildStepError("the image has neither ENTRYPOINT nor CMD");
  const command = opts.hostCommands[argv[0]!] ?? (argv[0]!.startsWith("/") ? build.inImage(argv[0]!) : undefined);
  if (command === undefined) throw new BuildStepError(`the image runs ${argv[0]}, which this reproduction has no stand-in for`);
  const user = config.user === undefined ? undefined : (opts.users?.[config.user] ?? numericUser(config.user));
  const canSwitch = typeof process.getuid === "function" && process.getuid() === 0;
  return {
    command,
    args: argv.slice(1).map((a) => (a.startsWith("/") ? build.inImage(a) : a)),
    cwd: build.inImage(config.workdir),
    env: { ...config.env, ...opts.env },
    ...(user && canSwitch ? { uid: user.uid, gid: user.gid } : {}),
  };
}

function numericUser(user: string): { uid: number; gid: number } {
  const m = /^(\d+)(?::(\d+))?$/.exec(user);
  if (!m) throw new BuildStepError(`USER ${user}: give its ids in \`users\` (the base image's /etc/passwd is not here)`);
  return { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) };
}
