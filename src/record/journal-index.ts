/**
 * Where each exchange's journal line went, so the control API can read one back after its ring
 * has let go of it (GET /api/exchanges/{id}, record/journal-lookup.ts).
 *
 * Per exchange this costs a few typed-array stores and nothing the garbage collector sees: the
 * slots are circular typed arrays indexed by the id's sequence number (core/exchange.ts ids are
 * `<run>-<sequence>`), holding the last CAPACITY sequences in a fixed ~13 MiB (touched only as
 * it is used). A slot does not hold the line's file offset but its position in the stream of
 * bytes the journal appended: that is known when the line is appended, while the file offset is
 * only known once the slab holding it is written (a batch, maybe in the thread pool, maybe to
 * the next part after a rotation). The journal describes the stream in *segments*, one per
 * rotation or failed write, each saying where its bytes landed (part file and offset) or that
 * they were lost; a lookup maps a stream position through them. Segments come once per rotation
 * or failure, not per exchange.
 */
import { resolve } from 'node:path';

/** Sequences indexed: the last 1,048,576 exchanges. */
export const INDEX_CAPACITY = 1 << 20;
/** Rotations and failed writes remembered; lines in older segments are "older than the index". */
const SEGMENTS = 4096;

/** What a slot knows of its sequence. */
const NONE = 0;
const LINE = 1;
const BACKLOG = 2;
const LOW_DISK = 3;

export type Location =
  | { file: string; offset: number; length: number }
  /** Appended, not yet known to be on disk: flush the journal and ask again. */
  | { pending: true }
  | { missing: string };

export class JournalIndex {
  private readonly kinds: Uint8Array;
  /** Stream position of the line's first byte. */
  private readonly starts: Float64Array;
  private readonly lengths: Uint32Array;
  /** Highest sequence noted (-1: none yet); slots past it were cleared as it advanced. */
  private highest = -1;
  /** The run prefix of the ids (`<run>-`), from the first id noted. */
  private run: string | undefined;

  /** Segments, circular, in stream order: segment i covers [segStart[i], segStart[i + 1]). */
  private readonly segStart = new Float64Array(SEGMENTS);
  /** File offset of the segment's first byte. */
  private readonly segAt = new Float64Array(SEGMENTS);
  /** The part file its bytes landed in; '' when they were lost. */
  private readonly segFile: string[] = new Array<string>(SEGMENTS).fill('');
  private readonly segDeleted = new Uint8Array(SEGMENTS);
  private segNext = 0;
  private segCount = 0;
  /** Stream bytes whose fate is known (written or lost); later ones are still queued or in flight. */
  settled = 0;

  constructor(readonly capacity = INDEX_CAPACITY) {
    this.kinds = new Uint8Array(capacity);
    this.starts = new Float64Array(capacity);
    this.lengths = new Uint32Array(capacity);
  }

  /** The exchange `id`'s line was appended at stream position `start`, `length` bytes. */
  line(id: string, start: number, length: number): void {
    const slot = this.slotOf(id);
    if (slot < 0) return;
    this.kinds[slot] = LINE;
    this.starts[slot] = start;
    this.lengths[slot] = length;
  }

  /** The exchange was not appended: the journal's backlog was over its bound. */
  droppedBacklog(id: string): void {
    const slot = this.slotOf(id);
    if (slot >= 0) this.kinds[slot] = BACKLOG;
  }

  /** The exchange was not appended: the recording guard left it out while disk space was low. */
  leftOut(id: string): void {
    const slot = this.slotOf(id);
    if (slot >= 0) this.kinds[slot] = LOW_DISK;
  }

  /** Stream bytes from `start` on land in `file` from byte `at` on (a new part, or writes resumed after a failure). */
  segment(start: number, file: string, at: number): void {
    const i = this.segNext;
    this.segStart[i] = start;
    this.segAt[i] = at;
    // Absolute: the recording guard names the files it deletes its own way.
    this.segFile[i] = file === '' ? '' : resolve(file);
    this.segDeleted[i] = 0;
    this.segNext = (i + 1) % SEGMENTS;
    if (this.segCount < SEGMENTS) this.segCount += 1;
  }

  /** Stream bytes from `start` to `end` were lost in a failed write; later ones land in `file` at `at`. */
  lost(start: number, end: number, file: string, at: number): void {
    if (end > start) this.segment(start, '', 0);
    this.segment(end, file, at);
  }

