/**
 * What `./proxy replay` compares and prints (src/record/replay-diff.ts): status, protocol
 * versions, verdict codes as a set, protocol problems; one line per difference and a summary.
 * Records are hand-built journal lines (entry.ts), no sockets.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createExchange, type ProtocolRecord, type Verdict } from '../../src/core/exchange.js';
import { exchangeLine, type ExchangeLine } from '../../src/record/entry.js';
import { compareExchanges, formatDifference, formatReplay, type ReplayResult } from '../../src/record/replay-diff.js';

const SHTML = '/_vti_bin/shtml.dll/_vti_rpc';
const REQUEST = { id: 'abcde-2', method: 'POST', path: SHTML };

function verdict(code: string): Verdict {
  return { code, level: code === 'accepted' ? 'ok' : 'violation', message: `${code} because` };
}

function fpseLine(versions: ProtocolRecord['versions'], codes: string[], status = 200, problems: string[] = []): ExchangeLine {
  const x = createExchange('http', { address: '127.0.0.1', port: 50000, connection: 1 }, { method: 'POST', url: SHTML, httpVersion: '1.1', rawHeaders: ['Host', 'h'] });
  x.response = { statusCode: status, statusMessage: 'OK', httpVersion: '1.1', rawHeaders: [], source: 'upstream' };
  x.protocol = { protocol: 'fpse', summary: 's', conversation: 'c', operation: 'server version', versions, facts: {}, verdicts: codes.map(verdict), problems };
  return exchangeLine(x);
}

const RECORDED = fpseLine({ client: '12.0.0.6415', server: '14.0.0.6029', negotiated: '12.0.0.6415' }, ['accepted']);

describe('replay comparison', () => {
  it('finds no difference when status, versions, verdicts and problems agree (messages and ids may differ)', () => {
    const again = fpseLine({ client: '12.0.0.6415', server: '14.0.0.6029', negotiated: '12.0.0.6415' }, ['accepted']);
    again.protocol!.verdicts[0]!.message = 'other words';
    assert.equal(compareExchanges(REQUEST, RECORDED, again), undefined);
  });

  it("reports a changed echo: a later call's method line, which negotiates nothing (MS-FPSE 1.7.1)", () => {
    const before = fpseLine({ client: '12.0.0.6415', server: '14.0.0.6029', echo: '12.0.0.6415' }, ['accepted']);
    const after = fpseLine({ client: '12.0.0.6415', server: '14.0.0.6029', echo: '14.0.0.4730' }, ['echo-mismatch']);
    const diff = compareExchanges(REQUEST, before, after)!;
    assert.deepEqual(diff.versions, { echo: { recorded: '12.0.0.6415', replayed: '14.0.0.4730' } });
    assert.equal(formatDifference(diff), `abcde-2 POST ${SHTML} "server version": echo 12.0.0.6415 → 14.0.0.4730; verdicts -accepted +echo-mismatch`);
  });

  it('compares verdict codes as a set: order and repeats do not count', () => {
    const a = fpseLine({}, ['accepted', 'server-should-have-rejected']);
    const b = fpseLine({}, ['server-should-have-rejected', 'accepted', 'accepted']);
    assert.equal(compareExchanges(REQUEST, a, b), undefined);
  });

  it('reports a changed server build, negotiated version and verdicts', () => {
    const replayed = { ...fpseLine({ client: '12.0.0.6415', server: '6.0.2.5530', negotiated: '6.0.2.5530' }, ['accepted', 'client-ignored-negotiated']), id: 'fghij-7' };
    const diff = compareExchanges(REQUEST, RECORDED, replayed);
    assert.deepEqual(diff, {
      id: 'abcde-2',
      replayedId: 'fghij-7',
      method: 'POST',
      path: SHTML,
      operation: 'server version',
      versions: { server: { recorded: '14.0.0.6029', replayed: '6.0.2.5530' }, negotiated: { recorded: '12.0.0.6415', replayed: '6.0.2.5530' } },
      verdicts: { missing: [], added: ['client-ignored-negotiated'] },
    });
    assert.equal(
      formatDifference(diff),
      `abcde-2 POST ${SHTML} "server version": server 14.0.0.6029 → 6.0.2.5530; negotiated 12.0.0.6415 → 6.0.2.5530; verdicts +client-ignored-negotiated`,
    );
  });

  it('reports a rejection that was not there: status, a version gone, verdicts both ways', () => {
    const replayed = fpseLine({ client: '12.0.0.6415', server: '14.0.0.6029' }, ['rejected-client-too-old'], 500);
    const diff = compareExchanges(REQUEST, RECORDED, replayed)!;
    assert.deepEqual(diff.status, { recorded: '200', replayed: '500' });
    assert.deepEqual(diff.versions, { negotiated: { recorded: '12.0.0.6415' } });
    assert.deepEqual(diff.verdicts, { missing: ['accepted'], added: ['rejected-client-too-old'] });
    assert.equal(formatDifference(diff), `abcde-2 POST ${SHTML} "server version": status 200 → 500; negotiated 12.0.0.6415 → (none); verdicts -accepted +rejected-client-too-old`);
  });

  it('reports new protocol problems', () => {
    const replayed = fpseLine({ client: '12.0.0.6415', server: '14.0.0.6029', negotiated: '12.0.0.6415' }, ['accepted'], 200, ['no </html> at the end']);
    const diff = compareExchanges(REQUEST, RECORDED, replayed)!;
    assert.deepEqual(diff.problems, { missing: [], added: ['no </html> at the end'] });
    assert.match(formatDifference(diff), /: problems \+"no <\/html> at the end"$/);
  });

  it('reports a replay that got no answer: the error code stands for the status, the protocol is gone', () => {
    const diff = compareExchanges(REQUEST, RECORDED, { error: { code: 'ECONNREFUSED', message: 'refused', phase: 'connect' } })!;
    assert.deepEqual(diff.status, { recorded: '200', replayed: 'ECONNREFUSED' });
    assert.deepEqual(Object.keys(diff.versions!), ['client', 'server', 'negotiated']);
    assert.deepEqual(diff.verdicts, { missing: ['accepted'], added: [] });
    assert.equal(diff.operation, 'server version');
    const proxyAnswer = fpseLine({}, [], 502);
    proxyAnswer.response!.source = 'proxy';
    proxyAnswer.error = { code: 'ECONNREFUSED', message: 'refused', phase: 'connect' };
    assert.deepEqual(compareExchanges(REQUEST, RECORDED, proxyAnswer)!.status, { recorded: '200', replayed: '502 ECONNREFUSED' });
    const none = compareExchanges(REQUEST, RECORDED, undefined)!;
    assert.deepEqual(none.status, { recorded: '200' });
  });

  it('compares plain HTTP exchanges by status alone', () => {
    const plain = (status: number): ExchangeLine => {
      const line = fpseLine({}, [], status);
      delete line.protocol;
      return line;
    };
    assert.equal(compareExchanges(REQUEST, plain(200), plain(200)), undefined);
    const diff = compareExchanges({ id: 'x-1', method: 'GET', path: '/' }, plain(200), plain(404))!;
    assert.equal(diff.operation, undefined);
    assert.equal(formatDifference(diff), 'x-1 GET /: status 200 → 404');
  });
});

describe('replay report', () => {
  it('prints notes, withheld headers, skips, one line per difference and the summary last', () => {
    const result: ReplayResult = {
      sent: 12,
      skipped: [{ id: 'abcde-9', reason: 'a tunnel (mail.contoso.lab:443); replay re-sends HTTP requests only' }],
      differences: [compareExchanges(REQUEST, RECORDED, fpseLine({ client: '12.0.0.6415', server: '14.0.0.6029', negotiated: '12.0.0.6415' }, ['accepted', 'echo-mismatch']))!],
      withheld: ['Authorization', 'Cookie'],
      notes: ['original pacing; 1 pause(s) longer than 10 s shortened to 10 s'],
    };
    assert.equal(
      formatReplay(result),
      [
        'original pacing; 1 pause(s) longer than 10 s shortened to 10 s',
        'not replayed: Authorization, Cookie (redacted in the journal)',
        'skipped abcde-9: a tunnel (mail.contoso.lab:443); replay re-sends HTTP requests only',
        `abcde-2 POST ${SHTML} "server version": verdicts +echo-mismatch`,
        '12 sent, 1 skipped, 1 differ',
        '',
      ].join('\n'),
    );
    assert.equal(formatReplay({ sent: 3, skipped: [], differences: [], withheld: [], notes: [] }), '3 sent, 0 skipped, 0 differ\n');
  });
});
