/**
 * Reads one exchange's line back from the journal files, where the journal's index says it went
 * (journal-index.ts): one positional read of a known length, so a lookup costs the same however
 * large the recording is. Implements control/journal-lookup.ts's JournalLookup.
 */
import { open } from 'node:fs/promises';
import type { JournalIndex } from './journal-index.js';

/** A line longer than this is not read back (bodies are capped by --capture-bytes, so none should be). */
const MAX_LINE_BYTES = 256 * 1024 * 1024;

export class JournalLineReader {
  constructor(private readonly journal: { readonly index: JournalIndex; flush(): Promise<void> }) {}

  async find(id: string): Promise<{ line: object } | { missing: string }> {
    let where = this.journal.index.locate(id);
    if ('pending' in where) {
      // Appended but still queued (writes in the thread pool after slow ones): wait for it.
      await this.journal.flush();
      where = this.journal.index.locate(id);
      if ('pending' in where) return { missing: 'its journal line is not written yet; ask again in a moment' };
    }
    if ('missing' in where) return where;
    if (where.length > MAX_LINE_BYTES) return { missing: `its journal line is ${where.length} bytes, too long to read back here; read it with ./proxy har ${where.file}` };
    let text: string;
    try {
      text = await readAt(where.file, where.offset, where.length);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      return { missing: `its journal file ${where.file} cannot be read (${code})${code === 'ENOENT' ? ': it was removed while the proxy ran' : ''}` };
    }
    let line: unknown;
    try {
      line = JSON.parse(text);
    } catch {
      line = undefined;
    }
    const record = line as { type?: unknown; id?: unknown } | undefined;
    if (typeof record !== 'object' || record === null || record.type !== 'exchange' || record.id !== id) {
      return { missing: `the journal file ${where.file} does not hold its line where it was written (byte ${where.offset}): the file was changed while the proxy ran` };
    }
    return { line: record };
  }
}

/** `length` bytes of `file` from `offset` (short reads continued; fewer at the end of the file). */
async function readAt(file: string, offset: number, length: number): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await handle.read(buffer, got, length - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buffer.toString('utf8', 0, got);
  } finally {
    await handle.close();
  }
}
