/**
 * The cookie jar of `./proxy replay` (replay.ts): recorded session cookies are redacted in the
 * journal, and a fresh server would not know them anyway, so the cookies the target sets during
 * the replay are sent in place of the recorded values, as a client's jar would (RFC 6265 §5.3
 * storage, §5.4 the Cookie header). One host only: every request goes to the one target.
 */

/** How a redaction marker starts (redact-values.ts `marker()`: `<redacted 12 bytes>`). */
export const REDACTED = '<redacted ';

/**
 * The cookies the target set during the replay (RFC 6265 §5.3, simplified: one host, path
 * scoping, expiry by a past Expires or Max-Age=0). Recorded Cookie headers keep their names and
 * order; a value comes from here when the target set that name, else the recorded value is sent,
 * unless the journal holds it redacted.
 */
export class CookieJar {
  private readonly cookies = new Map<string, { name: string; value: string; path: string }>();
  /** A recorded value was replaced by one the target set. */
  replaced = false;

  store(requestPath: string, setCookies: readonly string[]): void {
    for (const line of setCookies) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = defaultPath(requestPath);
      let expired = false;
      for (const attribute of attributes) {
        const [key = '', ...rest] = attribute.split('=');
        const attributeValue = rest.join('=').trim();
        const lower = key.trim().toLowerCase();
        if (lower === 'path' && attributeValue.startsWith('/')) path = attributeValue;
        else if (lower === 'max-age' && Number(attributeValue) <= 0) expired = true;
        else if (lower === 'expires' && Date.parse(attributeValue) < Date.now()) expired = true;
      }
      if (expired) this.cookies.delete(`${name}\n${path}`);
      else this.cookies.set(`${name}\n${path}`, { name, value, path });
    }
  }

  /** The Cookie header for a request that was recorded with `recorded` Cookie lines; undefined when nothing is left. */
  cookieFor(requestPath: string, recorded: readonly string[], withheld: Set<string>): string | undefined {
    const pairs: string[] = [];
    for (const part of recorded.flatMap((line) => line.split(';'))) {
      const eq = part.indexOf('=');
      const name = eq < 0 ? '' : part.slice(0, eq).trim();
      const fresh = name === '' ? undefined : this.valueFor(name, requestPath);
      if (fresh !== undefined) {
        pairs.push(`${name}=${fresh}`);
        this.replaced = true;
      } else if (part.includes(REDACTED)) withheld.add('Cookie');
      else if (part.trim() !== '') pairs.push(part.trim());
    }
    return pairs.length === 0 ? undefined : pairs.join('; ');
  }

  /** RFC 6265 §5.4: of the cookies whose path matches, the one with the longest path. */
  private valueFor(name: string, requestPath: string): string | undefined {
    let best: { value: string; path: string } | undefined;
    for (const c of this.cookies.values()) {
      if (c.name === name && pathMatches(requestPath, c.path) && (best === undefined || c.path.length > best.path.length)) best = c;
    }
    return best?.value;
  }
}

/** RFC 6265 §5.1.4: the default-path of a cookie set without a Path attribute. */
function defaultPath(requestPath: string): string {
  const path = requestPath.split('?')[0]!;
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}

/** RFC 6265 §5.1.4: path-match. */
function pathMatches(requestPath: string, cookiePath: string): boolean {
  const path = requestPath.split('?')[0]!;
  return path === cookiePath || (path.startsWith(cookiePath) && (cookiePath.endsWith('/') || path[cookiePath.length] === '/'));
}
