// Preloaded into a child router by memory tests (node --expose-gc --require this): on SIGUSR2 it
// runs a full GC and prints the heap size, so a test reads heap-after-GC without touching router code.
process.on("SIGUSR2", () => {
  global.gc();
  process.stdout.write(JSON.stringify({ heapUsedAfterGc: process.memoryUsage().heapUsed }) + "\n");
});