  /** `file` was deleted (--record-max): its lines can no longer be read. */
  deleted(file: string): void {
    const path = resolve(file);
    for (let i = 0; i < this.segCount; i++) if (this.segFile[i] === path) this.segDeleted[i] = 1;
  }

  /** Where exchange `id`'s line is, or a sentence saying why the journal does not have it. */
  locate(id: string): Location {
    const sequence = sequenceOf(id);
    if (sequence < 0 || (this.run !== undefined && !id.startsWith(this.run))) {
      return { missing: `${id} is not an exchange id of this run${this.run === undefined ? '' : ` (its ids are ${this.run}N)`}` };
    }
    if (sequence > this.highest) return { missing: 'the journal has no line for it: it has not finished, or never started' };
    if (sequence <= this.highest - this.capacity) return { missing: `it is older than the journal's index (the last ${this.capacity} exchanges); read it from the journal file with ./proxy har or ./proxy report` };
    const slot = sequence % this.capacity;
    switch (this.kinds[slot]) {
      case BACKLOG:
        return { missing: 'the journal dropped it: the disk did not keep up and the backlog was over its bound (the journal has a `dropped` line)' };
      case LOW_DISK:
        return { missing: 'it was not recorded: disk space was below --record-min-free (the journal has a `capture` line); free some space' };
      case NONE:
        return { missing: 'the journal has no line for it: it has not finished yet, or it was not recorded' };
    }
    const start = this.starts[slot]!;
    const length = this.lengths[slot]!;
    if (start + length > this.settled) return { pending: true };
    return this.place(start, length);
  }

  /** Maps a line's stream range through the segments. */
  private place(start: number, length: number): Location {
    // The last segment starting at or before `start` (binary search over the circular order).
    let lo = 0;
    let hi = this.segCount - 1;
    const first = (this.segNext - this.segCount + SEGMENTS) % SEGMENTS;
    const at = (k: number): number => (first + k) % SEGMENTS;
    if (this.segCount === 0 || this.segStart[at(0)]! > start) return { missing: `it is older than the journal's index (the last ${SEGMENTS} rotations and failed writes); read it from the journal files with ./proxy har or ./proxy report` };
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.segStart[at(mid)]! <= start) lo = mid;
      else hi = mid - 1;
    }
    const i = at(lo);
    const file = this.segFile[i]!;
    // A line cut by a failed write (part of it landed, the rest did not) is lost too.
    const end = lo + 1 < this.segCount ? this.segStart[at(lo + 1)]! : Infinity;
    if (file === '' || (start + length > end && this.segFile[at(lo + 1)] === '')) return { missing: 'the journal lost it: the write that held it failed (the journal has a `dropped` line saying why)' };
    // A rotation between two writes of one queue longer than writev takes (journal.ts MAX_BUFFERS) can split a line.
    if (start + length > end) return { missing: `its journal line was split across two parts by a rotation; read it from ${file} and the next part with ./proxy har` };
    if (this.segDeleted[i] === 1) return { missing: `its journal file ${file} was deleted to keep the recording under --record-max; raise --record-max to keep more` };
    return { file, offset: this.segAt[i]! + (start - this.segStart[i]!), length };
  }

  /** The slot of `id`'s sequence, clearing the slots the highest sequence passes; -1 when it is out of the window. */
  private slotOf(id: string): number {
    const sequence = sequenceOf(id);
    if (sequence < 0) return -1;
    if (this.run === undefined) this.run = id.slice(0, id.lastIndexOf('-') + 1);
    if (sequence > this.highest) {
      // Sequences skipped over (other proxies of the process, exchanges still running) must
      // not show what a sequence CAPACITY earlier left in their slot: amortized one store each.
      const from = Math.max(this.highest + 1, sequence - this.capacity + 1);
      for (let s = from; s < sequence; s++) this.kinds[s % this.capacity] = NONE;
      this.highest = sequence;
    } else if (sequence <= this.highest - this.capacity) {
      return -1; // finished so late that its slot belongs to a newer sequence now
    }
    return sequence % this.capacity;
  }
}

/** The sequence number at the end of an id (`k3x9a-42` → 42), read without making a string; -1 when there is none. */
export function sequenceOf(id: string): number {
  let n = 0;
  let scale = 1;
  for (let i = id.length - 1; i >= 0; i--) {
    const digit = id.charCodeAt(i) - 48;
    if (digit >= 0 && digit <= 9) {
      n += digit * scale;
      scale *= 10;
      continue;
    }
    return id.charCodeAt(i) === 45 && scale > 1 && scale <= 1e15 ? n : -1;
  }
  return -1;
}
