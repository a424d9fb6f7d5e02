/**
 * The terminal log (log-pretty.ts): one line per event and per exchange, the exchange line as the
 * README shows it, verdicts coloured by level, no colour codes with NO_COLOURS.
 */
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/log.js';
import { COLOURS, formatLine, NO_COLOURS } from '../../src/log-pretty.js';
import { tempDir } from '../helpers/temp.js';

const EXCHANGE = {
  level: 30,
  time: Date.UTC(2026, 11, 7, 19, 12, 40, 499),
  xid: 'k2f-1',
  method: 'POST',
  url: 'http://sp.lab/_vti_bin/shtml.dll/_vti_rpc',
  status: 200,
  ms: 4.1,
  up: 52,
  down: 310,
  proto: 'fpse "server version" client=3.0.2.1000 server=14.0.0.6029 server-should-have-rejected',
  verdict: 'violation',
  rules: ['fpse-refuse'],
  msg: 'exchange',
};

describe('terminal log lines', () => {
  it('an exchange is one line: method, URL, status, time, bytes, the protocol summary and the rules', () => {
    const line = formatLine(EXCHANGE, NO_COLOURS);
    assert.doesNotMatch(line, /\n/);
    assert.match(line, /^\d\d:\d\d:\d\d\.\d{3} POST http:\/\/sp\.lab\/_vti_bin\/shtml\.dll\/_vti_rpc 200 4\.1ms ↑52B ↓310B fpse "server version" client=3\.0\.2\.1000 server=14\.0\.0\.6029 server-should-have-rejected \[fpse-refuse\]$/);
    assert.ok(!line.includes('\u001b['), 'no colour codes without colours');
  });

  it('a violation is red, a notice yellow, ok green', () => {
    const red = '\u001b[31m';
    assert.ok(formatLine(EXCHANGE, COLOURS).includes(`${red}fpse "server version"`));
    assert.ok(formatLine({ ...EXCHANGE, verdict: 'notice' }, COLOURS).includes('\u001b[33mfpse'));
    assert.ok(formatLine({ ...EXCHANGE, verdict: 'ok' }, COLOURS).includes('\u001b[32mfpse'));
  });

  it('other events: time, level, message and key=value pairs, strings with spaces quoted, errors by message', () => {
    const line = formatLine({ level: 40, time: 0, msg: 'listening beyond loopback', address: '0.0.0.0', journal: 'a b.ndjson', err: { type: 'Error', message: 'boom', stack: 'at x' } }, NO_COLOURS);
    assert.match(line, /^\d\d:\d\d:\d\d\.\d{3} WARN {2}listening beyond loopback address=0\.0\.0\.0 journal="a b\.ndjson" err="Error: boom"$/);
  });

  it('the pretty logger writes exactly one line per call', async (t) => {
    const file = join(tempDir(t), 'log.txt');
    const fd = openSync(file, 'w');
    const logger = createLogger({ level: 'info', fd, pretty: true });
    logger.info({ port: 8080 }, 'listening');
    logger.info({ ...EXCHANGE, level: undefined, time: undefined, msg: undefined }, 'exchange');
    await new Promise<void>((resolve) => logger.flush(() => resolve()));
    closeSync(fd);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines[0]!, /INFO .*listening.*port=.*8080/);
    assert.match(lines[1]!, /POST http:\/\/sp\.lab\/.* 200 4\.1ms/);
  });
});
