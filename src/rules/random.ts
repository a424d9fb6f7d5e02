/**
 * Replayable chance decisions (`chance: 0.25`, `--seed N`), the Toxiproxy `-seed` habit: a run
 * with the same seed and the same traffic rolls the same dice, so a flaky failure seen once can be
 * reproduced by passing the seed the log named at start.
 *
 * Each rule gets its own stream, keyed by its id, rather than all rules sharing one: with a shared
 * stream, one extra exchange matching rule A would consume a number and shift every later decision
 * of rule B. Per-rule streams keep B's decisions stable when A's traffic changes, or when A is
 * added, removed or disabled by a hot reload.
 */
import { randomBytes } from 'node:crypto';

/** A deterministic stream of numbers in [0, 1) for one rule: same seed + same id → same sequence. */
export function createChance(seed: number, ruleId: string): () => number {
  return mulberry32(fnv1a(`${seed}:${ruleId}`));
}

/** A fresh seed for runs without --seed (a 32-bit unsigned integer), so the log can name it. */
export function randomSeed(): number {
  return randomBytes(4).readUInt32BE(0);
}

/**
 * FNV-1a, 32 bits, over the UTF-8 bytes: a tiny, well-known string hash that spreads similar
 * ids ("rule-1", "rule-2") far apart, which is all a PRNG seed needs. UTF-8 rather than UTF-16
 * code units, so the value is defined by the text alone.
 */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * mulberry32 (Tommy Ettinger): a 32-bit state PRNG with a full 2^32 period and good statistical
 * quality for its size; plenty for rolling rule chances, and not meant for secrets.
 */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
