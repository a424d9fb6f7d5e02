/**
 * The harness's side of the `forward-control` row's live feed subscriber (feed-subscriber.ts, a
 * process of its own): start it against the proxy's control server, wait until it has subscribed
 * (or was refused), and after the load stop it and read what it counted.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { COUNTS, REFUSED, SUBSCRIBED, type FeedCounts } from './feed-subscriber.js';
import { isRunning, startService, stopService, type Service } from './proc.js';

const SUBSCRIBE_TIMEOUT_MS = 15_000;
/** The subscriber reads what is still on the wire for up to 3 s before it prints its counts. */
const STOP_TIMEOUT_MS = 8_000;

export interface Subscriber {
  service: Service;
  /** Stops it (SIGTERM: it drains, prints its counts, exits) and returns the counts. */
  counts(): Promise<FeedCounts>;
  /** Stops it if still running (after counts(), or when the subject failed to start). */
  stop(): Promise<void>;
}

/** JSON lines of the subscriber's log with this `msg`. */
function lines(file: string, msg: string): Array<Record<string, unknown>> {
  const found: Array<Record<string, unknown>> = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.includes(`"msg":"${msg}"`)) continue;
    try {
      found.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // A line still being written.
    }
  }
  return found;
}

/**
 * `node dist/bench/feed-subscriber.js <control URL> <token file>`, output in .bench/NAME.log;
 * resolves once it says `subscribed`, rejects with the proxy's answer when the upgrade is refused
 * (e.g. 404 from a proxy without the live feed) or it does not subscribe in time.
 */
export async function startSubscriber(root: string, workDir: string, name: string, controlUrl: string, tokenFile: string): Promise<Subscriber> {
  const script = path.join(root, 'dist', 'bench', 'feed-subscriber.js');
  const service = startService(name, process.execPath, [script, controlUrl, tokenFile], path.join(workDir, `${name}.log`));
  const deadline = Date.now() + SUBSCRIBE_TIMEOUT_MS;
  try {
    for (;;) {
      if (lines(service.logFile, SUBSCRIBED).length > 0) break;
      const refused = lines(service.logFile, REFUSED)[0];
      if (refused !== undefined) throw new Error(`GET /api/events was answered ${String(refused.status)} instead of a WebSocket: ${String(refused.body).slice(0, 200)}`);
      if (!isRunning(service)) throw new Error(`the feed subscriber exited before subscribing: ${fs.readFileSync(service.logFile, 'utf8').trim().slice(-300) || 'no output'}`);
      if (Date.now() > deadline) throw new Error(`the feed subscriber did not subscribe within ${SUBSCRIBE_TIMEOUT_MS / 1000} s`);
      await sleep(50);
    }
  } catch (err) {
    await stopService(service, 2000);
    throw err;
  }
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (isRunning(service)) await stopService(service, STOP_TIMEOUT_MS);
  };
  return {
    service,
    counts: async () => {
      const alive = isRunning(service);
      await stop();
      const counted = lines(service.logFile, COUNTS)[0];
      if (counted === undefined) throw new Error(`the feed subscriber printed no counts (${alive ? 'it did not stop in time' : 'it had exited during the load'}); see ${service.logFile}`);
      const { msg: _msg, ...counts } = counted;
      return counts as unknown as FeedCounts;
    },
    stop,
  };
}
