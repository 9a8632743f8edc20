/**
 * How the router process is started: Node flags and environment. router/Dockerfile's CMD and ENV, the
 * bench's routers and the test fixture's child router use these (test/unit/router-memory.test.ts and
 * test/process/infra-router-image.test.ts hold the Dockerfile to them). Measurements and the options left
 * out: docs/decisions/router-memory.md.
 *
 * --max-semi-space-size=2 (MiB per semi-space): V8's default young generation grows to 16 MiB per
 * semi-space under load, and the router's garbage is almost all short-lived per-call objects.
 * --heap-growing-percent=30: the next old-generation limit is 1.3 × what the last mark-compact kept,
 * instead of V8's dynamic factor (up to 4 ×), which let old space swing to twice its live data between
 * collections: the peak under load was where the limit happened to sit, not what was live. (`node --v8-options`:
 * "specifies heap growing factor as (1 + heap_growing_percent/100)"; 0, the default, leaves it dynamic.)
 * No --enable-source-maps: Node parses the map at start (+5-9 MiB RSS); stack traces still name the
 * functions, and NODE_OPTIONS=--enable-source-maps (the map ships beside the bundle) turns positions back
 * into TypeScript lines when they are needed (docs/router.md).
 */
export const ROUTER_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=2", "--heap-growing-percent=30"];

/**
 * glibc malloc settings (the image is Debian's glibc): by default each thread that allocates may get an
 * arena of its own (up to 8 per core), and freed memory at the top of a heap is kept until it passes a
 * threshold that grows with the largest block ever freed. Two arenas and a fixed 128 KiB trim threshold
 * return freed native memory (socket and stream bookkeeping, buffers) to the kernel sooner. mallopt(3):
 * M_ARENA_MAX and M_TRIM_THRESHOLD, each settable as MALLOC_<NAME>_ in the environment; setting the trim
 * threshold also turns off glibc's dynamic adjustment of it.
 */
export const ROUTER_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: "2", MALLOC_TRIM_THRESHOLD_: "131072" };
