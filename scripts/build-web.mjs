/* global process, console */
// Builds the web UI (src/web/) into dist/web/, which src/control/ui-files.ts serves: type-checks it
// with its own tsconfig (DOM types, Preact's JSX), then bundles it with esbuild into one script and
// one stylesheet, so the page loads nothing from anywhere but the control server (no CDN; the CSP
// allows 'self' only). Called by `npm run build` and scripts/ensure.sh.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { build } from 'esbuild';

const check = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'src/web/tsconfig.json'], { stdio: 'inherit' });
if (check.status !== 0) {
  console.error('build-web: the web UI does not type-check (above)');
  process.exit(1);
}
mkdirSync('dist/web', { recursive: true });
await build({
  entryPoints: { app: 'src/web/main.tsx', style: 'src/web/app.css' },
  outdir: 'dist/web',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  // Chromium, Firefox and Safari of the last two years; nothing to polyfill.
  target: ['chrome115', 'firefox115', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync('src/web/index.html', 'dist/web/index.html');
