/**
 * Message heads as the wire had them (raw header list: order, case and repeats kept), and two
 * views of one message side by side — what the client sent against what the upstream received,
 * what the upstream sent against what the client got — with every difference marked by colour
 * and by a sign (+ added, − removed, ~ changed), not colour alone.
 */
import type { RawHeaders } from './types.js';

type Mark = 'same' | 'added' | 'removed' | 'changed';
interface Line {
  name: string;
  value: string;
  mark: Mark;
}

const SIGN: Record<Mark, string> = { same: '', added: '+', removed: '−', changed: '~' };
const SAID: Record<Mark, string> = { same: 'unchanged', added: 'added', removed: 'removed', changed: 'changed' };

function pairs(raw: RawHeaders): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

/** Marks each line of `mine` against `theirs`: identical pairs (name case included) are 'same'. */
function mark(mine: RawHeaders, theirs: RawHeaders | undefined, missing: 'added' | 'removed'): Line[] {
  const lines = pairs(mine);
  if (theirs === undefined) return lines.map(([name, value]) => ({ name, value, mark: 'same' }));
  const left = new Map<string, number>();
  const names = new Set<string>();
  for (const [name, value] of pairs(theirs)) {
    const key = `${name}\n${value}`;
    left.set(key, (left.get(key) ?? 0) + 1);
    names.add(name.toLowerCase());
  }
  return lines.map(([name, value]) => {
    const key = `${name}\n${value}`;
    const n = left.get(key) ?? 0;
    if (n > 0) {
      left.set(key, n - 1);
      return { name, value, mark: 'same' as const };
    }
    return { name, value, mark: names.has(name.toLowerCase()) ? ('changed' as const) : missing };
  });
}

export function HeadTable({ raw, other, missing, label }: { raw: RawHeaders; other?: RawHeaders; missing: 'added' | 'removed'; label: string }) {
  const lines = mark(raw, other, missing);
  return (
    <table class="heads" aria-label={label}>
      <tbody>
        {lines.map((l, i) => (
          <tr key={i} class={l.mark} title={l.mark === 'same' ? undefined : `${SAID[l.mark]} on the way through the proxy`}>
            <td class="mark" aria-label={SAID[l.mark]}>
              {SIGN[l.mark]}
            </td>
            <td>{l.name}:</td>
            <td>{l.value}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export interface HeadView {
  title: string;
  startLine: string;
  raw: RawHeaders;
}

/** Two views of one message; `after` undefined when the proxy passed it unchanged. */
export function HeadPair({ before, after, unchanged }: { before: HeadView; after?: HeadView; unchanged: string }) {
  if (after === undefined) {
    return (
      <div>
        <h4>
          {before.title} <span class="muted">({unchanged})</span>
        </h4>
        <div class="startline mono">{before.startLine}</div>
        <HeadTable raw={before.raw} missing="removed" label={before.title} />
      </div>
    );
  }
  return (
    <div class="pair">
      <div>
        <h4>{before.title}</h4>
        <div class="startline mono">{before.startLine}</div>
        <HeadTable raw={before.raw} other={after.raw} missing="removed" label={before.title} />
      </div>
      <div>
        <h4>{after.title}</h4>
        <div class={`startline mono${after.startLine === before.startLine ? '' : ' changed'}`}>{after.startLine}</div>
        <HeadTable raw={after.raw} other={before.raw} missing="added" label={after.title} />
      </div>
    </div>
  );
}
