/**
 * The tool's own name and version, as journals and HAR files state them (HAR 1.2 `creator`).
 * Read from package.json at load: dist/src/core/ is three levels below the repository root.
 */
import { readFileSync } from 'node:fs';

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export const TOOL = { name: 'version-proxy', version: readVersion() } as const;
