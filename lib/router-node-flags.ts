/**
 * The Node flags the router process runs with: router/Dockerfile's CMD, the bench's router and the
 * test fixture's child router (test/unit/router-node-flags.test.ts holds the Dockerfile to this list).
 *
 * --max-semi-space-size=2 (MiB per semi-space): V8's default young generation grows to 16 MiB per
 * semi-space under load, and the router's garbage is almost all short-lived per-call objects; capped at
 * 2 MiB the peak RSS under h2load c=64 fell from ~136 to ~79 MiB with no CPU cost above the A/B's noise.
 * Numbers and the flags left out (--single-threaded-gc, --max-semi-space-size=1): docs/decisions/router-memory.md.
 * V8 allows this flag in NODE_OPTIONS too, but the CMD keeps it visible in one place.
 */
export const ROUTER_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=2"];
