/**
 * What the command line prints when a command fails: one line that says what is wrong and how to
 * fix it, never a stack trace, for every failure a user can cause (a bad option, a port in use, a
 * server that is not there). Part of the CLI layer. A failure not listed here is a bug in the
 * proxy, and is printed whole so that it can be reported.
 */
import { ProgramError } from '../errors.js';

/** One line for a failure a user can cause; undefined for a bug. */
export function describeFailure(err: unknown): string | undefined {
  if (err instanceof ProgramError) return `${err.message}${err.hint ? `; ${err.hint}` : ''}`;
  if (!(err instanceof Error)) return undefined;
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string };
  const where = e.address !== undefined ? `${e.address}${e.port !== undefined ? `:${e.port}` : ''}` : (e.hostname ?? 'the address');
  switch (e.code) {
    case 'EADDRINUSE':
      return `${where} is already in use by another program; choose another --listen HOST:PORT (port 0 picks a free one), or stop that program`;
    case 'EADDRNOTAVAIL':
      return `${where} is not an address of this machine; choose one it has with --listen (127.0.0.1:0 always works)`;
    case 'EACCES':
    case 'EPERM':
      return e.syscall === 'listen' || e.syscall === 'bind'
        ? `not allowed to listen on ${where}; ports below 1024 need privileges, choose a higher port with --listen`
        : `permission denied${e.path !== undefined ? ` for ${e.path}` : ''}; choose a path this user may use`;
    case 'ECONNREFUSED':
      return `nothing answers at ${where} (connection refused); start the server first, or check the host and port`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve the host name ${e.hostname ?? where}; check its spelling, or use an IP address`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `cannot reach ${where} (${e.code}); check the host and port, and that no firewall is in the way`;
    case 'ECONNRESET':
      return `${where} closed the connection (ECONNRESET); is it the server you meant, speaking plain HTTP?`;
    case 'ENOENT':
      return `${e.path ?? 'a file'} does not exist; check the path`;
    case 'EISDIR':
      return `${e.path ?? 'the path'} is a folder where a file was expected; name a file`;
    default:
      return undefined;
  }
}

/**
 * Rewords yargs's messages into the proxy's one-line form. `argv` is the command line as given,
 * to tell a mistyped command (`./proxy stat`) from an unknown option (`--bogus`).
 */
export function describeUsageError(message: string, argv: readonly string[]): string {
  const missing = /^Not enough arguments following: (.+)$/.exec(message);
  // yargs reads `--filter -status:2xx` as two options; the `=` form keeps a leading `-` a value.
  if (missing?.[1] === 'filter') return `--filter needs a value; a filter that starts with - is written --filter=-status:2xx`;
  if (missing) return `--${missing[1]} needs a value; run ./proxy ${commandOf(argv)}--help for what it takes`;
  const unknown = /^Unknown arguments?: (.*)$/.exec(message);
  if (unknown) {
    const names = unknown[1]!.split(', ');
    const commands = names.filter((n) => argv.includes(n));
    if (commands.length > 0) return `unknown command ${commands.join(', ')}; run ./proxy --help for the commands`;
    const flags = names.map((a) => (a.length > 1 ? `--${a}` : `-${a}`)).join(', ');
    return `unknown option ${flags}; run ./proxy ${commandOf(argv)}--help for the options`;
  }
  if (/^Not enough non-option arguments/.test(message)) return `./proxy ${commandOf(argv)}needs more arguments (${message.replace(/^Not enough non-option arguments: /, '')}); run ./proxy ${commandOf(argv)}--help for usage`;
  const suggestion = /^Did you mean (.+)\?$/.exec(message);
  if (suggestion) {
    const given = argv.find((a) => !a.startsWith('-'));
    return `unknown command${given !== undefined ? ` ${given}` : ''}; did you mean ${suggestion[1]}? Run ./proxy --help for the commands`;
  }
  // yargs spreads some messages over lines ("Invalid values:\n  Argument: …"): one line here.
  return `${message.replace(/:?\s*\n\s*/g, ': ')}; run ./proxy ${commandOf(argv)}--help for usage`;
}

/** `start ` or `simulate fpse ` of `start --target`: the command words, each followed by a space. */
function commandOf(argv: readonly string[]): string {
  const [first, second] = argv;
  if (first === undefined || first.startsWith('-')) return '';
  const hasSubcommands = first === 'simulate' || first === 'rules';
  return hasSubcommands && second !== undefined && !second.startsWith('-') ? `${first} ${second} ` : `${first} `;
}
