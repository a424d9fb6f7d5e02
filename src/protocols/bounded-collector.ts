/**
 * Keeps the first `limit` bytes of a body for a parser that needs the whole message (an FPSE
 * packet, a _vti_inf.html page), counts the rest, and says when it had to stop. Bounded memory
 * whatever the size of the body.
 */
export class BoundedCollector {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  total = 0;

  constructor(readonly limit: number) {}

  push(chunk: Buffer): void {
    this.total += chunk.length;
    const room = this.limit - this.kept;
    if (room <= 0) return;
    const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
    this.chunks.push(Buffer.from(part)); // a copy: the stream may reuse its buffers
    this.kept += part.length;
  }

  get truncated(): boolean {
    return this.total > this.kept;
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.kept);
  }
}
