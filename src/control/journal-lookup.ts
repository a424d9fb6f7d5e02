/**
 * What GET /api/exchanges/{id} asks of the journal once the ring no longer holds an exchange.
 * The control plane knows only this; record/journal-line-reader.ts implements it (structurally:
 * record/ sits below control/ and does not import it), so no journal internals reach control/.
 */
export interface JournalLookup {
  /**
   * The exchange's journal line, parsed (redacted as it was written), or one sentence saying why
   * the journal cannot give it and what to do.
   */
  find(id: string): Promise<{ line: object } | { missing: string }>;
}
