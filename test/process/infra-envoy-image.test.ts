import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import YAML from "yaml";
import { ENVOY_MODES } from "../../envoy/config";
import { BOOTSTRAP_TYPE, renderBootstrapYaml } from "../../envoy/cli";
import { imageBuildSpecs } from "../../infra/images";
import { A2A_PORT, ENVOY_READY_PORT } from "../../lib/ports";
import { imageProcess, reproduceBuild, type ReproducedBuild } from "../helpers/docker-build";
import type { RunStep } from "../helpers/dockerfile";
import { ENVOY_ADMIN_SOCKET, ENVOY_ADMIN_SOCKET_DIR } from "../../lib/ports";
import { assertValidEnvoyConfig } from "../helpers/envoy-validate";

/**
 * The Envoy image (envoy/Dockerfile), reproduced from exactly the build context Pulumi gives
 * it (infra/images.ts: context envoy, build arg ENVOY_MODE) for each mode. Docker reads the
 * ignore file at the root of the context (https://docs.docker.com/build/concepts/context/#dockerignore-files),
 * so the repository's .dockerignore does not apply here. There is no Envoy binary: the entrypoint
 * runs against a stand-in `envoy` that records its arguments. Only a real build confirms the base
 * image's pull, its bash and envoy on PATH, and that uid 101 exists in it.
 */

const REPO_ROOT = path.join(__dirname, "..", "..");
const isPackageInstall = (step: RunStep): boolean => step.argv.join(" ").includes("apt-get");
const STAND_IN_ENVOY = "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$ENVOY_ARGS_OUT\"\n";

