/**
 * The discovery page `_vti_inf.html` (docs/protocols.md §2.1, MS-FPSE 3.1.3.2.1): an HTML comment
 * `<!-- FrontPage Configuration Information … -->` holding `Key="value"` pairs: the server's
 * FPVersion and the script URLs (relative to the web root) the client POSTs to.
 * Pure, never throws; at most VTI_INF_CAP bytes are read.
 */
import { quote } from '../core/quote.js';
import { parseVersion } from '../core/version.js';
import type { VersionResult } from '../core/version.js';

/** Real pages are a few KiB of explanation around the block. */
export const VTI_INF_CAP = 256 * 1024;

/** The script URL keys §2.1 lists, spelled as on the page. */
export const VTI_INF_SCRIPT_KEYS = ['FPShtmlScriptUrl', 'FPAuthorScriptUrl', 'FPAdminScriptUrl', 'TPScriptUrl'] as const;
export type VtiInfScriptKey = (typeof VTI_INF_SCRIPT_KEYS)[number];

export interface VtiInfFacts {
  /** `FPVersion` parsed; `15.00.0.000`-style padding is kept in `widths`. */
  fpVersion?: VersionResult;
  fpVersionText?: string;
  /** Script URLs by their real key names, e.g. FPAuthorScriptUrl: '_vti_bin/_vti_aut/author.dll'. */
  scripts: Partial<Record<VtiInfScriptKey, string>>;
  /** The page has the `<!-- FrontPage Configuration Information` comment: it is a discovery page. */
  configuration: boolean;
  /** Every `Key="value"` pair of the block, in page order, including keys not listed above. */
  pairs: Array<[string, string]>;
  problems: string[];
}

const BLOCK_TITLE = 'FrontPage Configuration Information';
const PAIR = /([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*"([^"\r\n]*)"/g;

export function parseVtiInf(html: Buffer | string): VtiInfFacts {
  const facts: VtiInfFacts = { scripts: {}, configuration: false, pairs: [], problems: [] };
  const bytes = typeof html === 'string' ? Buffer.from(html, 'utf8') : html;
  if (bytes.length > VTI_INF_CAP) facts.problems.push(`page larger than ${VTI_INF_CAP / 1024} KiB (${bytes.length} bytes) — read only the first ${VTI_INF_CAP / 1024} KiB`);
  const text = bytes.subarray(0, VTI_INF_CAP).toString('utf8');
  const block = configurationBlock(text, facts);
  for (const m of block.matchAll(PAIR)) facts.pairs.push([m[1]!, m[2]!]);
  const value = (key: string): string | undefined => {
    const found = facts.pairs.filter(([k]) => k === key);
    if (found.length > 1 && found.some(([, v]) => v !== found[0]![1])) facts.problems.push(`${key} appears ${found.length} times with different values; the first is used`);
    return found[0]?.[1];
  };
  const fpVersion = value('FPVersion');
  if (fpVersion === undefined) facts.problems.push('no FPVersion="…" (§2.1)');
  else {
    facts.fpVersionText = fpVersion;
    facts.fpVersion = parseVersion(fpVersion);
    if (!facts.fpVersion.ok) facts.problems.push(`FPVersion ${quote(fpVersion)} ${facts.fpVersion.problem}`);
  }
  for (const key of VTI_INF_SCRIPT_KEYS) {
    const url = value(key);
    if (url !== undefined) facts.scripts[key] = url;
  }
  // TPScriptUrl (owssvr) is absent on FP2000-era pages; the three FP script URLs are the protocol.
  const missing = VTI_INF_SCRIPT_KEYS.filter((k) => k !== 'TPScriptUrl' && facts.scripts[k] === undefined);
  if (missing.length > 0) facts.problems.push(`no ${missing.join(', ')} (§2.1)`);
  return facts;
}

/**
 * The text of the configuration comment. Without one, the whole page is searched (and that is
 * reported): a client would not find its settings there, but the facts still help a diagnosis.
 */
function configurationBlock(text: string, facts: VtiInfFacts): string {
  const problems = facts.problems;
  // The title may also appear in the page's visible <h1>; only the comment counts.
  const open = /<!--\s*FrontPage Configuration Information/.exec(text);
  if (open === null) {
    problems.push(`no <!-- ${BLOCK_TITLE} comment (§2.1); searched the whole page`);
    return text;
  }
  facts.configuration = true;
  const start = open.index + open[0].length;
  const close = text.indexOf('-->', start);
  if (close < 0) {
    problems.push(`the ${BLOCK_TITLE} comment is not closed (no -->)`);
    return text.slice(start);
  }
  return text.slice(start, close);
}
