/**
 * A Docker build context as the builder receives it: the context directory minus what its ignore
 * file excludes.
 *
 * Which ignore file (https://docs.docker.com/build/concepts/context/#dockerignore-files):
 * the client looks for `.dockerignore` in the root directory of the context; a Dockerfile-specific
 * `<Dockerfile name>.dockerignore` beside the Dockerfile takes precedence over it. An ignore file
 * anywhere else (a subfolder of the context, the repository root of a sub-context) does not apply.
 *
 * Matching uses @balena/dockerignore, a port of Docker's own Go matcher (moby's patternmatcher:
 * `filepath.Match` per segment, `**` for any number of directories, `!` exceptions where the last
 * matching line wins, a path excluded when it or a parent directory matches). Case-sensitive, as on
 * Linux builders: the library's default is case-insensitive, so `ignorecase: false` is passed.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import ignore, { type Ignore } from "@balena/dockerignore";

export interface BuildContext {
  readonly dir: string;
  /** The ignore file in force, or undefined when there is none. */
  readonly ignoreFile?: string;
  /** True when the context-relative path (forward slashes) is sent to the builder. */
  includes(relative: string): boolean;
}

/** The ignore file Docker uses for this Dockerfile and context (undefined: none). */
export function ignoreFileFor(contextDir: string, dockerfile: string): string | undefined {
  const specific = `${dockerfile}.dockerignore`;
  if (fs.existsSync(specific)) return specific;
  const root = path.join(contextDir, ".dockerignore");
  return fs.existsSync(root) ? root : undefined;
}

export function buildContext(contextDir: string, dockerfile: string): BuildContext {
  const ignoreFile = ignoreFileFor(contextDir, dockerfile);
  const ig: Ignore = ignore({ ignorecase: false });
  if (ignoreFile) ig.add(fs.readFileSync(ignoreFile, "utf8"));
  return {
    dir: contextDir,
    ...(ignoreFile ? { ignoreFile } : {}),
    includes: (relative) => relative === "" || relative === "." || !ig.ignores(relative),
  };
}

/** Every included file under `relative` (itself when it is a file), context-relative, sorted. */
export function contextFilesUnder(ctx: BuildContext, relative: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const abs = path.join(ctx.dir, rel);
    const stat = fs.lstatSync(abs);
    if (stat.isDirectory()) {
      for (const name of fs.readdirSync(abs).sort()) walk(rel === "" ? name : `${rel}/${name}`);
    } else if (ctx.includes(rel)) {
      out.push(rel);
    }
  };
  walk(relative);
  return out;
}
