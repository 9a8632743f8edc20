/**
 * Loads a Lambda function's handler from its unpacked code the way the Node.js runtime does.
 * The handler setting is `<module path>.<exported name>` ("index.handler": the export `handler` of
 * the module `index` in the function's root, https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html#nodejs-handler-naming).
 * Resolution follows the runtime interface client (aws/aws-lambda-nodejs-runtime-interface-client,
 * src/UserFunction.js): the module part is the handler's basename up to its first dot; `..` is
 * refused; then, in order: the extensionless file, `.js` through require when no package.json up
 * the tree says `"type": "module"`, `.mjs` through import, `.cjs` through require; the rest of the
 * name is a property path on the module's exports and must be a function.
 * The runtime's last resort, a bare `require(module)` through NODE_PATH, is not reproduced: a
 * deployed zip should not depend on it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";

export type LambdaHandler = (event: unknown, context: { getRemainingTimeInMillis(): number }) => Promise<unknown>;

export function parseHandlerSetting(handler: string): { moduleRoot: string; moduleName: string; exportPath: string } {
  if (handler.includes("..")) throw new Error(`'${handler}' is not a valid handler name`);
  const base = path.posix.basename(handler);
  const m = /^([^.]*)\.(.*)$/.exec(base);
  if (!m) throw new Error(`Bad handler ${handler}`);
  return { moduleRoot: handler.slice(0, handler.length - base.length), moduleName: m[1]!, exportPath: m[2]! };
}

function packageTypeIsModule(dir: string): boolean {
  for (let d = dir; ; d = path.dirname(d)) {
    if (d.endsWith(`${path.sep}node_modules`)) return false;
    const pj = path.join(d, "package.json");
    if (fs.existsSync(pj)) return (JSON.parse(fs.readFileSync(pj, "utf8")) as { type?: string }).type === "module";
    if (d === path.dirname(d)) return false;
  }
}

/** The absolute module file the runtime loads for `handler` in `taskRoot`, and how. */
export function resolveHandlerFile(taskRoot: string, handler: string): { file: string; loader: "require" | "import" } {
  const { moduleRoot, moduleName } = parseHandlerSetting(handler);
  const base = path.resolve(taskRoot, moduleRoot, moduleName);
  const isModule = packageTypeIsModule(path.dirname(base));
  const candidates: Array<[string, "require" | "import"]> = [
    [base, "require"],
    ...(isModule ? [[`${base}.js`, "import"] as [string, "import"]] : [[`${base}.js`, "require"] as [string, "require"]]),
    [`${base}.mjs`, "import"],
    [`${base}.cjs`, "require"],
  ];
  for (const [file, loader] of candidates) if (fs.existsSync(file) && fs.statSync(file).isFile()) return { file, loader };
  throw new Error(`Runtime.ImportModuleError: Cannot find module '${moduleName}' in ${path.resolve(taskRoot, moduleRoot)}`);
}

export async function loadHandler(taskRoot: string, handler: string): Promise<LambdaHandler> {
  const { file, loader } = resolveHandlerFile(taskRoot, handler);
  const mod: unknown = loader === "require" ? require(file) : await import(pathToFileURL(file).href);
  const fn = parseHandlerSetting(handler).exportPath.split(".").reduce<unknown>((o, key) => (o as Record<string, unknown> | undefined)?.[key], mod);
  if (typeof fn !== "function") throw new Error(`Runtime.HandlerNotFound: ${handler} is undefined or not exported`);
  return fn as LambdaHandler;
}
