/**
 * Keeps the first `limit` bytes of a body as it streams past and counts all of it, so the record
 * can say "3,145,728 bytes, first 1,048,576 kept" instead of cutting silently (issue 6, item 1).
 * Chunks are kept by reference (Node hands each 'data' chunk over and never reuses it), so
 * capture costs one array push per chunk until the limit, and one copy when the record is made.
 */
import type { CapturedBody } from './exchange.js';

export class BodyCapture {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private size = 0;

  constructor(private readonly limit: number) {}

  add(chunk: Buffer): void {
    this.size += chunk.length;
    const room = this.limit - this.kept;
    if (room <= 0) return;
    const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
    this.chunks.push(part);
    this.kept += part.length;
  }

  result(): CapturedBody {
    const bytes = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.kept);
    return { bytes, size: this.size, truncated: this.kept < this.size };
  }
}
