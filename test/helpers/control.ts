/**
 * A proxy in-process with its control server on 127.0.0.1 port 0 and its token file in a fresh
 * temporary folder, and a client for the control API that can send any Host, Origin or token.
 * Everything is closed when the test ends.
 */
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { ProxyConfig } from '../../src/config.js';
import { request, type CollectedResponse } from './client.js';
import { forwardProxy } from './protocol.js';
import type { TestProxy } from './proxy.js';
import { tempDir } from './temp.js';

export interface ControlledProxy {
  proxy: TestProxy;
  controlPort: number;
  token: string;
  tokenFile: string;
  /** A request to the control server; the run's token unless `token` says otherwise (null: none). */
  api(path: string, options?: { method?: string; token?: string | null; headers?: Record<string, string>; body?: string | Buffer }): Promise<ApiAnswer>;
}

export interface ApiAnswer extends CollectedResponse {
  /** The body parsed as JSON (undefined when it is not JSON). */
  json: unknown;
}

export async function controlledProxy(t: TestContext, overrides: Partial<ProxyConfig> = {}): Promise<ControlledProxy> {
  const defaults = { listen: { host: '127.0.0.1', port: 0 }, tokenFile: join(tempDir(t, 'vp-control-'), 'sub', 'control-token'), ring: 1000, captureBytes: 64 * 1024 };
  const proxy = await forwardProxy(t, { control: defaults, ...overrides });
  const tokenFile = proxy.app.control!.tokenFile;
  const control = proxy.app.control!;
  const controlPort = Number(new URL(control.url).port);
  return {
    proxy,
    controlPort,
    token: control.token,
    tokenFile,
    api: async (path, options = {}) => {
      const headers: Record<string, string> = { ...options.headers };
      const token = options.token === undefined ? control.token : options.token;
      if (token !== null) headers.Authorization = `Bearer ${token}`;
      const res = await request(controlPort, path, { method: options.method ?? 'GET', headers, ...(options.body !== undefined && { body: options.body }), timeoutMs: 5000 });
      let json: unknown;
      try {
        json = JSON.parse(res.body.toString('utf8'));
      } catch {
        json = undefined;
      }
      return { ...res, json };
    },
  };
}
