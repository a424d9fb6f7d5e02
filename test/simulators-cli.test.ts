/**
 * `./proxy simulate fpse-client | mapi-client` print what they saw as lines a person reads, one per
 * call as its answer arrives (a NotificationWait is announced before it waits), and the whole
 * report as JSON with --json.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fpseServer, mapiServer } from './helpers/protocol.js';
import { linesOf, runCli } from './helpers/process.js';

describe('simulator clients on the command line', () => {
  it('fpse-client: a line per call, then what was negotiated', { timeout: 30_000 }, async (t) => {
    const server = await fpseServer(t, { version: '14.0.0.6029' });
    const result = await runCli(['simulate', 'fpse-client', '--server', server.url, '--version', '12.0.0.6415']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(linesOf(result.stdout).map((l) => l.replace(/\s+/g, ' ')), [
      'GET /_vti_inf.html 200',
      'server version:12.0.0.6415 200 method=server version:12.0.0.6415 server 14.0.0.6029',
      'open service:12.0.0.6415 200 method=open service:12.0.0.6415',
      'url to web url:12.0.0.6415 200 method=url to web url:12.0.0.6415',
      'negotiated 12.0.0.6415 with server 14.0.0.6029, all calls on one connection',
    ]);
  });

  it('fpse-client --json: the report as JSON', { timeout: 30_000 }, async (t) => {
    const server = await fpseServer(t, { version: '14.0.0.6029' });
    const result = await runCli(['simulate', 'fpse-client', '--server', server.url, '--version', '3.0.2.1000', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as { rejected: boolean; steps: unknown[] };
    assert.equal(report.rejected, true);
    assert.equal(report.steps.length, 2);
  });

  it('mapi-client: announces the long poll, then a line per call with its meta-tags', { timeout: 30_000 }, async (t) => {
    const server = await mapiServer(t, { server: 'Exchange/15.02.1544.014' });
    const result = await runCli(['simulate', 'mapi-client', '--server', server.url]);
    assert.equal(result.code, 0, result.stderr);
    const lines = linesOf(result.stdout);
    const wait = lines.findIndex((l) => l.startsWith('NotificationWait: a long poll'));
    assert.ok(wait > 0, result.stdout);
    assert.match(lines[wait + 1]!, /^emsmdb NotificationWait\s+200 {2}X-ResponseCode 0 {2}PROCESSING,(PENDING(×\d+)?,)?DONE {2}Exchange\/15\.02\.1544\.014/);
    assert.match(lines[0]!, /^emsmdb Connect\s+200 {2}X-ResponseCode 0 {2}PROCESSING,DONE {2}Exchange\/15\.02\.1544\.014 {2}\d+ bytes$/);
    assert.match(lines.at(-1)!, /^8 calls, server Exchange\/15\.02\.1544\.014$/);
  });
});
