/**
 * The recording commands of the command line (docs/running.md): har, report, replay,
 * serve, as cli.ts declares them. Part of the CLI layer: it prints and sets the exit code; the
 * work is in src/record/. Each loads its module only when run, so `./proxy start` pays for none.
 */
import { createWriteStream } from 'node:fs';
import { parseListen, parseTarget } from '../config.js';
import { formatFilterIssue, parseFilter, type Filter } from '../core/filter.js';
import { ProgramError } from '../errors.js';
import { createLogger } from '../log.js';
import type { JournalProblem } from '../record/journal-read.js';

/** Problems with journal lines go to stderr as `file:line: message`, the first 20 of them. */
function problemPrinter(): { onProblem: (p: JournalProblem) => void; summary: () => string } {
  let count = 0;
  return {
    onProblem: (p) => {
      count += 1;
      if (count <= 20) process.stderr.write(`${p.file}:${p.line}: ${p.message}\n`);
      else if (count === 21) process.stderr.write('(more skipped lines are counted, not printed)\n');
    },
    summary: () => (count === 0 ? '' : `, ${count} journal line${count === 1 ? '' : 's'} skipped`),
  };
}

/**
 * `--filter EXPR`, parsed before any file is opened. A bad one is one line (the CLI prints the
 * first issue, with its column, and counts the rest) and exit 2, like every bad option.
 */
function filterOption(text: string | undefined): Filter | undefined {
  if (text === undefined) return undefined;
  const parsed = parseFilter(text);
  if (parsed.ok) return parsed.filter;
  const [first, ...rest] = parsed.issues;
  const more = rest.length === 0 ? '' : ` (and ${rest.length} more issue${rest.length === 1 ? '' : 's'})`;
  throw new ProgramError('ERR_BAD_OPTION', `--filter ${JSON.stringify(text)}${more}: ${formatFilterIssue(first!)}`);
}

export async function har(args: { journals: string[]; output: string; protocol?: string[]; host?: string[]; verdict?: string[]; since?: string; filter?: string }): Promise<void> {
  const filter = filterOption(args.filter);
  const { writeHar, parseSince } = await import('../record/har-write.js');
  const { createProgressBar } = await import('../record/progress.js');
  const problems = problemPrinter();
  const toStdout = args.output === '-';
  // 0600 like the journal it comes from: a HAR holds the bodies (issue 21 finding 3).
  const out = toStdout ? process.stdout : createWriteStream(args.output, { mode: 0o600 });
  const opened = toStdout ? Promise.resolve() : new Promise<void>((resolve, reject) => out.once('open', () => resolve()).once('error', reject));
  await opened.catch((err: NodeJS.ErrnoException) => {
    throw new ProgramError('ERR_JOURNAL', `cannot write ${args.output} (${err.code ?? err.message})`, 'choose a writable path with -o, or -o - for stdout');
  });
  const bar = process.stderr.isTTY ? createProgressBar(process.stderr, 'har') : undefined;
  const result = await writeHar(args.journals, out, {
    filters: {
      ...(args.protocol !== undefined && { protocols: args.protocol }),
      ...(args.host !== undefined && { hosts: args.host }),
      ...(args.verdict !== undefined && { verdicts: args.verdict }),
      ...(args.since !== undefined && { since: parseSince(args.since) }),
      ...(filter !== undefined && { filter }),
    },
    onProblem: problems.onProblem,
    ...(bar !== undefined && { onProgress: (done: number, total: number) => bar.update(done, total) }),
  });
  if (!toStdout) await new Promise<void>((resolve, reject) => out.end(() => resolve()).once('error', reject));
  const summary = `${result.entries} entries written to ${toStdout ? 'stdout' : args.output}${result.filteredOut > 0 ? `, ${result.filteredOut} left out by the filters` : ''}${problems.summary()}`;
  if (bar !== undefined) bar.done(summary);
  else process.stderr.write(`${summary}\n`);
}

export async function report(args: { journals: string[]; html?: boolean; json?: boolean; output?: string; filter?: string }): Promise<void> {
  const filter = filterOption(args.filter);
  const { buildReport, formatHtml, formatMarkdown } = await import('../record/report.js').then(async (m) => ({ ...m, ...(await import('../record/report-html.js')), ...(await import('../record/report-markdown.js')) }));
  const problems = problemPrinter();
  const built = await buildReport(args.journals, { onProblem: problems.onProblem, ...(filter !== undefined && { filter }), diagrams: args.html === true && args.json !== true });
  const text = args.json === true ? `${JSON.stringify(built, null, 2)}\n` : args.html === true ? formatHtml(built) : formatMarkdown(built);
  if (args.output === undefined || args.output === '-') process.stdout.write(text);
  else {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(args.output, text).catch((err: NodeJS.ErrnoException) => {
      throw new ProgramError('ERR_JOURNAL', `cannot write ${args.output} (${err.code ?? err.message})`, 'choose a writable path with -o');
    });
    process.stderr.write(`report written to ${args.output}${problems.summary()}\n`);
  }
}

export async function replay(args: { journal: string; target: string; fast: boolean; 'log-level': string; 'upstream-ca'?: string[]; 'insecure-upstream'?: string[] }): Promise<void> {
  const { replayJournal } = await import('../record/replay.js');
  const { formatReplay } = await import('../record/replay-diff.js');
  const { loadUpstreamTls } = await import('../proxy/upstream-tls.js');
  const logger = createLogger({ level: 'warn', pretty: process.stderr.isTTY });
  const problems = problemPrinter();
  const target = parseTarget(args.target);
  const upstreamTls = await loadUpstreamTls({ caFiles: args['upstream-ca'] ?? [], ...(args['insecure-upstream'] !== undefined && { insecure: args['insecure-upstream'] }) });
  const result = await replayJournal([args.journal], { target, fast: args.fast, logger, upstreamTls, onProblem: problems.onProblem });
  process.stdout.write(formatReplay(result));
  logger.flush();
  // Like diff(1): 1 when the new answers differ from the recorded ones.
  process.exit(result.differences.length > 0 ? 1 : 0);
}

export async function serve(args: { journals: string[]; listen: string }): Promise<void> {
  const { startServe } = await import('../record/serve.js');
  const logger = createLogger({ level: 'info', pretty: process.stderr.isTTY });
  const server = await startServe(args.journals, parseListen(args.listen), logger);
  const stop = (): void => void server.close().then(() => logger.flush(() => process.exit(0)));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
