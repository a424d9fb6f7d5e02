/**
 * CPU time a subject process used (all its threads, user + system), from /proc/PID/stat.
 * Divided by the requests served it gives CPU per request, which other load on the machine
 * disturbs much less than req/s: a useful second opinion on a noisy machine.
 */
import fs from 'node:fs';
import os from 'node:os';

// USER_HZ: the unit of utime/stime. 100 on every mainstream Linux architecture.
const TICKS_PER_SECOND = 100;

/** CPU seconds used so far, or undefined when the process is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After ')' the fields start at number 3 (state); utime is 14 and stime 15.
    const utime = Number(fields[14 - 3]);
    const stime = Number(fields[15 - 3]);
    return Number.isFinite(utime + stime) ? (utime + stime) / TICKS_PER_SECOND : undefined;
  } catch {
    return undefined;
  }
}

/** The 1-minute load average: above ~0.5 before a run, something else is using the CPUs. */
export function loadAverage(): number {
  return os.loadavg()[0] ?? 0;
}

/**
 * CPU seconds the whole machine spent busy so far (from /proc/stat): user, nice, system, irq
 * and softirq. Interrupt time is included because the kernel charges ticks spent in softirq
 * (loopback traffic) to the interrupted process too; steal (other virtual machines) is not.
 */
export function machineBusySeconds(): number | undefined {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    // cpu  user nice system idle iowait irq softirq steal ...
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const busy = [0, 1, 2, 5, 6].reduce((acc, i) => acc + (f[i] ?? NaN), 0);
    return Number.isFinite(busy) ? busy / TICKS_PER_SECOND : undefined;
  } catch {
    return undefined;
  }
}

/** CPU seconds of this process plus its children that have exited (all of ours, at the end). */
export function ownTreeSeconds(): number | undefined {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime 14, stime 15, cutime 16, cstime 17 (fields after ')' start at 3).
    const sum = [14, 15, 16, 17].reduce((acc, n) => acc + Number(fields[n - 3]), 0);
    return Number.isFinite(sum) ? sum / TICKS_PER_SECOND : undefined;
  } catch {
    return undefined;
  }
}
