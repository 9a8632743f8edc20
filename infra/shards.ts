/**
 * Registry shards (docs/decisions/registry-shards.md): shard k is one ECS service whose PAR registers
 * into its own Cloud Map service. Pure naming: shard 0 keeps the names a one-shard stack already has,
 * so going from 1 to N shards adds resources and replaces none (a replaced service would stop every
 * task, and every deployment with it).
 */

export interface Shard {
  readonly index: number;
  /** The Cloud Map service this shard's PAR registers into: `agents`, `agents-1`, ... */
  readonly cloudMapService: string;
  /** Appended to the logical names of the shard's resources: "" for shard 0, `-k` after. */
  readonly suffix: string;
}

export function shardsOf(baseService: string, count: number): Shard[] {
  return Array.from({ length: count }, (_, index) => ({
    index,
    cloudMapService: index === 0 ? baseService : `${baseService}-${index}`,
    suffix: index === 0 ? "" : `-${index}`,
  }));
}

/** The task definition family of a shard: the stack's family for shard 0, `-k` after. */
export function shardFamily(prefix: string, shard: Pick<Shard, "suffix">): string {
  return `${prefix}${shard.suffix}`;
}

/** A Cloud Map service name is one DNS label (at most 63 characters): the longest shard name must fit. */
export function shardNameProblem(baseService: string, count: number): string | undefined {
  const longest = shardsOf(baseService, count).at(-1)!.cloudMapService;
  return longest.length > 63 ? `a Cloud Map service name of at most ${63 - (longest.length - baseService.length)} characters with ${count} shards (the last shard is ${longest}, ${longest.length} characters; a DNS label holds 63)` : undefined;
}

/** The router's ROUTER_REGISTRY cloudmap: entries for every shard (the router reads all of them). */
export function shardRegistryEntries(namespace: string, services: readonly string[]): string {
  return services.map((s) => `cloudmap:${namespace}/${s}`).join(",");
}
