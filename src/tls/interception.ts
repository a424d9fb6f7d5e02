/**
 * Which CONNECTs are intercepted, and the leaves they are answered with (issue 5, items 1-3).
 * The CA is opened (or created) on first need, not at start: a proxy that never sees a CONNECT
 * to an intercepted host never touches the CA directory.
 */
import type { SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { compilePattern } from '../rules/matchers.js';
import { openCa } from './ca.js';
import { LeafCache } from './leaf-cache.js';

export interface InterceptionConfig {
  caDir: string;
  /** Host globs to intercept (`*`: every host). */
  intercept: string[];
  /** Host globs tunnelled untouched; they win over `intercept`. */
  noIntercept: string[];
}

export interface InterceptionPolicy {
  wants(hostname: string): boolean;
  context(name: string): Promise<SecureContext>;
}

export function createInterception(config: InterceptionConfig, logger: Logger): InterceptionPolicy {
  const intercept = config.intercept.map((glob) => compilePattern(glob).regex);
  const passthrough = config.noIntercept.map((glob) => compilePattern(glob).regex);
  let leaves: Promise<LeafCache> | undefined;
  return {
    wants: (hostname) => intercept.some((r) => r.test(hostname)) && !passthrough.some((r) => r.test(hostname)),
    context: (name) => {
      // A failed open is not cached: the next CONNECT tries again (and says why again).
      leaves ??= openCa(config.caDir, logger).then(
        (ca) => new LeafCache(ca),
        (err: unknown) => {
          leaves = undefined;
          throw err;
        },
      );
      return leaves.then((cache) => cache.context(name));
    },
  };
}
