/**
 * The live rule set, hot-reloaded (docs/rules.md): a saved change takes effect within a
 * second, atomically, and a bad edit keeps the old set live.
 *
 * Atomic means one assignment: `current` is replaced whole, and callers read it once per
 * exchange, so an exchange in flight keeps the set it started with. The store is generic over the
 * compiled form (`compile` is injected) so it knows files and reloads, not matchers or actions.
 *
 * Change detection has two sources that trigger the same check:
 * - fs.watch on the folders that hold the rules (not on the files: editors save by writing a
 *   temp file and renaming it over the old one, which leaves a file watch on a dead inode, and
 *   new files appear in a folder), debounced because one save is several events;
 * - a stat poll every `pollMs`, because fs.watch misses events on network and container
 *   filesystems and can fail outright (inotify limits).
 * The check compares a fingerprint (inode, size, mtime and ctime of every rule file, and each
 * folder's list of rule files) with the one of the last load, so spurious events (an editor's
 * swap file) cost a few stats, and each distinct save is loaded, and its issues logged, once.
 * Worst case without fs.watch: two polls (see scheduleCheck) plus the load, about 0.6 s.
 */
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { dirname, extname, join } from 'node:path';
import type { Logger } from 'pino';
import { ProgramError } from '../errors.js';
import { formatIssue, loadRuleFiles, type LoadOptions, type LoadResult, type RuleDefinition, type RuleIssue } from './load.js';

export interface RuleStoreOptions<T> {
  /** Files or folders, as given to --rules. */
  paths: string[];
  /** Turns valid definitions into the trusted form; `previous` lets it carry state (times counters). May throw only on bugs. */
  compile(defs: RuleDefinition[], previous: T | undefined): T;
  logger: Logger;
  /** Passed to loadRuleFiles (where `respond` files may be read from). */
  load?: LoadOptions;
  /** Poll interval as a fallback to fs.watch (ms); default 250. */
  pollMs?: number;
}

export type ReloadResult = { ok: true; count: number } | { ok: false; issues: RuleIssue[] };

/** Quiet time after the last fs.watch event before checking: one save is several events. */
const DEBOUNCE_MS = 100;
const DEFAULT_POLL_MS = 250;
/** What loadRuleFiles reads from a folder; other names (editor swap and backup files) are not rules. */
const RULE_EXTENSIONS = ['.yaml', '.yml', '.json'];

export class RuleStore<T> extends EventEmitter<{ reloaded: [T, LoadResult]; rejected: [RuleIssue[]] }> {
  private live: T;
  private liveFiles: readonly string[];
  /** Fingerprint of the files as they were when last loaded, whether the load was kept or rejected. */
  private seen: string;
  /** The fingerprint the last check saw, loaded or not. */
  private candidate: string | undefined;
  /** Loads run one at a time, in order, on this chain. */
  private queue: Promise<unknown> = Promise.resolve();
  /** A check is queued and has not started: a further change needs no second one. */
  private checkQueued = false;
  private closed = false;
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly folders: string[];
  private readonly poller: NodeJS.Timeout;
  private debounce: NodeJS.Timeout | undefined;
  private readonly log: Logger;

  private constructor(
    private readonly options: RuleStoreOptions<T>,
    initial: T,
    result: LoadResult,
    fingerprint: string,
    folders: string[],
  ) {
    super();
    this.live = initial;
    this.liveFiles = result.files;
    this.seen = fingerprint;
    this.folders = folders;
    this.log = options.logger;
    this.watchFolders();
    // The poll also retries watches that failed or died (a folder removed and made again).
    this.poller = setInterval(() => {
      this.watchFolders();
      this.scheduleCheck('poll');
    }, options.pollMs ?? DEFAULT_POLL_MS);
    // Watching alone must not keep the process alive; the proxy's sockets do that.
    this.poller.unref();
  }

  /** Loads the initial set; throws ERR_BAD_RULES with every issue, one per line, when there are any. */
  static async open<T>(options: RuleStoreOptions<T>): Promise<RuleStore<T>> {
    const print = await fingerprint(options.paths);
    const result = await readRules(options.paths, options.load);
    if (result.issues.length === 1) {
      // One issue is one line: its file:line:col, what is wrong and its own fix.
      throw new ProgramError('ERR_BAD_RULES', formatIssue(result.issues[0]!), 'check every rule file with ./proxy rules check PATH...');
    }
    if (result.issues.length > 0) {
      // Issues first and the summary last, so the CLI's `message; hint` line reads as one sentence.
      const count = result.issues.length === 1 ? '1 issue' : `${result.issues.length} issues`;
      throw new ProgramError(
        'ERR_BAD_RULES',
        `${result.issues.map(formatIssue).join('\n')}\n${count} in the rule files`,
        'fix each at its file:line:col (./proxy rules check PATH... checks them without starting the proxy)',
      );
    }
    const compiled = options.compile(result.rules, undefined);
    const folders = await watchedFolders(options.paths, result.files);
    options.logger.info({ rules: result.rules.length, files: result.files }, 'rules loaded');
    return new RuleStore(options, compiled, result, print, folders);
  }

  /** The compiled set; read it once per exchange and keep that reference for the whole exchange. */
  get current(): T {
    return this.live;
  }

  /** Files the current set came from. */
  get files(): readonly string[] {
    return this.liveFiles;
  }

  /** Reload now (SIGHUP), whether or not anything changed; waits for a load already running. */
  reload(reason = 'requested'): Promise<ReloadResult> {
    return this.enqueue(async () => this.load(reason, await fingerprint(this.options.paths)));
  }

