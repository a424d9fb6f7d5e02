/**
 * The control token: taken from the URL fragment the listening line prints
 * (`http://127.0.0.1:8089/#token=…`), kept in sessionStorage (this tab only, gone when it closes),
 * and removed from the address bar at once, so it is not bookmarked, shared in a screenshot or
 * left in the history. Fragments are never sent to a server (RFC 3986 §3.5).
 */
const KEY = 'version-proxy.token';

export function takeToken(): string | undefined {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (match !== null) {
    const token = decodeURIComponent(match[1]!);
    try {
      sessionStorage.setItem(KEY, token);
    } catch {
      // Storage off (private mode policies): the token lives in memory for this page only.
    }
    history.replaceState(null, '', location.pathname + location.search);
    return token;
  }
  try {
    return sessionStorage.getItem(KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

export function forgetToken(): void {
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // nothing kept
  }
}
