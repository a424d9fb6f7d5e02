/**
 * What the client throws: the control server's answer `{error, code, issues?}` with its HTTP
 * status, or (status 0) a failure to reach the server at all, so a test can tell
 * `err.code === 'BAD_RULE'` from a proxy that is not running.
 */
export class ControlError extends Error {
  override readonly name = 'ControlError';

  constructor(
    /** The HTTP status; 0 when no answer came (codes UNREACHABLE, TIMEOUT, BAD_ANSWER, TOKEN_FILE). */
    readonly status: number,
    /** Stable: the server's code (UNAUTHORIZED, BAD_RULE, NOT_FOUND, CONFLICT, …) or the client's own. */
    readonly code: string,
    /** The server's message as it sent it, which says how to fix the request. */
    message: string,
    /** One `path: issue` line per problem (a bad rule, a bad filter). */
    readonly issues?: string[],
    /** The call that failed, e.g. `POST /api/rules`. */
    readonly request?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
