/**
 * How `./proxy serve` matches a request to a recorded answer (src/record/serve-match.ts): method,
 * path (query included, then without it), FPSE method, MAPI/HTTP request type, then order; and
 * what it says when nothing matches. Keys are built from hand-made requests, no sockets.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AnswerIndex, describeKey, fpseMethodOf, originFormOf, requestKeyOf, type RequestKey } from '../../src/record/serve-match.js';

const SHTML = '/_vti_bin/shtml.dll/_vti_rpc';
const AUTHOR = '/_vti_bin/_vti_aut/author.dll';
const EMSMDB = (mailbox: string): string => `/mapi/emsmdb/?MailboxId=${mailbox}@example.com`;

const fpse = (method: string, body: string): RequestKey => requestKeyOf('POST', method, [], fpseMethodOf(Buffer.from(body)));
const mapi = (path: string, requestType: string): RequestKey => requestKeyOf('POST', path, ['X-RequestType', requestType], undefined);

describe('request keys', () => {
  it('takes the origin-form of absolute-form targets (forward-mode recordings)', () => {
    assert.equal(originFormOf('http://127.0.0.1:8080/_vti_inf.html'), '/_vti_inf.html');
    assert.equal(originFormOf('https://mail.contoso.lab/mapi/emsmdb/?MailboxId=a@b'), '/mapi/emsmdb/?MailboxId=a@b');
    assert.equal(originFormOf('http://host'), '/');
    assert.equal(originFormOf('http://host?x=1'), '/?x=1');
    assert.equal(originFormOf('/a/b?c'), '/a/b?c');
    assert.equal(originFormOf('*'), '*');
  });

  it('reads the FPSE method from the first body line only, lower-cased', () => {
    assert.deepEqual(fpse(SHTML, 'method=server+version%3a12%2e0%2e0%2e6415&service%5fname=%2f'), { method: 'POST', path: SHTML, fpseMethod: 'server version' });
    // put document: the document after the first LF is never read (docs/protocols.md §2.2).
    const put = Buffer.from('method=Put+Document%3a12%2e0%2e0%2e6415&document=x\nmethod=open+service');
    assert.equal(fpseMethodOf(put), 'Put Document');
    assert.equal(requestKeyOf('POST', AUTHOR, [], fpseMethodOf(put)).fpseMethod, 'put document');
    assert.equal(fpseMethodOf(Buffer.from('{"json": true}')), undefined);
    assert.equal(fpseMethodOf(Buffer.alloc(0)), undefined);
    assert.equal(fpseMethodOf(undefined), undefined);
  });

  it('reads the MAPI/HTTP request type from X-RequestType, case-insensitively', () => {
    assert.deepEqual(requestKeyOf('POST', EMSMDB('a'), ['x-requesttype', ' Connect '], undefined), { method: 'POST', path: EMSMDB('a'), requestType: 'connect' });
    assert.deepEqual(requestKeyOf('GET', '/_vti_inf.html', ['Host', 'x'], undefined), { method: 'GET', path: '/_vti_inf.html' });
  });

  it('describes a key for the 404 text and the logs', () => {
    assert.equal(describeKey(fpse(SHTML, 'method=server+version%3a12%2e0%2e0%2e6415')), `POST ${SHTML} (FPSE "server version")`);
    assert.equal(describeKey(mapi(EMSMDB('a'), 'Execute')), `POST ${EMSMDB('a')} (MAPI/HTTP execute)`);
    assert.equal(describeKey({ method: 'GET', path: '/' }), 'GET /');
  });
});

describe('answer index', () => {
  it('tells FPSE methods on the same path apart', () => {
    const index = new AnswerIndex<string>();
    index.add(fpse(SHTML, 'method=server+version%3a12%2e0%2e0%2e6415'), 'version answer');
    index.add(fpse(SHTML, 'method=url+to+web+url%3a12%2e0%2e0%2e6415&url=%2f'), 'url answer');
    assert.equal(index.size, 2);
    // A different client version on the method line is the same method.
    assert.equal(index.match(fpse(SHTML, 'method=server+version%3a3%2e0%2e2%2e1000'))?.answer, 'version answer');
    assert.equal(index.match(fpse(SHTML, 'method=url+to+web+url%3a12%2e0%2e0%2e6415'))?.answer, 'url answer');
    assert.equal(index.match(fpse(AUTHOR, 'method=url+to+web+url%3a12%2e0%2e0%2e6415')), undefined);
    assert.equal(index.match({ method: 'GET', path: SHTML }), undefined);
  });

  it('answers the n-th request with the n-th recorded answer, then the last one again', () => {
    const index = new AnswerIndex<string>();
    index.add(mapi(EMSMDB('a'), 'Execute'), 'first');
    index.add(mapi(EMSMDB('a'), 'PING'), 'ping');
    index.add(mapi(EMSMDB('a'), 'Execute'), 'second');
    const served = [1, 2, 3, 4].map(() => index.match(mapi(EMSMDB('a'), 'execute')));
    assert.deepEqual(
      served.map((m) => [m?.answer, m?.nth, m?.of, m?.withoutQuery]),
      [
        ['first', 1, 2, false],
        ['second', 2, 2, false],
        ['second', 3, 2, false],
        ['second', 4, 2, false],
      ],
    );
    assert.equal(index.match(mapi(EMSMDB('a'), 'PING'))?.answer, 'ping');
  });

  it('falls back to the path without its query (another MailboxId), keeping order there too', () => {
    const index = new AnswerIndex<string>();
    index.add(mapi(EMSMDB('recorded'), 'Connect'), 'connect');
    index.add(mapi(EMSMDB('recorded'), 'Execute'), 'execute 1');
    index.add(mapi(EMSMDB('recorded'), 'Execute'), 'execute 2');
    const connect = index.match(mapi(EMSMDB('other'), 'Connect'));
    assert.deepEqual([connect?.answer, connect?.withoutQuery], ['connect', true]);
    assert.equal(index.match(mapi(EMSMDB('other'), 'Execute'))?.answer, 'execute 1');
    assert.equal(index.match(mapi(EMSMDB('other'), 'Execute'))?.answer, 'execute 2');
    // The exact path still matches exactly, with its own count.
    const exact = index.match(mapi(EMSMDB('recorded'), 'Execute'));
    assert.deepEqual([exact?.answer, exact?.withoutQuery], ['execute 1', false]);
    // Without a query at all, the fallback finds the recorded ones too.
    assert.equal(index.match(mapi('/mapi/emsmdb/', 'Connect'))?.answer, 'connect');
    assert.equal(index.match(mapi('/mapi/nspi/?MailboxId=x', 'Connect')), undefined);
  });

  it('matches the method exactly and the path with its case', () => {
    const index = new AnswerIndex<string>();
    index.add({ method: 'GET', path: '/_vti_inf.html' }, 'inf');
    assert.equal(index.match({ method: 'HEAD', path: '/_vti_inf.html' }), undefined);
    assert.equal(index.match({ method: 'GET', path: '/_VTI_INF.html' }), undefined);
    assert.equal(index.match({ method: 'GET', path: '/_vti_inf.html?x' })?.answer, 'inf');
  });

  it('names the closest recorded keys when nothing matches, best first', () => {
    const index = new AnswerIndex<string>();
    index.add({ method: 'GET', path: '/_vti_inf.html' }, 'inf');
    index.add(fpse(SHTML, 'method=server+version%3a12%2e0%2e0%2e6415'), 'version');
    index.add(fpse(SHTML, 'method=url+to+web+url%3a12%2e0%2e0%2e6415'), 'url');
    index.add(fpse(AUTHOR, 'method=open+service%3a12%2e0%2e0%2e6415'), 'open');
    index.add(mapi(EMSMDB('a'), 'Connect'), 'connect');
    const wanted = fpse(SHTML, 'method=list+documents%3a12%2e0%2e0%2e6415');
    assert.equal(index.match(wanted), undefined);
    const closest = index.closest(wanted).map(describeKey);
    assert.deepEqual(closest.slice(0, 2).sort(), [`POST ${SHTML} (FPSE "server version")`, `POST ${SHTML} (FPSE "url to web url")`]);
    assert.equal(closest.length, 3);
    assert.deepEqual(index.closest({ method: 'GET', path: '/_vti_inf.htm' }, 1).map(describeKey), ['GET /_vti_inf.html']);
    assert.deepEqual(new AnswerIndex<string>().closest(wanted), []);
  });
});
