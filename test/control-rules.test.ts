/**
 * Runtime rules and scopes through the control API with real sockets (issue 22,
 * docs/control-api.md "Rules" and "Scopes"): a rule added changes the very next request, hits and
 * their long-poll wait, replace / enable / disable / delete, bad input refused with the path of each
 * issue while traffic carries on, runtime rules beside file rules through a hot reload, and scopes
 * removed on DELETE, when the lease lapses, when their holder disconnects or is killed, and on reset.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import net from 'node:net';
import type { TestContext } from 'node:test';
import { describe, it } from 'node:test';
import { delay, header, proxiedRequest, withTimeout } from './helpers/client.js';
import { controlledProxy, type ControlledProxy } from './helpers/control.js';
import { ProxyProcess } from './helpers/process.js';
import { FPSE_HEADERS, SHTML, fpseServer } from './helpers/protocol.js';
import { tempDir } from './helpers/temp.js';
import { recordingRelay, writeRules, type RecordingRelay } from './helpers/rule-files.js';

const OLD_CLIENT = 'method=server+version%3a12%2e0%2e0%2e6415';
const REFUSE = { match: { protocol: 'fpse', fpseMethod: 'server version' }, actions: [{ reject: 'client-too-old' }] };
const DOWNGRADE = { match: { protocol: 'fpse' }, actions: [{ serverVersion: '5.0.2.6790' }] };

interface RuleInfo {
  id: string;
  source: string;
  scope?: string;
  enabled: boolean;
  hits: number;
  explain: string;
  definition: Record<string, unknown>;
}

async function upstream(t: TestContext): Promise<RecordingRelay> {
  const server = await fpseServer(t, { version: '14.0.0.6029' });
  return recordingRelay(t, server.url);
}

function call(c: ControlledProxy, relay: { url: string }, body = OLD_CLIENT): ReturnType<typeof proxiedRequest> {
  return proxiedRequest(c.proxy.port, `${relay.url}${SHTML}`, { method: 'POST', headers: { Host: new URL(relay.url).host, ...FPSE_HEADERS }, body, timeoutMs: 5000 });
}

function send(c: ControlledProxy, method: string, path: string, body?: unknown): ReturnType<ControlledProxy['api']> {
  return c.api(path, { method, ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }) });
}

function status(packet: Buffer): string | undefined {
  return /<li>status=(\d+)/.exec(packet.toString())?.[1];
}

function methodLine(packet: Buffer): string | undefined {
  return /<p>method=([^\r\n]*)/.exec(packet.toString())?.[1];
}

describe('runtime rules', () => {
  it('a rule added through the API changes the very next request; its hits name the exchanges; deleting it restores the traffic', async (t) => {
    const relay = await upstream(t);
    const c = await controlledProxy(t);
    const before = await call(c, relay);
    assert.equal(status(before.body), undefined, 'no rule yet: the server answers');

    const added = await send(c, 'POST', '/api/rules', { id: 'old-client', ...REFUSE });
    assert.equal(added.statusCode, 201, added.body.toString());
    const { id, rule } = added.json as { id: string; rule: RuleInfo };
    assert.equal(id, 'old-client');
    assert.equal(rule.source, 'runtime');
    assert.equal(rule.hits, 0);
    assert.match(rule.explain, /reject/);
    assert.deepEqual(rule.definition.actions, [{ reject: 'client-too-old' }]);

    const seen = relay.requests.length;
    const refused = await call(c, relay);
    assert.equal(status(refused.body), '262156', 'the next request is refused by the new rule');
    assert.equal(relay.requests.length, seen, 'the upstream never saw it');

    const hits = (await c.api('/api/rules/old-client/hits')).json as { id: string; hits: number; exchanges: string[] };
    assert.equal(hits.hits, 1);
    assert.equal(hits.exchanges.length, 1);
    const record = (await c.api(`/api/exchanges/${hits.exchanges[0]!}`)).json as { rules: Array<{ id: string; outcome: string }> };
    assert.deepEqual(record.rules.map((r) => [r.id, r.outcome]), [['old-client', 'applied']]);
    const listed = (await c.api('/api/rules')).json as RuleInfo[];
    assert.deepEqual(listed.map((r) => [r.id, r.source, r.hits]), [['old-client', 'runtime', 1]]);

    const deleted = await send(c, 'DELETE', '/api/rules/old-client');
    assert.deepEqual(deleted.json, { id: 'old-client', deleted: true });
    const after = await call(c, relay);
    assert.equal(status(after.body), undefined, 'deleted: the next request reaches the server');
    assert.equal(relay.requests.length, seen + 1);
    assert.equal((await c.api('/api/rules/old-client')).statusCode, 405, 'no GET of one rule: the list has them');
    assert.equal((await send(c, 'DELETE', '/api/rules/old-client')).statusCode, 404);
    assert.equal(((await c.api('/api/rules/old-client/hits')).json as { hits: number }).hits, 1, 'its hits stay readable after it is gone');
  });

  it('hits?count=N&wait=MS answers as soon as the rule has N hits, or at the wait with what it has', async (t) => {
    const relay = await upstream(t);
    const c = await controlledProxy(t);
    await send(c, 'POST', '/api/rules', { id: 'downgrade', ...DOWNGRADE });
    const early = await c.api('/api/rules/downgrade/hits?count=1&wait=200');
    assert.deepEqual((early.json as { hits: number }).hits, 0, 'no traffic: the wait ends with 0 hits');

    const waiting = c.api('/api/rules/downgrade/hits?count=2&wait=10000');
    let answered = false;
    void waiting.then(() => (answered = true));
    const first = await call(c, relay);
    assert.equal(methodLine(first.body), 'server version:5.0.2.6790', 'the downgrade rewrote the answer');
    await delay(100);
    assert.equal(answered, false, 'one hit of two: still waiting');
    await call(c, relay);
    const done = (await withTimeout(waiting, 3000, 'the long poll')).json as { hits: number; exchanges: string[] };
    assert.equal(done.hits, 2);
    assert.equal(done.exchanges.length, 2);
    const ids = (c.proxy.exchanges.slice(-2)).map((x) => x.id);
    assert.deepEqual(done.exchanges, ids, 'the two exchanges, oldest first');
  });

  it('replace (PUT), enable and disable (PATCH) take effect on the next request; file rules can be disabled, not replaced or deleted', async (t) => {
    const relay = await upstream(t);
    const file = await writeRules(t, `
rules:
  - id: file-downgrade
    match: { protocol: fpse }
    actions:
      - serverVersion: "6.0.2.5530"
`);
    const c = await controlledProxy(t, { rules: [file] });
    assert.equal(methodLine((await call(c, relay)).body), 'server version:6.0.2.5530', 'the file rule applies');

    assert.equal((await send(c, 'PATCH', '/api/rules/file-downgrade', { enabled: false })).statusCode, 200);
    assert.equal(methodLine((await call(c, relay)).body), 'server version:12.0.0.6415', 'disabled: Min(client, server) as the server said it');
    assert.equal((await send(c, 'PUT', '/api/rules/file-downgrade', DOWNGRADE)).statusCode, 409);
    assert.equal((await send(c, 'DELETE', '/api/rules/file-downgrade')).statusCode, 409);
    assert.equal((await send(c, 'PATCH', '/api/rules/file-downgrade', { enabled: true })).statusCode, 200);

    await send(c, 'POST', '/api/rules', { id: 'refuse', priority: 10, ...REFUSE });
    assert.equal(status((await call(c, relay)).body), '262156');
    await send(c, 'PATCH', '/api/rules/file-downgrade', { enabled: false });
    const replaced = await send(c, 'PUT', '/api/rules/refuse', { priority: 10, ...DOWNGRADE, actions: [{ serverVersion: '5.0.2.6790' }] });
    assert.equal(replaced.statusCode, 200, replaced.body.toString());
    assert.equal((replaced.json as RuleInfo).id, 'refuse');
    assert.equal(methodLine((await call(c, relay)).body), 'server version:5.0.2.6790', 'the replaced rule');
    await send(c, 'PATCH', '/api/rules/file-downgrade', { enabled: true });
    const off = await send(c, 'PATCH', '/api/rules/refuse', { enabled: false });
    assert.equal((off.json as RuleInfo).enabled, false);
    assert.equal(methodLine((await call(c, relay)).body), 'server version:6.0.2.5530', 'the runtime rule off: the file rule again');
    const listed = (await c.api('/api/rules')).json as RuleInfo[];
    assert.deepEqual(listed.map((r) => [r.id, r.source, r.enabled]), [['file-downgrade', 'file', true], ['refuse', 'runtime', false]]);
  });

  it('runtime rules live beside the file rules through a hot reload; a file rule that takes a runtime id is left out, logged', async (t) => {
    const relay = await upstream(t);
    const file = await writeRules(t, 'rules:\n  - id: tag\n    actions:\n      - setHeader: { name: X-File, value: one }\n');
    const c = await controlledProxy(t, { rules: [file] });
    await send(c, 'POST', '/api/rules', { id: 'runtime-tag', actions: [{ setHeader: { name: 'X-Runtime', value: 'yes' } }] });
    await writeFile(file, 'rules:\n  - id: tag\n    actions:\n      - setHeader: { name: X-File, value: two }\n  - id: runtime-tag\n    actions:\n      - setHeader: { name: X-Shadowed, value: shadowed }\n');
    await c.proxy.logs.waitFor((l) => l.msg === 'rules reloaded', 1, 5000);
    await call(c, relay);
    const seen = relay.requests.at(-1)!.rawHeaders;
    assert.equal(header(seen, 'X-File'), 'two', 'the reloaded file rule');
    assert.equal(header(seen, 'X-Runtime'), 'yes', 'the runtime rule survived the reload');
    assert.equal(header(seen, 'X-Shadowed'), undefined, 'the file rule with the runtime id is left out');
    const warned = await c.proxy.logs.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('file rule runtime-tag is left out'), 1, 3000);
    assert.equal(warned.length, 1);
    const listed = (await c.api('/api/rules')).json as RuleInfo[];
    assert.deepEqual(listed.map((r) => [r.id, r.source]), [['tag', 'file'], ['runtime-tag', 'runtime']]);
  });

  it('bad input gets 4xx with a message that says how to fix it, each issue at its field path; the proxy and its traffic carry on', async (t) => {
    const relay = await upstream(t);
    const c = await controlledProxy(t);
    await send(c, 'POST', '/api/rules', { id: 'taken', ...DOWNGRADE });
    const cases: Array<{ body: unknown; status: number; code: string; issue?: RegExp; error?: RegExp }> = [
      { body: '{"id": "x", "actions": [', status: 400, code: 'BAD_JSON', error: /not valid JSON/ },
      { body: { id: 'x', actions: [{ rejct: 'client-too-old' }] }, status: 400, code: 'BAD_RULE', issue: /^actions\[0\]\.rejct: unknown action "rejct"; did you mean "reject"/ },
      { body: { id: 'x', match: { protocol: 'fpse', clientVersion: '< 4.x' }, actions: [{ reject: 'client-too-old' }] }, status: 400, code: 'BAD_RULE', issue: /^match\.clientVersion: / },
      { body: { id: 'x', colour: 'red', actions: [{ delay: '1s' }] }, status: 400, code: 'BAD_RULE', issue: /^colour: unknown key "colour" in a rule/ },
      { body: { id: 'Not Kebab', actions: [{ delay: '1s' }] }, status: 400, code: 'BAD_RULE', issue: /^id: id "Not Kebab" is not kebab-case; write "not-kebab"/ },
      { body: { id: 'x' }, status: 400, code: 'BAD_RULE', issue: /^rule: rule "x" has no actions/ },
      { body: [REFUSE], status: 400, code: 'BAD_RULE', issue: /must be a JSON object/ },
      { body: { id: 'x', actions: [{ respond: { status: 200, file: '/etc/passwd' } }] }, status: 400, code: 'BAD_RULE', issue: /cannot respond with a file/ },
      { body: { id: 'taken', ...REFUSE }, status: 409, code: 'CONFLICT', error: /taken by a runtime rule/ },
    ];
    for (const { body, status: want, code, issue, error } of cases) {
      const res = await send(c, 'POST', '/api/rules', body);
      const answer = res.json as { error: string; code: string; issues?: string[] };
      assert.equal(res.statusCode, want, `${JSON.stringify(body)}: ${res.body.toString()}`);
      assert.equal(answer.code, code);
      if (issue !== undefined) assert.ok(answer.issues?.some((i) => issue.test(i)), `${JSON.stringify(body)}: ${JSON.stringify(answer.issues)}`);
      if (error !== undefined) assert.match(answer.error, error);
    }
    const plain = await c.api('/api/rules', { method: 'POST', body: '{}', headers: { 'Content-Type': 'text/plain' } });
    assert.equal(plain.statusCode, 415);
    const empty = await c.api('/api/rules', { method: 'POST' });
    assert.equal((empty.json as { code: string }).code, 'BAD_BODY');
    assert.equal((await send(c, 'PATCH', '/api/rules/taken', { enabled: 'no' })).statusCode, 400);
    assert.match(((await send(c, 'PATCH', '/api/rules/taken', { enabled: false, colour: 1 })).json as { error: string }).error, /^colour: unknown field/);
    assert.equal((await send(c, 'PATCH', '/api/rules/nope', { enabled: false })).statusCode, 404);
    assert.equal((await send(c, 'PUT', '/api/rules/nope', REFUSE)).statusCode, 404);
    assert.equal((await c.api('/api/rules/nope/hits')).statusCode, 404);
    assert.equal((await c.api('/api/rules/taken/hits?count=0')).statusCode, 400);
    assert.equal((await c.api('/api/rules/taken/hits?count=1&wait=600000')).statusCode, 400);
    // Only the one good rule went in, and traffic goes on.
    assert.deepEqual(((await c.api('/api/rules')).json as RuleInfo[]).map((r) => r.id), ['taken']);
    assert.equal(methodLine((await call(c, relay)).body), 'server version:5.0.2.6790');
  });
});

describe('scopes', () => {
  it('a scope adds its rules at once and removes them on DELETE; a hold then answers how it ended', async (t) => {
    const relay = await upstream(t);
    const c = await controlledProxy(t);
    const created = await send(c, 'POST', '/api/scopes', { rules: [REFUSE, { id: 'named', ...DOWNGRADE }], ttl: 30_000 });
    assert.equal(created.statusCode, 201, created.body.toString());
    const scope = created.json as { id: string; rules: string[]; ttl: number; expiresAt: number; held: boolean };
    assert.equal(scope.rules.length, 2);
    assert.equal(scope.rules[1], 'named');
    assert.match(scope.rules[0]!, /^scope-\d+-1$/, 'a rule without an id is named after its scope');
    assert.ok(scope.expiresAt > Date.now() + 25_000);
    const listed = (await c.api('/api/rules')).json as RuleInfo[];
    assert.deepEqual(listed.map((r) => [r.source, r.scope]), [['scope', scope.id], ['scope', scope.id]]);
    assert.equal((await send(c, 'DELETE', '/api/rules/named')).statusCode, 409, 'a scope rule goes with its scope');
    assert.equal(status((await call(c, relay)).body), '262156');

    const hold = c.api(`/api/scopes/${scope.id}/hold`);
    await delay(50);
    assert.equal(((await c.api(`/api/scopes/${scope.id}`)).json as { held: boolean }).held, true);
    assert.deepEqual((await send(c, 'DELETE', `/api/scopes/${scope.id}`)).json, { id: scope.id, deleted: true });
    assert.deepEqual((await withTimeout(hold, 3000, 'the hold')).json, { id: scope.id, ended: 'deleted' });
    assert.deepEqual((await c.api('/api/rules')).json, []);
    assert.equal(status((await call(c, relay)).body), undefined, 'no fault left');
    assert.equal((await send(c, 'DELETE', `/api/scopes/${scope.id}`)).statusCode, 404);
    assert.equal((await send(c, 'PUT', `/api/scopes/${scope.id}`)).statusCode, 404);
  });

  it('scopes created at once, their rules unnamed, each get their own id, also while the validator is first loaded', { timeout: 30_000 }, async (t) => {
    // A fresh process: the rule validator is imported by the first request, and the others
    // arrive during that import; each scope's rules must still be named after its own id.
    const tokenFile = join(tempDir(t), 'token');
    const proxy = await ProxyProcess.start(['start', '--listen', '127.0.0.1:0', '--no-record', '--control', '127.0.0.1:0', '--control-token-file', tokenFile]);
    t.after(() => proxy.kill());
    const control = String(proxy.lines.find((l) => l.msg === 'listening')!.control);
    const headers = { Authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}`, 'Content-Type': 'application/json' };
    const answers = await Promise.all(Array.from({ length: 4 }, () => fetch(`${control}/api/scopes`, { method: 'POST', headers, body: JSON.stringify({ rules: [DOWNGRADE] }) })));
    const bodies = await Promise.all(answers.map((a) => a.text()));
    assert.deepEqual(answers.map((a) => a.status), [201, 201, 201, 201], bodies.join('\n'));
    assert.equal(new Set(bodies.map((b) => (JSON.parse(b) as { id: string }).id)).size, 4);
  });

  it('a lease lapses unless renewed; renewing keeps it', async (t) => {
    const c = await controlledProxy(t);
    const kept = (await send(c, 'POST', '/api/scopes', { rules: [DOWNGRADE], ttl: 400 })).json as { id: string };
    const lapsing = (await send(c, 'POST', '/api/scopes', { rules: [REFUSE], ttl: 400 })).json as { id: string };
    for (let i = 0; i < 4; i++) {
      await delay(200);
      const renewed = await send(c, 'PUT', `/api/scopes/${kept.id}`);
      assert.equal(renewed.statusCode, 200, `renewal ${i}`);
    }
    const live = ((await c.api('/api/scopes')).json as Array<{ id: string }>).map((s) => s.id);
    assert.deepEqual(live, [kept.id], 'the unrenewed scope lapsed after 400 ms, the renewed one lives at 800 ms');
    await c.proxy.logs.waitFor((l) => l.msg === 'scope removed: its lease lapsed' && l.scope === lapsing.id, 1, 2000);
    const longer = await send(c, 'PUT', `/api/scopes/${kept.id}`, { ttl: 60_000 });
    assert.equal((longer.json as { ttl: number }).ttl, 60_000);
    assert.equal((await send(c, 'PUT', `/api/scopes/${kept.id}`, { ttl: 5 })).statusCode, 400);
    assert.equal((await send(c, 'POST', '/api/scopes', { rules: [], ttl: 1000 })).statusCode, 400);
    assert.equal((await send(c, 'POST', '/api/scopes', { rules: [REFUSE], lease: 1000 })).statusCode, 400);
    const bad = await send(c, 'POST', '/api/scopes', { rules: [REFUSE, { actions: [{ delay: 'soon' }] }] });
    assert.equal(bad.statusCode, 400);
    assert.ok((bad.json as { issues: string[] }).issues.some((i) => i.startsWith('rules[1].actions[0].delay: ')), JSON.stringify(bad.json));
    assert.equal(((await c.api('/api/scopes')).json as unknown[]).length, 1, 'a bad scope adds nothing');
  });

  it('a scope whose holder disconnects is gone at once; one whose client process is killed is gone within 2 s', async (t) => {
    const c = await controlledProxy(t);
    const scope = (await send(c, 'POST', '/api/scopes', { rules: [REFUSE], ttl: 60_000 })).json as { id: string };
    const socket = net.connect(c.controlPort, '127.0.0.1');
    t.after(() => socket.destroy());
    socket.write(`GET /api/scopes/${scope.id}/hold HTTP/1.1\r\nHost: 127.0.0.1:${c.controlPort}\r\nAuthorization: Bearer ${c.token}\r\n\r\n`);
    await delay(100);
    socket.destroy();
    await c.proxy.logs.waitFor((l) => l.msg === 'scope removed: its holder disconnected', 1, 2000);
    assert.deepEqual((await c.api('/api/scopes')).json, []);

    // A separate process creates and holds a scope, then dies by SIGKILL (no cleanup code runs).
    const script = `
      const http = require('node:http');
      const headers = { Host: '127.0.0.1:${c.controlPort}', Authorization: 'Bearer ${c.token}', 'Content-Type': 'application/json' };
      const req = http.request({ host: '127.0.0.1', port: ${c.controlPort}, method: 'POST', path: '/api/scopes', headers }, (res) => {
        let text = ''; res.on('data', (d) => text += d); res.on('end', () => {
          const { id } = JSON.parse(text);
          http.get({ host: '127.0.0.1', port: ${c.controlPort}, path: '/api/scopes/' + id + '/hold', headers, agent: new http.Agent() });
          setTimeout(() => process.stdout.write(id + '\\n'), 100);
        });
      });
      req.end(JSON.stringify({ rules: [${JSON.stringify(REFUSE)}], ttl: 600000 }));
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => child.kill('SIGKILL'));
    const id = await withTimeout(new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()))), 5000, 'the child scope');
    assert.equal(((await c.api(`/api/scopes/${id}`)).json as { held: boolean }).held, true);
    const killedAt = Date.now();
    child.kill('SIGKILL');
    let gone = false;
    while (!gone && Date.now() - killedAt < 2000) {
      gone = (await c.api(`/api/scopes/${id}`)).statusCode === 404;
      if (!gone) await delay(50);
    }
    assert.ok(gone, 'the killed process left no scope behind within 2 s (its lease had 10 minutes to run)');
    assert.deepEqual((await c.api('/api/rules')).json, []);
  });

  it('POST /api/reset removes runtime rules and scopes, re-enables file rules, and starts the counters afresh', async (t) => {
    const relay = await upstream(t);
    const file = await writeRules(t, 'rules:\n  - id: once\n    times: 1\n    match: { protocol: fpse }\n    actions:\n      - serverVersion: "6.0.2.5530"\n');
    const c = await controlledProxy(t, { rules: [file] });
    assert.equal(methodLine((await call(c, relay)).body), 'server version:6.0.2.5530');
    assert.equal(methodLine((await call(c, relay)).body), 'server version:12.0.0.6415', 'times: 1 is used up');
    await send(c, 'POST', '/api/rules', { id: 'extra', actions: [{ delay: '1ms' }] });
    await send(c, 'POST', '/api/scopes', { rules: [{ actions: [{ delay: '1ms' }] }] });
    const hold = c.api('/api/scopes/scope-1/hold');
    await delay(50);
    const reset = await send(c, 'POST', '/api/reset');
    assert.deepEqual(reset.json, { rules: 2, scopes: 1 });
    assert.deepEqual((await withTimeout(hold, 3000, 'the hold')).json, { id: 'scope-1', ended: 'reset' });
    assert.deepEqual(((await c.api('/api/rules')).json as RuleInfo[]).map((r) => [r.id, r.hits]), [['once', 0]]);
    assert.deepEqual((await c.api('/api/exchanges')).json, [], 'the ring is empty');
    assert.deepEqual((await c.api('/api/conversations')).json, []);
    assert.equal(methodLine((await call(c, relay)).body), 'server version:6.0.2.5530', 'times: 1 counts again from the reset');
    const status = (await c.api('/api/status')).json as { rules: Record<string, number>; scopes: number };
    assert.deepEqual(status.rules, { file: 1, runtime: 0, scope: 0 });
    assert.equal(status.scopes, 0);
  });
});
