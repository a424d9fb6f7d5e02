/**
 * The web UI under test (issue 23): a proxy in-process with its control server, Debian's
 * Chromium driven by playwright-core (installed by scripts/ensure-chromium.sh, as
 * test/browser.test.ts does), one page per test, screenshots under test-artifacts/ui/, and every
 * console error, page error and CSP violation collected so a test can assert there were none.
 * Everything is closed when the test ends.
 */
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { ProxyConfig } from '../../src/config.js';
import { controlledProxy, type ControlledProxy } from './control.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const ARTIFACTS = join(root, 'test-artifacts', 'ui');
const INSTALL_TIMEOUT_MS = 10 * 60 * 1000;

/** The Chromium path from scripts/ensure-chromium.sh, or the reason it could not provide one. */
export function ensureChromium(): Promise<{ path: string } | { reason: string }> {
  return new Promise((done) => {
    execFile('sh', [join(root, 'scripts', 'ensure-chromium.sh')], { timeout: INSTALL_TIMEOUT_MS }, (error, stdout, stderr) => {
      const path = stdout.trim().split('\n').pop() ?? '';
      if (error === null && path !== '') return done({ path });
      done({ reason: `no usable Chromium: ${stderr.trim().split('\n').pop() ?? error?.message ?? 'printed no path'}` });
    });
  });
}

export interface UiRun {
  c: ControlledProxy;
  browser: Browser;
  page: Page;
  /** The listening line's `ui` field: the control URL with `#token=…`. */
  uiUrl: string;
  /** Console errors, page errors and CSP violations seen so far. */
  problems: string[];
  /** Writes test-artifacts/ui/NAME.png. */
  screenshot(name: string): Promise<void>;
}

/** Undefined (the test skipped, saying why) where no Chromium can be had. */
export async function openUi(t: TestContext, overrides: Partial<ProxyConfig> = {}): Promise<UiRun | undefined> {
  const chromiumPath = await ensureChromium();
  if ('reason' in chromiumPath) {
    t.skip(chromiumPath.reason);
    return undefined;
  }
  const c = await controlledProxy(t, overrides);
  const listening = c.proxy.logs.lines.find((l) => l.msg === 'listening');
  const uiUrl = String(listening?.ui);
  const browser = await chromium.launch({
    executablePath: chromiumPath.path,
    headless: true,
    timeout: 60_000,
    // Nothing the page or Chromium's own background requests do may leave loopback.
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1'],
  });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  mkdirSync(ARTIFACTS, { recursive: true });
  return {
    c,
    browser,
    page,
    uiUrl,
    problems,
    screenshot: async (name) => {
      await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
    },
  };
}

/**
 * Waits until the list shows every exchange the proxy finished, none still pending: rows arrive
 * newest first and move down as more come, so a click on a moving list can land on another row.
 */
export async function settled(run: UiRun, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [rows, pending] = await Promise.all([run.page.locator('.viewport .row').count(), run.page.locator('.viewport .row.pending').count()]);
    if (rows === run.c.proxy.exchanges.length && pending === 0) return;
    if (Date.now() > deadline) throw new Error(`the list shows ${rows} rows (${pending} pending) for ${run.c.proxy.exchanges.length} finished exchanges after ${timeoutMs} ms`);
    await new Promise((wake) => setTimeout(wake, 50));
  }
}
