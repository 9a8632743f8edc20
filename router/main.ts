/**
 * `npm run router -- --listen HOST:PORT --admin HOST:PORT --registry SOURCE`
 * Exit codes: 0 after a clean drain, 2 on bad configuration, 1 on a failure to start.
 */
import { ConfigError, parseRouterConfig } from "./config";
import { createLogger } from "../lib/log";
import type { SourceFactory } from "../registry/create";
import { startRouter } from "./server";
import { buildAuthenticator } from "./auth";
import { startXdsIfConfigured } from "./xds/attach";
import { startEmfPublisher } from "./emf";

/**
 * cloudmap: entries get a Cloud Map client from the task's environment (region, role). The SDK loads
 * only when the registry names a cloudmap: source: it costs ~12 MiB of RSS (docs/decisions/router-memory.md).
 */
function lazyCloudMapSourceFactory(pollIntervalMs: number): SourceFactory {
  let cloudMap: SourceFactory | undefined;
  return (spec, logger) => {
    if (spec.kind !== "cloudmap") return undefined;
    // A typed lazy require: esbuild keeps registry/cloudmap's init (and the SDK's) behind this call.
    cloudMap ??= (require("../registry/cloudmap") as typeof import("../registry/cloudmap")).cloudMapSourceFactory({ pollIntervalMs });
    return cloudMap(spec, logger);
  };
}

async function main(): Promise<void> {
  let config;
  try {
    config = parseRouterConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`router: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger("pixell-router", config.logLevel);
  // Fails start-up (exit 1) when the tokens or the JWKS cannot be loaded: never serve unchecked.
  const authenticator = await buildAuthenticator(config.auth, { logger });
  logger.info({ auth: config.auth.mode }, "caller authentication");
  const router = await startRouter({
    authenticator: config.auth.mode === "off" ? undefined : authenticator,
    listen: config.listen,
    admin: config.admin,
    registry: config.registry,
    drainMs: config.drainMs,
    maxHops: config.maxHops,
    idleTimeoutMs: config.idleTimeoutMs,
    agentKeepalive: config.agentKeepalive,
    agentConnectTimeoutMs: config.agentConnectTimeoutMs,
    sourceFactory: lazyCloudMapSourceFactory(config.cloudMapPollMs),
    engine: config.engine,
    logger,
  });
  // Option B: Envoy gets routes and clusters for the registry's deployments over ADS.
  const xds = await startXdsIfConfigured(config, router, logger);
  // Auto scaling's custom metric: an EMF line on stdout per interval (router/emf.ts).
  const emf = config.emf === undefined ? undefined : startEmfPublisher(config.emf, router.activeCalls, (line) => { process.stdout.write(line + "\n"); });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    emf?.stop();
    router.drain().then(async ({ drained }) => {
      if (!drained) logger.warn("drain time ran out with calls still in flight");
      await xds?.close();
      process.exit(0);
    }, (err: unknown) => {
      logger.error({ err: (err as Error).message }, "drain failed");
      process.exit(1);
    });
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((err: unknown) => {
  process.stderr.write(`router failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
