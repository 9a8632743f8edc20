/**
 * The contract every registry source implements (file, PAR REST API, Cloud Map).
 * The router's hot path calls `lookup` once per call, so a source answers from
 * memory synchronously whenever it can and only returns a Promise on a cache miss.
 */

/** Where an agent's gRPC server listens. */
export interface Target {
  readonly host: string;
  readonly port: number;
}

/** One registered deployment. */
export interface DeploymentRecord extends Target {
  readonly id: string;
}

/**
 * `undefined` means the source does not know the id (the router answers NOT_FOUND if no source does).
 * A source that cannot answer at all (its backend is down and it has nothing cached) throws or rejects;
 * the router then answers UNAVAILABLE rather than claiming the deployment does not exist.
 */
export type Resolution = Target | undefined;

export interface RegistrySource {
  /** Short description for logs and /deployments, e.g. `file:/etc/pixell/registry.json`. */
  readonly description: string;
  /** Initial load. Resolves once the source can answer lookups (a source that fails here still starts, empty). */
  start(): Promise<void>;
  /** Resolve an id: synchronously from memory when possible, a Promise only when the source must ask someone. */
  lookup(id: string): Resolution | Promise<Resolution>;
  /** The deployments this source currently knows (for /deployments, the probe and xDS). */
  list(): DeploymentRecord[];
  /** Called after the set of known deployments changed. Returns a function that unsubscribes. */
  onChange(listener: () => void): () => void;
  /** Seconds since the source's data was last refreshed successfully, for /metrics (omit when it does not apply). */
  snapshotAgeSeconds?(): number | undefined;
  /** Stop timers and watchers. */
  close(): Promise<void>;
}

/** Deployment ids are only ever keys into the registry: never host names, ports or paths. */
export const DEPLOYMENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isValidDeploymentId(id: string): boolean {
  return DEPLOYMENT_ID_PATTERN.test(id);
}
