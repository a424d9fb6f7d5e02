/** Its own file so that route tables beside routes.ts (ui-files.ts) can build replies without an import cycle. */

/**
 * A handler's answer when it is not JSON with the route's status (the metrics text, the UI's
 * files): the bytes as they are, with their type.
 */
export class Reply {
  constructor(
    readonly status: number,
    readonly body: string | Buffer,
    readonly contentType: string,
    readonly headers: Record<string, string> = {},
  ) {}
}
