/**
 * Keeps the layering checkable: dependencies point one way
 * (cli → app → proxy → core), `core` imports nothing above it, no console or process.exit below
 * the CLI, and each third-party seam lives behind one file.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const src = join(root, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Layer of a file under src/: a higher number may import lower ones only. */
const LAYERS: Array<[RegExp, number]> = [
  [/^core\//, 0],
  // The ERR_* catalogue imports nothing: any layer may throw a ProgramError.
  [/^errors\.ts$/, 0],
  [/^protocols\//, 1],
  [/^rules\//, 2],
  [/^(proxy|tls|record|simulators)\//, 3],
  [/^control\//, 4],
  [/^(config|log|log-destination|log-pretty)\.ts$/, 4],
  [/^(app|demo|start-proxy|index)\.ts$/, 5],
  // The control API client stands alone (layer 0 and its own test below): a test process
  // that only talks to a running proxy loads none of the proxy.
  [/^client\//, 0],
  [/^cli(\.ts$|\/)/, 6],
];

function layerOf(file: string): number {
  const rel = relative(src, file);
  const found = LAYERS.find(([pattern]) => pattern.test(rel));
  assert.ok(found, `${rel} is in no layer; add it to LAYERS in this test`);
  return found[1];
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
}

const files = sources(src);

describe('architecture', () => {
  it('finds the sources', () => assert.ok(files.length > 5));

  it('imports point one way: no file imports a higher layer', () => {
    const wrong: string[] = [];
    for (const file of files) {
      for (const spec of importsOf(file).filter((s) => s.startsWith('.'))) {
        const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
        if (layerOf(target) > layerOf(file)) wrong.push(`${relative(src, file)} imports ${relative(src, target)}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('keeps each third-party seam behind one file (http-proxy only as the bench floor)', () => {
    const importers = (pkg: string): string[] => files.filter((f) => importsOf(f).includes(pkg)).map((f) => relative(src, f));
    // src/proxy/upstream.ts explains why the proxy does not forward through http-proxy.
    assert.deepEqual(importers('http-proxy'), []);
    assert.ok(importers('ws').length <= 1, `ws imported by ${importers('ws').join(', ')}`);
    assert.deepEqual(importers('yargs'), ['cli.ts']);
    assert.deepEqual(importers('prom-client'), ['control/metrics.ts']);
  });

  it('keeps the control client standalone: client/ imports only itself and node: builtins', () => {
    const outside = files
      .filter((f) => relative(src, f).startsWith('client/'))
      .flatMap((f) => importsOf(f).filter((spec) => !spec.startsWith('./') && !spec.startsWith('node:')).map((spec) => `${relative(src, f)} imports ${spec}`));
    assert.deepEqual(outside, []);
  });

  it('has no console.* or process.exit below the CLI', () => {
    const offenders = files
      .filter((f) => !/^cli(\.ts$|\/)/.test(relative(src, f)))
      .filter((f) => /\bconsole\.(log|error|warn|info)\b|\bprocess\.exit\b/.test(readFileSync(f, 'utf8')))
      .map((f) => relative(src, f));
    assert.deepEqual(offenders, []);
  });
});
