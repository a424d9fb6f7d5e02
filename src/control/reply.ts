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

/**
 * A handler's answer streamed as it is made (the HAR export): the server writes each piece as the
 * client takes it ('drain'), and stops the pieces (`return()`) when the client goes away. A
 * failure after the head has gone out can only cut the answer short, so a client sees a body
 * that does not parse rather than a wrong one.
 */
export class StreamReply {
  constructor(
    readonly status: number,
    readonly chunks: AsyncGenerator<string>,
    readonly contentType: string,
    readonly headers: Record<string, string> = {},
  ) {}
}
