/**
 * Preloaded into a proxy child process by memory tests (`node --expose-gc --import
 * dist/test/helpers/gc-on-signal.js dist/src/cli.js start …`): SIGUSR2 runs a full garbage
 * collection and writes one JSON line `{"msg":"gc-rss","rss":…}` on stderr, so a test compares
 * the memory the proxy holds rather than garbage V8 has not collected yet (bench/soak-gc.ts does
 * the same for the soak).
 */
const gc = (globalThis as { gc?: () => void }).gc;
if (gc !== undefined) {
  process.on('SIGUSR2', () => {
    gc();
    process.stderr.write(`${JSON.stringify({ msg: 'gc-rss', rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed, external: process.memoryUsage().external })}\n`);
  });
}
