/**
 * The large-stream phases: one long download and one long upload with curl, which can move
 * several GB/s on loopback and so measures the subject, not the client. Byte counts are checked
 * on both ends, so a subject that cuts or pads a body fails the row instead of scoring.
 */
import fs from 'node:fs';
import { runTool } from './proc.js';

export interface StreamTarget {
  curl: string;
  /** Where the request goes: the upstream's port, or the subject's when it stands in for it. */
  urlPort: number;
  /** Forward mode: the subject's port, passed as `-x`. */
  proxyPort?: number;
  bytes: number;
  timeoutSeconds: number;
}

export interface StreamResult {
  /** Bytes per second as curl measured it (whole transfer, request to last byte). */
  bytesPerSecond: number;
  seconds: number;
}

function proxyArgs(t: StreamTarget): string[] {
  return t.proxyPort === undefined ? [] : ['-x', `http://127.0.0.1:${t.proxyPort}`];
}

async function curl(t: StreamTarget, args: string[]): Promise<string[]> {
  const result = await runTool(t.curl, ['-sS', '--max-time', String(t.timeoutSeconds), ...proxyArgs(t), ...args], (t.timeoutSeconds + 10) * 1000);
  if (result.timedOut) throw new Error(`curl did not finish within ${t.timeoutSeconds + 10} s`);
  if (result.code !== 0) throw new Error(`curl exit ${String(result.code ?? result.signal)}: ${result.stderr.trim().slice(0, 300)}`);
  return result.stdout.trim().split('\n');
}

export async function download(t: StreamTarget): Promise<StreamResult> {
  const lines = await curl(t, [
    '-o',
    '/dev/null',
    '-w',
    '%{http_code} %{size_download} %{speed_download} %{time_total}',
    `http://127.0.0.1:${t.urlPort}/down?bytes=${t.bytes}`,
  ]);
  const [code, size, speed, seconds] = (lines.at(-1) ?? '').split(' ').map(Number);
  if (code !== 200) throw new Error(`download answered ${String(code)}`);
  if (size !== t.bytes) throw new Error(`download delivered ${String(size)} of ${t.bytes} bytes`);
  return { bytesPerSecond: speed ?? NaN, seconds: seconds ?? NaN };
}

export async function upload(t: StreamTarget, file: string): Promise<StreamResult> {
  const lines = await curl(t, [
    '-T',
    file,
    // No "Expect: 100-continue": curl would wait up to 1 s for a 100 that a proxy may not relay,
    // and that second would be measured as slowness of the stream.
    '-H',
    'Expect:',
    '-o',
    '-',
    '-w',
    '\n%{http_code} %{size_upload} %{speed_upload} %{time_total}',
    `http://127.0.0.1:${t.urlPort}/up`,
  ]);
  const [code, size, speed, seconds] = (lines.at(-1) ?? '').split(' ').map(Number);
  const counted = Number(lines.at(-2));
  if (code !== 200) throw new Error(`upload answered ${String(code)}`);
  if (size !== t.bytes) throw new Error(`curl sent ${String(size)} of ${t.bytes} bytes`);
  if (counted !== t.bytes) throw new Error(`upstream received ${lines.at(-2) ?? 'nothing'} of ${t.bytes} bytes`);
  return { bytesPerSecond: speed ?? NaN, seconds: seconds ?? NaN };
}

/**
 * A sparse file of `bytes` zeros, costing no disk, reused by every row. Read once here: the
 * first read of a hole makes the kernel fill the page cache with zeroed pages (~400 MB/s on
 * this kind of machine), which would otherwise slow down whichever row uploads first.
 */
export function createUploadFile(file: string, bytes: number): void {
  const fd = fs.openSync(file, 'w+');
  try {
    fs.ftruncateSync(fd, bytes);
    const buffer = Buffer.allocUnsafe(1024 * 1024);
    let position = 0;
    while (position < bytes) {
      const n = fs.readSync(fd, buffer, 0, buffer.length, position);
      if (n === 0) break;
      position += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}

export async function curlVersion(curlPath: string): Promise<string> {
  const result = await runTool(curlPath, ['--version'], 5000).catch(() => undefined);
  return (result?.stdout ?? '').split('\n')[0]?.trim() ?? '';
}
