/**
 * Preloaded into the soak's proxy (`node --expose-gc --import dist/bench/soak-gc.js …`), never
 * into a proxy a user runs: SIGUSR2 runs a full garbage collection and prints one JSON line with
 * the heap figures on stderr (the soak's log file), so the soak samples the memory the proxy
 * still holds rather than garbage not yet collected.
 */
const gc = (globalThis as { gc?: () => void }).gc;
if (gc !== undefined) {
  process.on('SIGUSR2', () => {
    gc();
    const m = process.memoryUsage();
    process.stderr.write(`${JSON.stringify({ msg: 'soak-heap', heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss })}\n`);
  });
}