  /** Stops watchers and timers; idempotent. A load running now, or asked for later, is reported but not applied. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.poller);
    clearTimeout(this.debounce);
    this.debounce = undefined;
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }

  private watchFolders(): void {
    for (const folder of this.folders) {
      if (this.closed || this.watchers.has(folder)) continue;
      try {
        // persistent: false is fs.watch's unref: it never keeps the process alive by itself.
        const watcher = watch(folder, { persistent: false }, () => this.onWatchEvent());
        watcher.on('error', (error) => {
          this.log.debug({ folder, err: error }, 'rule folder watch failed; polling');
          watcher.close();
          if (this.watchers.get(folder) === watcher) this.watchers.delete(folder);
        });
        this.watchers.set(folder, watcher);
      } catch (error) {
        // Missing folder or no inotify watches left: the poll still sees changes, and retries.
        this.log.debug({ folder, err: error }, 'cannot watch rule folder; polling');
      }
    }
  }

  private onWatchEvent(): void {
    if (this.closed) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.scheduleCheck('watch');
    }, DEBOUNCE_MS);
    this.debounce.unref();
  }

  /**
   * Queues one check unless one is already waiting; a check running now does not count, so a
   * change during a load gets one more. A change seen by the poll is loaded once two polls in a
   * row see the same fingerprint: a poll can land between an in-place save's truncate and its
   * write, and a half-written file would be reported as broken. A watch event has already waited
   * out DEBOUNCE_MS of quiet.
   */
  private scheduleCheck(source: 'watch' | 'poll'): void {
    if (this.closed || this.checkQueued) return;
    this.checkQueued = true;
    this.enqueue(async () => {
      this.checkQueued = false;
      if (this.closed) return;
      const print = await fingerprint(this.options.paths);
      const settled = source === 'watch' || print === this.candidate;
      this.candidate = print;
      if (print === this.seen || !settled) return;
      await this.load('changed', print);
    }).catch((error: unknown) => {
      // Only a bug gets here: compile threw (the old set stays live) or a listener did.
      this.log.error({ err: error }, 'rule reload failed');
    });
  }

  private enqueue<R>(task: () => Promise<R>): Promise<R> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Loads and, when valid, swaps. `print` is taken before reading, so a save that lands during
   * the read changes the fingerprint again and is loaded by the next check.
   */
  private async load(reason: string, print: string): Promise<ReloadResult> {
    const result = await readRules(this.options.paths, this.options.load);
    const closed = this.closed;
    this.seen = print;
    if (result.issues.length > 0) {
      if (!closed) {
        // The previous set stays live; `files` says which files it came from.
        for (const issue of result.issues) this.log.warn({ issue: formatIssue(issue), reason, files: this.liveFiles }, 'rule file rejected');
        this.emit('rejected', result.issues);
      }
      return { ok: false, issues: result.issues };
    }
    if (!closed) {
      this.live = this.options.compile(result.rules, this.live);
      this.liveFiles = result.files;
      this.log.info({ rules: result.rules.length, files: result.files, reason }, 'rules reloaded');
      this.emit('reloaded', this.live, result);
    }
    return { ok: true, count: result.rules.length };
  }
}

/** loadRuleFiles, with a folder that cannot be listed turned into an issue instead of a throw. */
async function readRules(paths: string[], options?: LoadOptions): Promise<LoadResult> {
  try {
    return await loadRuleFiles(paths, options);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    const path = (error as NodeJS.ErrnoException).path ?? paths.join(' ');
    return { rules: [], files: [], issues: [{ file: path, line: 1, col: 1, message: `cannot be read (${code}); check its permissions` }] };
  }
}

/**
 * Folders to watch: each folder given, and the folder of each file given or loaded (its parent,
 * not the file itself, so a rename-over save is seen).
 */
async function watchedFolders(paths: string[], files: readonly string[]): Promise<string[]> {
  const folders = new Set<string>();
  for (const path of paths) {
    const found = await stat(path).catch(() => undefined);
    folders.add(found?.isDirectory() === true ? path : dirname(path));
  }
  for (const file of files) folders.add(dirname(file));
  return [...folders];
}

/**
 * What the rule files look like on disk now, as loadRuleFiles would see them: each path's stat,
 * and for a folder its rule files by name and each one's stat (one level, as loadRuleFiles reads
 * it). Inode catches a rename-over save of the same size within one mtime tick; ctime catches a
 * restored mtime.
 */
async function fingerprint(paths: string[]): Promise<string> {
  const parts: string[] = [];
  for (const path of paths) {
    const found = await statOf(path);
    parts.push(found.line);
    if (!found.folder) continue;
    const names = await readdir(path).catch(() => []);
    const rules = names.filter((name) => RULE_EXTENSIONS.includes(extname(name).toLowerCase())).sort();
    parts.push(`${path}/ ${rules.join('/')}`);
    for (const name of rules) parts.push((await statOf(join(path, name))).line);
  }
  return parts.join('\n');
}

async function statOf(path: string): Promise<{ line: string; folder: boolean }> {
  const found = await stat(path, { bigint: true }).catch((error: unknown) => error as NodeJS.ErrnoException);
  if (found instanceof Error) return { line: `${path} ${found.code ?? 'error'}`, folder: false };
  // A folder's own times change with every swap or backup file an editor makes in it; its list of
  // rule files, in the fingerprint next to this line, is what matters.
  if (found.isDirectory()) return { line: `${path} folder`, folder: true };
  return { line: `${path} ${found.ino} ${found.size} ${found.mtimeNs} ${found.ctimeNs}`, folder: false };
}
