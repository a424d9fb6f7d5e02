/**
 * The recording commands of the command line (DESIGN.md "Command line"): har, report, replay,
 * serve. Like cli.ts, this is where argv is read and output printed; the work is in src/record/.
 * Each command loads its module only when run, so `./proxy start` pays for none of them.
 */
import { createWriteStream } from 'node:fs';
import type { Argv } from 'yargs';
import { parseListen, parseTarget } from './config.js';
import { ProgramError } from './errors.js';
import { createLogger } from './log.js';
import type { JournalProblem } from './record/journal-read.js';

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

function journalsOption<T>(y: Argv<T>) {
  return y.positional('journals', { type: 'string', array: true, demandOption: true, describe: 'journal files (.ndjson) or folders of them, e.g. recordings/' });
}

async function har(args: { journals: string[]; output: string; protocol?: string[]; host?: string[]; verdict?: string[]; since?: string }): Promise<void> {
  const { writeHar, parseSince } = await import('./record/har-write.js');
  const { createProgressBar } = await import('./record/progress.js');
  const problems = problemPrinter();
  const toStdout = args.output === '-';
  const out = toStdout ? process.stdout : createWriteStream(args.output);
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
    },
    onProblem: problems.onProblem,
    ...(bar !== undefined && { onProgress: (done: number, total: number) => bar.update(done, total) }),
  });
  if (!toStdout) await new Promise<void>((resolve, reject) => out.end(() => resolve()).once('error', reject));
  const summary = `${result.entries} entries written to ${toStdout ? 'stdout' : args.output}${result.filteredOut > 0 ? `, ${result.filteredOut} left out by the filters` : ''}${problems.summary()}`;
  if (bar !== undefined) bar.done(summary);
  else process.stderr.write(`${summary}\n`);
}

async function report(args: { journals: string[]; html?: boolean; json?: boolean; output?: string }): Promise<void> {
  const { buildReport, formatHtml, formatMarkdown } = await import('./record/report.js').then(async (m) => ({ ...m, ...(await import('./record/report-html.js')), ...(await import('./record/report-markdown.js')) }));
  const problems = problemPrinter();
  const built = await buildReport(args.journals, { onProblem: problems.onProblem });
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

async function replay(args: { journal: string; target: string; fast: boolean; 'log-level': string }): Promise<void> {
  const { replayJournal } = await import('./record/replay.js');
  const { formatReplay } = await import('./record/replay-diff.js');
  const logger = createLogger({ level: 'warn', pretty: process.stderr.isTTY });
  const problems = problemPrinter();
  const result = await replayJournal([args.journal], { target: parseTarget(args.target), fast: args.fast, logger, onProblem: problems.onProblem });
  process.stdout.write(formatReplay(result));
  logger.flush();
  // Like diff(1): 1 when the new answers differ from the recorded ones.
  process.exit(result.differences.length > 0 ? 1 : 0);
}

async function serve(args: { journals: string[]; listen: string }): Promise<void> {
  const { startServe } = await import('./record/serve.js');
  const logger = createLogger({ level: 'info', pretty: process.stderr.isTTY });
  const server = await startServe(args.journals, parseListen(args.listen), logger);
  const stop = (): void => void server.close().then(() => logger.flush(() => process.exit(0)));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

export function recordCommands<T>(y: Argv<T>, fail: (err: unknown) => never) {
  return y
    .command(
      'har <journals..>',
      'convert journals to one HAR 1.2 file (Chrome DevTools, Fiddler, HAR viewers), in constant memory',
      (c) =>
        journalsOption(c)
          .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'the .har file to write (- for stdout)', requiresArg: true })
          .option('protocol', { type: 'string', array: true, choices: ['mapihttp', 'fpse', 'http'], describe: 'only these protocols (http: exchanges no observer claimed)', requiresArg: true })
          .option('host', { type: 'string', array: true, describe: 'only hosts matching these globs, e.g. *.contoso.lab', requiresArg: true })
          .option('verdict', { type: 'string', array: true, describe: 'only exchanges with one of these verdicts, e.g. rejected-client-too-old', requiresArg: true })
          .option('since', { type: 'string', describe: 'only exchanges started since an ISO time, or a duration back from now (30s, 10m, 2h, 1d)', requiresArg: true }),
      (args) => har(args).catch(fail),
    )
    .command(
      'report <journals..>',
      'the negotiation report for a bug report: per host and conversation, builds, negotiated version, verdicts, rules, errors',
      (c) =>
        journalsOption(c)
          .option('html', { type: 'boolean', describe: 'one self-contained HTML file instead of markdown' })
          .option('json', { type: 'boolean', describe: 'the report as JSON' })
          .option('output', { alias: 'o', type: 'string', describe: 'write to this file instead of stdout', requiresArg: true })
          .conflicts('html', 'json'),
      (args) => report(args).catch(fail),
    )
    .command(
      'replay <journal>',
      're-send the recorded requests to a server and print where its answers (versions, verdicts, status) differ; exit 1 when they do',
      (c) =>
        c
          .positional('journal', { type: 'string', demandOption: true, describe: 'the journal (.ndjson, or a folder)' })
          .option('target', { type: 'string', demandOption: true, describe: 'the server to send them to, e.g. http://127.0.0.1:8081', requiresArg: true })
          .option('fast', { type: 'boolean', default: false, describe: 'back to back instead of the recorded pacing' })
          .option('log-level', { type: 'string', default: 'warn', hidden: true }),
      (args) => replay(args).catch(fail),
    )
    .command(
      'serve <journals..>',
      'answer requests from a recording, so a bug report can be reproduced without the original server',
      (c) => journalsOption(c).option('listen', { type: 'string', default: '127.0.0.1:8081', describe: 'HOST:PORT to listen on (port 0 picks a free one; the log says which)', requiresArg: true }),
      (args) => serve(args).catch(fail),
    );
}
