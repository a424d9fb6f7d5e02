/**
 * CPU time of a whole process tree (issue 23's probe: headless Chromium is a browser process,
 * a zygote, a renderer, a GPU and a network process, all below the node process that drives it).
 */
import fs from 'node:fs';
import { cpuSeconds } from './cpu.js';

/** The parent pid of every process now alive, from /proc/PID/stat (field 4, after the name). */
function parents(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), pid]);
    } catch {
      // Gone meanwhile.
    }
  }
  return children;
}

/** User + system seconds of `root` and every live descendant; undefined when `root` is gone. */
export function treeCpuSeconds(root: number): number | undefined {
  const own = cpuSeconds(root);
  if (own === undefined) return undefined;
  const children = parents();
  let total = 0;
  const todo = [root];
  for (let n = 0; n < 10_000 && todo.length > 0; n++) {
    const pid = todo.pop()!;
    total += cpuSeconds(pid) ?? 0;
    todo.push(...(children.get(pid) ?? []));
  }
  return total;
}
