/**
 * Calls to the control API with the bearer token (RFC 6750 §2.1). Every failure becomes an
 * ApiFailure carrying the server's own `{error, code, issues}`, so the UI shows the message that
 * says how to fix it (a bad filter, a bad rule) instead of a bare status.
 */
import type { ApiErrorBody } from './types.js';

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
  ) {
    super(body.error);
  }
}

export class Api {
  /** Called once when the server says the token is wrong (a new run writes a new one). */
  onUnauthorized: () => void = () => undefined;

  constructor(readonly token: string) {}

  /**
   * A file the API answers as an attachment (the HAR and report exports): fetched with the token
   * (a link could not carry it), then handed to the browser as a blob. The file name is the
   * server's (Content-Disposition, RFC 6266).
   */
  async file(path: string, signal?: AbortSignal): Promise<{ blob: Blob; name: string; headers: Headers }> {
    let res: Response;
    try {
      res = await fetch(path, { headers: { Authorization: `Bearer ${this.token}` }, cache: 'no-store', ...(signal !== undefined && { signal }) });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw new ApiFailure(0, { error: 'the proxy does not answer: is it still running? (./proxy start)', code: 'UNREACHABLE' });
    }
    if (!res.ok) {
      if (res.status === 401) this.onUnauthorized();
      let body: ApiErrorBody | undefined;
      try {
        body = (await res.json()) as ApiErrorBody;
      } catch {
        body = undefined;
      }
      throw new ApiFailure(res.status, typeof body?.error === 'string' ? body : { error: `${res.status} ${res.statusText}`, code: 'HTTP' });
    }
    const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? 'export';
    return { blob: await res.blob(), name, headers: res.headers };
  }

  async json<T>(path: string, init: { method?: string; body?: unknown; signal?: AbortSignal } = {}): Promise<T> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.token}` };
    if (init.body !== undefined) headers['Content-Type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(path, {
        method: init.method ?? 'GET',
        headers,
        cache: 'no-store',
        ...(init.body !== undefined && { body: JSON.stringify(init.body) }),
        ...(init.signal !== undefined && { signal: init.signal }),
      });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw new ApiFailure(0, { error: 'the proxy does not answer: is it still running? (./proxy start)', code: 'UNREACHABLE' });
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      if (res.status === 401) this.onUnauthorized();
      const error = body as ApiErrorBody | undefined;
      throw new ApiFailure(res.status, typeof error?.error === 'string' ? error : { error: `${res.status} ${res.statusText}`, code: 'HTTP' });
    }
    return body as T;
  }
}
