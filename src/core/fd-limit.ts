/**
 * The process's soft limit on open files (`ulimit -n`), read from /proc/self/limits: Node has
 * no getrlimit. Node raises its soft limit to the hard one as it starts, so this is the limit
 * the process really has. Every client connection of the proxy holds two descriptors (its own socket and
 * its upstream's, docs/running.md "Connection affinity"), so the default connection cap is derived from this.
 */
import { readFileSync } from 'node:fs';

/** The soft limit, or undefined where it cannot be read (not Linux, "unlimited"). */
export function openFileLimit(limitsText?: string): number | undefined {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'latin1');
    } catch {
      return undefined;
    }
  }
  const match = /^Max open files\s+(\d+)\s/m.exec(text);
  return match ? Number(match[1]) : undefined;
}
