/**
 * Peak resident memory of a subject process, per phase. Linux keeps the high-water mark in
 * /proc/PID/status (VmHWM); writing 5 to /proc/PID/clear_refs resets it to the current RSS,
 * so the small-response and the large-stream phases each get their own peak.
 */
import fs from 'node:fs';

/** Reset the peak to the current RSS. Returns false when the kernel refuses (then peaks add up). */
export function resetPeak(pid: number): boolean {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** The peak RSS since the last reset, in bytes; undefined when the process is gone. */
export function peakRss(pid: number): number | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
