/**
 * A Map with a size bound that forgets the least recently used entry first. Per-conversation
 * state (negotiations, sessions) lives in these so that a long capture cannot grow memory
 * without bound.
 */
export class LruMap<K, V> {
  private readonly map = new Map<K, V>();
  /**
   * The most recently used key. Traffic comes in runs (one session's exchanges, one host's), so
   * most lookups ask for it again, and it need not be moved to the end of the Map.
   */
  private newest: K | undefined;

  constructor(private readonly limit: number) {}

  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined && key !== this.newest) {
      // Re-insert to mark as most recently used (Map keeps insertion order).
      this.map.delete(key);
      this.map.set(key, value);
      this.newest = key;
    }
    return value;
  }

  set(key: K, value: V): void {
    if (key !== this.newest) this.map.delete(key);
    this.map.set(key, value);
    this.newest = key;
    if (this.map.size > this.limit) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
  }

  get size(): number {
    return this.map.size;
  }
}
