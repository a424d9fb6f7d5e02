/**
 * How one secret header value is redacted, by kind. Redaction keeps the shape, so a reader of a
 * journal, HAR or report still sees what happened (`NTLM <redacted 412 bytes>`, cookie names in
 * order) without the secret (issue 6 item 2, docs/recordings.md "Redaction").
 *
 * Each function returns the value itself when nothing in it is secret, and leaves a part that is
 * already a redaction marker as it is, so redacting twice changes nothing (a HAR made from a
 * redacted journal says the same as the journal).
 */

/**
 *   credentials  Authorization, Proxy-Authorization: the scheme stays, the rest goes
 *   challenges   WWW-Authenticate, Proxy-Authenticate: only NTLM/Negotiate/Kerberos blobs go
 *   cookie       Cookie: every value goes, names stay
 *   set-cookie   Set-Cookie: the cookie's value goes, its name and attributes stay
 *   whole        --redact-header NAME: the whole value goes
 */
export type SecretKind = 'credentials' | 'challenges' | 'cookie' | 'set-cookie' | 'whole';

const MARKER = /^<redacted \d+ bytes?>$/;

/** The marker that stands for `secret`: its size in bytes (as Buffer.byteLength counts them). */
export function marker(secret: string): string {
  if (secret === '' || MARKER.test(secret)) return secret;
  const n = Buffer.byteLength(secret);
  return `<redacted ${n} ${n === 1 ? 'byte' : 'bytes'}>`;
}

export function redactValue(kind: SecretKind, value: string): string {
  if (value === '') return value;
  switch (kind) {
    case 'credentials':
      return redactCredentials(value);
    case 'challenges':
      return redactChallenges(value);
    case 'cookie':
      return redactCookie(value);
    case 'set-cookie':
      return redactSetCookie(value);
    case 'whole':
      return marker(value);
  }
}

// RFC 9110 §11.6.2: credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]. The scheme is
// a token (§5.6.2); everything after the spaces is the secret, token68 or parameters alike
// (Digest's response=, NTLM's type 1/3 messages, a Bearer JWT). A value with no scheme followed
// by a space and more text (a bare API key, perhaps with a trailing space) is all secret.
const CREDENTIALS = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)([ \t]+)(\S[^]*)$/;

function redactCredentials(value: string): string {
  const m = CREDENTIALS.exec(value);
  if (m === null) return marker(value);
  const rest = marker(m[3]!);
  return rest === m[3] ? value : `${m[1]}${m[2]}${rest}`;
}

// RFC 9110 §11.6.1: a challenge list, `challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]`,
// elements separated by commas outside quoted strings. Only the token68 after NTLM (MS-NLMP
// 2.2.1.2, the CHALLENGE message with the server nonce), Negotiate (RFC 4559 §5, SPNEGO/Kerberos
// reply tokens) and Kerberos is secret; `Basic realm="x"` or a bare `NTLM` tells what the server
// offers and stays.
const BLOB_CHALLENGE = /^(NTLM|Negotiate|Kerberos)([ \t]+)([A-Za-z0-9._~+/-]+=*)$/i;

function redactChallenges(value: string): string {
  let out: string | undefined;
  let copied = 0;
  let start = 0;
  let quoted = false;
  for (let i = 0; i <= value.length; i++) {
    const c = value.charCodeAt(i);
    if (quoted) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) quoted = false;
      continue;
    }
    if (c === 0x22) {
      quoted = true;
      continue;
    }
    if (i < value.length && c !== 0x2c /* , */) continue;
    // One element: value[start, i), with its surrounding whitespace kept as sent.
    const element = value.slice(start, i);
    const core = element.trim();
    const m = BLOB_CHALLENGE.exec(core);
    if (m !== null) {
      const blob = marker(m[3]!);
      if (blob !== m[3]) {
        const at = start + element.indexOf(core) + m[1]!.length + m[2]!.length;
        out = (out ?? '') + value.slice(copied, at) + blob;
        copied = at + m[3]!.length;
      }
    }
    start = i + 1;
  }
  return out === undefined ? value : out + value.slice(copied);
}

// RFC 6265 §4.2.1: cookie-string = cookie-pair *( ";" SP cookie-pair ). Every value is a secret:
// this covers the MAPI/HTTP session cookies (MapiContext, MapiSequence, MapiRouting; gromox's sid
// and sequence; docs/protocols.md §1.5, MS-OXCMAPIHTTP 3.2.5.1), whose names stay so a report still
// shows which session cookies were sent. Separators and spacing are kept as sent.
function redactCookie(value: string): string {
  let out = '';
  let start = 0;
  for (;;) {
    const semi = value.indexOf(';', start);
    const end = semi < 0 ? value.length : semi;
    out += redactPair(value, start, end);
    if (semi < 0) break;
    out += ';';
    start = semi + 1;
  }
  return out === value ? value : out;
}

/**
 * One `name=value` from value[start, end): the name and the spaces around the value stay, the
 * value goes. Without `=` the whole pair is a value with no name (RFC 6265 §5.2 step 2 as
 * browsers apply it), so it all goes.
 */
function redactPair(value: string, start: number, end: number): string {
  const segment = value.slice(start, end);
  const eq = segment.indexOf('=');
  const head = eq < 0 ? '' : segment.slice(0, eq + 1);
  const tail = eq < 0 ? segment : segment.slice(eq + 1);
  const core = tail.trim();
  if (core === '') return segment;
  const at = tail.indexOf(core);
  return head + tail.slice(0, at) + marker(core) + tail.slice(at + core.length);
}

// A comma, then a `name=` that starts another cookie: where a server (or a rule change's `before`,
// which joins repeated lines with ", ") folded several Set-Cookie lines into one, although
// RFC 6265 §3 says not to. An Expires date's comma (`Wed, 21 Oct 2015`) is not followed by `name=`.
const NEXT_COOKIE = /,[ \t]*(?=[^;,=\s]+[ \t]*=)/g;

// RFC 6265 §4.1.1: set-cookie-string = cookie-pair *( ";" SP cookie-av ). The pair's value goes;
// its name and the attributes (Path, Domain, Expires, HttpOnly) stay. A folded line is split only
// after a cookie's first ";", never inside a value, so a comma in a value cannot expose the rest.
function redactSetCookie(value: string): string {
  let out = '';
  let start = 0;
  for (;;) {
    const semi = value.indexOf(';', start);
    const pairEnd = semi < 0 ? value.length : semi;
    out += redactPair(value, start, pairEnd);
    if (semi < 0) break;
    NEXT_COOKIE.lastIndex = semi;
    const next = NEXT_COOKIE.exec(value);
    const attributesEnd = next === null ? value.length : next.index + next[0].length;
    out += value.slice(semi, attributesEnd);
    if (next === null) break;
    start = attributesEnd;
  }
  return out === value ? value : out;
}
