/**
 * What the protocol observer decoded: the MAPI/HTTP response's inner stream as a sequence
 * (MS-OXCMAPIHTTP 2.2.7: PROCESSING, PENDING keep-alives, DONE, then the additional headers) and
 * the FPSE response packet (MS-FPSE 2.2.4: method line, server version, status). Anything else
 * the observer kept is shown as it is.
 */
interface StreamFacts {
  processing: number;
  pending: number;
  done: boolean;
  additionalHeaders: Array<[string, string]>;
  elapsedTime?: number;
  startTime?: string;
  bodyBytes: number;
  totalBytes: number;
  complete: boolean;
  phase: string;
  problems: string[];
}

/** core/version.ts VersionResult, as JSON. */
type VersionResult = { ok: true; version: { text: string } } | { ok: false; text: string; problem: string };

const versionText = (v: VersionResult | undefined): string => (v === undefined ? '' : v.ok ? v.version.text : `${v.text} (${v.problem})`);

interface PacketFacts {
  method?: string;
  methodVersion?: VersionResult;
  serverVersion?: { major?: number; minor?: number; phase?: number; incr?: number; version?: VersionResult };
  sourceControl?: string;
  status?: { status: number; hex: string; name?: string; meaning?: string; osstatus?: number };
  isError: boolean;
  bytes: number;
  problems: string[];
}

/** Pending keep-alives shown one by one up to this many, then counted. */
const PENDING_SHOWN = 30;

function MapiStream({ s, wait }: { s: StreamFacts; wait: string }) {
  const steps: string[] = [];
  for (let i = 0; i < s.processing; i++) steps.push('PROCESSING');
  for (let i = 0; i < Math.min(s.pending, PENDING_SHOWN); i++) steps.push('PENDING');
  return (
    <div>
      <h4>MAPI/HTTP response stream (MS-OXCMAPIHTTP 2.2.7){wait}</h4>
      <ol class="timeline" aria-label="Response stream, in order">
        {steps.map((step, i) => (
          <li key={i}>{step}</li>
        ))}
        {s.pending > PENDING_SHOWN && <li>… {s.pending - PENDING_SHOWN} more PENDING</li>}
        {s.done ? <li class="done">DONE</li> : <li class="truncated">no DONE ({s.phase})</li>}
        {s.additionalHeaders.map(([n, v], i) => (
          <li key={`h${i}`} class="mono">
            {n}: {v}
          </li>
        ))}
        {s.complete && <li>body {s.bodyBytes} B</li>}
      </ol>
      {s.problems.length > 0 && <Problems list={s.problems} />}
    </div>
  );
}

function FpsePacket({ p }: { p: PacketFacts }) {
  const version = versionText(p.methodVersion);
  const sv = p.serverVersion;
  return (
    <div>
      <h4>FPSE response packet (MS-FPSE 2.2.4){p.isError && ' — an error packet (MS-FPSE 2.5)'}</h4>
      <dl class="facts">
        {p.method !== undefined && (
          <>
            <dt>method</dt>
            <dd class="mono">
              {p.method}
              {version !== '' && `:${version}`}
            </dd>
          </>
        )}
        {p.serverVersion !== undefined && (
          <>
            <dt>server version</dt>
            <dd class="mono">{sv?.version !== undefined ? versionText(sv.version) : [sv?.major, sv?.minor, sv?.phase, sv?.incr].map((n) => n ?? '?').join('.')}</dd>
          </>
        )}
        {p.sourceControl !== undefined && (
          <>
            <dt>source control</dt>
            <dd>{p.sourceControl}</dd>
          </>
        )}
        {p.status !== undefined && (
          <>
            <dt>status</dt>
            <dd class="mono">
              {p.status.status} ({p.status.hex}){p.status.name !== undefined && ` ${p.status.name}`}
              {p.status.meaning !== undefined && `: ${p.status.meaning}`}
            </dd>
          </>
        )}
        <dt>bytes</dt>
        <dd>{p.bytes}</dd>
      </dl>
      {p.problems.length > 0 && <Problems list={p.problems} />}
    </div>
  );
}

function Problems({ list }: { list: string[] }) {
  return (
    <ul class="problems">
      {list.map((p) => (
        <li key={p}>{p}</li>
      ))}
    </ul>
  );
}

export function ProtocolFacts({ facts, wait }: { facts: Record<string, unknown>; wait: string }) {
  const stream = facts.stream as StreamFacts | undefined;
  const packet = facts.packet as PacketFacts | undefined;
  return (
    <>
      {stream !== undefined && <MapiStream s={stream} wait={wait} />}
      {packet !== undefined && <FpsePacket p={packet} />}
      <details>
        <summary>Everything the observer decoded</summary>
        <pre class="body">{JSON.stringify(facts, null, 2)}</pre>
      </details>
    </>
  );
}