describe("infra envoy image: built from exactly its context", () => {
  let work: string;
  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "envoy-image-"));
    fs.chmodSync(work, 0o755);
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  for (const mode of ENVOY_MODES) {
    describe(`ENVOY_MODE=${mode}`, () => {
      let build: ReproducedBuild;
      const spec = (): ReturnType<typeof imageBuildSpecs>["envoy"] => imageBuildSpecs(REPO_ROOT, mode).envoy;
      before(async () => {
        const spec = imageBuildSpecs(REPO_ROOT, mode).envoy;
        assert.deepEqual(spec.args, { ENVOY_MODE: mode });
        // apt-get would install on this machine, not in the image: recorded and checked instead.
        build = await reproduceBuild({ dockerfile: spec.dockerfile, context: spec.context, buildArgs: spec.args, workDir: path.join(work, mode), notRunHere: isPackageInstall });
      });

      it("uses no ignore file (none at the root of envoy) and copies only the YAML and the entrypoint", () => {
        assert.equal(build.context.ignoreFile, undefined);
        assert.deepEqual(build.copiedFromContext, ["entrypoint.sh", `envoy.${mode}.yaml`]);
        assert.equal(build.stages.length, 1);
        assert.equal(build.image.base, "envoyproxy/envoy:v1.35.3");
      });

      it("bakes in the generated bootstrap, and it parses strictly as Envoy's v3 Bootstrap", () => {
        const baked = fs.readFileSync(build.inImage("/etc/envoy/envoy.yaml"), "utf8");
        assert.equal(baked, renderBootstrapYaml(mode), `envoy/envoy.${mode}.yaml is stale: run npm run envoy-config -- --all`);
        assertValidEnvoyConfig(BOOTSTRAP_TYPE, YAML.parse(baked));
      });

      it("installs curl for the drain over the admin's Unix socket, in one layer that keeps no package lists", () => {
        assert.equal(build.notRun.length, 1, "one package step, nothing else held back");
        const [sh, flag, command] = build.notRun[0]!.argv;
        assert.deepEqual([sh, flag], ["/bin/sh", "-c"]);
        assert.match(command!, /^apt-get update && apt-get install -y --no-install-recommends curl && rm -rf \/var\/lib\/apt\/lists\/\*$/);
        // Before USER: apt-get needs root.
        const lines = fs.readFileSync(spec().dockerfile, "utf8").split("\n");
        assert.ok(lines.findIndex((l) => l.startsWith("RUN apt-get")) < lines.findIndex((l) => l.startsWith("USER ")));
        // The entrypoint uses it that way (bash's /dev/tcp cannot reach a Unix socket).
        const entrypoint = fs.readFileSync(build.inImage("/usr/local/bin/pixell-envoy-entrypoint"), "utf8");
        assert.match(entrypoint, /curl .*--unix-socket "\$admin_socket"/);
        assert.match(entrypoint, new RegExp(`admin_socket="\\$\\{ENVOY_ADMIN_SOCKET:-${ENVOY_ADMIN_SOCKET}\\}"`));
        assert.doesNotMatch(entrypoint, /\/dev\/tcp/);
      });

      it("declares the admin socket's directory as a VOLUME owned by uid 101, mode 0700, so ECS copies both into the task's volume", () => {
        // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/bind-mounts.html: the data (and the
        // permissions set in the Dockerfile) of a VOLUME path equal to the mount's containerPath are copied
        // to the volume; otherwise it is root's, 0755, and Envoy (uid 101) could not create its socket.
        assert.deepEqual(build.image.config.volumes, [ENVOY_ADMIN_SOCKET_DIR]);
        const stat = fs.statSync(build.inImage(ENVOY_ADMIN_SOCKET_DIR));
        assert.ok(stat.isDirectory());
        assert.deepEqual([stat.uid, stat.gid, stat.mode & 0o7777], [101, 101, 0o700]);
        const bootstrap = YAML.parse(fs.readFileSync(build.inImage("/etc/envoy/envoy.yaml"), "utf8")) as { admin: { address: { pipe: { path: string } } } };
        assert.equal(path.posix.dirname(bootstrap.admin.address.pipe.path), ENVOY_ADMIN_SOCKET_DIR);
      });

      it("runs the drain entrypoint as uid 101: mode 0755 from --chmod, valid bash, and it starts envoy on the baked config", () => {
        const { config } = build.image;
        assert.deepEqual(config.entrypoint, ["/usr/local/bin/pixell-envoy-entrypoint"]);
        assert.deepEqual(config.cmd, []);
        assert.equal(config.user, "101:101");
        assert.deepEqual(config.expose, [String(A2A_PORT), String(ENVOY_READY_PORT)]);
        const entrypoint = build.inImage(config.entrypoint![0]!);
        assert.equal(fs.statSync(entrypoint).mode & 0o7777, 0o755);
        const syntax = spawnSync("bash", ["-n", entrypoint], { encoding: "utf8" });
        assert.equal(syntax.status, 0, syntax.stderr);

        // The base image's envoy, replaced by one that records its argv and exits 0.
        const bin = path.join(work, `${mode}-bin`);
        fs.mkdirSync(bin, { mode: 0o755 });
        fs.writeFileSync(path.join(bin, "envoy"), STAND_IN_ENVOY, { mode: 0o755 });
        const argsOut = path.join(work, `${mode}-envoy-args`);
        fs.writeFileSync(argsOut, "", { mode: 0o666 });
        fs.chmodSync(argsOut, 0o666);
        const proc = imageProcess(build, { env: { PATH: `${bin}:/usr/bin:/bin`, ENVOY_ARGS_OUT: argsOut }, hostCommands: {} });
        const run = spawnSync(proc.command, proc.args, { cwd: proc.cwd, env: proc.env, encoding: "utf8", timeout: 10_000, ...(proc.uid !== undefined ? { uid: proc.uid, gid: proc.gid } : {}) });
        assert.equal(run.status, 0, run.stderr);
        // The entrypoint's default config path is where the COPY put the bootstrap.
        const bootstrapCopy = build.image.steps.find((s) => s.kind === "copy" && s.sources.includes(`envoy.${mode}.yaml`));
        assert.ok(bootstrapCopy?.kind === "copy");
        assert.deepEqual(fs.readFileSync(argsOut, "utf8").trim().split("\n"), ["-c", bootstrapCopy.dest]);
      });
    });
  }

  it("any other ENVOY_MODE fails the build at the COPY, as the Dockerfile says", async () => {
    const spec = imageBuildSpecs(REPO_ROOT, "router").envoy;
    await assert.rejects(
      reproduceBuild({ dockerfile: spec.dockerfile, context: spec.context, buildArgs: { ENVOY_MODE: "grpc" }, workDir: path.join(work, "bad"), notRunHere: isPackageInstall }),
      /COPY envoy\.grpc\.yaml: "\/envoy\.grpc\.yaml": not found/);
  });
});
