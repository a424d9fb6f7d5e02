/**
 * Program and configuration errors: thrown with a stable ERR_* code, printed by the CLI as one line
 * that says what is wrong and how to fix it. Traffic failures are never thrown: they are data on
 * the Exchange record (see core/exchange.ts). The catalogue below is the single list of codes;
 * test/errors-catalogue.test.ts keeps README in step with it.
 */
export const ERROR_CODES = {
  ERR_BAD_LISTEN: 'the --listen address cannot be used',
  ERR_BAD_TARGET: 'the --target URL cannot be used',
  ERR_BAD_OPTION: 'an option has a value the proxy cannot use',
  ERR_ADDRESS_IN_USE: 'the listen address is taken by another program',
  ERR_LISTEN_FAILED: 'the proxy could not open its listening socket',
  ERR_BAD_RULES: 'a rule file has issues (each is printed as file:line:col)',
  ERR_CA: 'the CA directory or one of its files cannot be used (see ./proxy ca)',
  ERR_JOURNAL: 'a journal (recording) cannot be written or read',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class ProgramError extends Error {
  override readonly name = 'ProgramError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** How to fix it, in one sentence; the CLI prints it after the message. */
    readonly hint?: string,
  ) {
    super(message);
  }
}
