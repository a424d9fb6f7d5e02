/**
 * Where `respond: { file: }` may read from (issue 21 finding 3). Rules are trusted configuration,
 * but a rule file taken from a bug report is not: `file: ../../etc/shadow` would serve that file to
 * every client and copy it into the journal. So a respond file must lie inside the folder of the
 * rule file that names it, after symlinks are resolved on both sides (a link in that folder to
 * /etc/shadow is outside too), unless `--rules-files-anywhere` says the rule files are the user's own.
 *
 * Checked at load time, so `./proxy rules check` and a (re)load report it at the `file:` value's
 * file:line:col, and a rule with a bad file never runs. Synchronous: two realpath calls per respond
 * file, once per load, never on the traffic path.
 */
import { realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';

export interface RespondFileOptions {
  /** `--rules-files-anywhere`: any readable file may be served. */
  anywhere?: boolean;
}

/** The file `written` names, relative to the rule file's folder. */
export function respondFilePath(ruleFile: string, written: string): string {
  return resolve(dirname(ruleFile), written);
}

/** Why `written` cannot be served for `ruleFile` (a message with the fix), or undefined when it can. */
export function respondFileProblem(ruleFile: string, written: string, options: RespondFileOptions = {}): string | undefined {
  const path = respondFilePath(ruleFile, written);
  let real: string;
  try {
    real = realpathSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return code === 'ENOENT'
      ? `respond file ${JSON.stringify(written)} does not exist (looked for ${path}); the path is relative to the rule file's folder`
      : `respond file ${JSON.stringify(written)} cannot be read (${code}); check the path and its permissions`;
  }
  if (!statSync(real).isFile()) return `respond file ${JSON.stringify(written)} is not a file (${real}); name a file`;
  if (options.anywhere === true) return undefined;
  let folder: string;
  try {
    folder = realpathSync(dirname(resolve(ruleFile)));
  } catch {
    folder = dirname(resolve(ruleFile));
  }
  const rel = relative(folder, real);
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    return (
      `respond file ${JSON.stringify(written)} is ${real}, outside the rule file's folder ${folder}; ` +
      'copy the file into that folder, or start the proxy with --rules-files-anywhere if you wrote these rules yourself'
    );
  }
  return undefined;
}
