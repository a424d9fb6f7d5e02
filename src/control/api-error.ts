/**
 * An error the control API answers with: its status and a JSON body `{error, code, issues?}`
 * (docs/control-api.md), the message saying how to fix the request.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues?: string[],
    /** Extra response headers, e.g. `Allow` on a 405. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  body(): { error: string; code: string; issues?: string[] } {
    return { error: this.message, code: this.code, ...(this.issues !== undefined && { issues: this.issues }) };
  }
}

export const ERROR_SCHEMA = {
  type: 'object',
  required: ['error', 'code'],
  properties: {
    error: { type: 'string', description: 'what is wrong and how to fix it' },
    code: { type: 'string', description: 'stable: UNAUTHORIZED, FORBIDDEN_HOST, CROSS_SITE, NOT_FOUND, METHOD_NOT_ALLOWED, BAD_QUERY, BAD_BODY, BAD_JSON, BAD_RULE, UNSUPPORTED_MEDIA_TYPE, CONFLICT, BODY_TOO_LARGE, BAD_FILTER, INTERNAL' },
    issues: { type: 'array', items: { type: 'string' }, description: 'one `path: issue` line per problem, when there are several' },
  },
} as const;
