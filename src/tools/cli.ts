// The command line: `vlan-bridge --help`, `--version`, and the operator commands (`doctor`, `discover`), each with
// `--help`. A command's code (and what it imports, node:dgram among them) loads only when that command runs, and
// none of this loads for a CNI call: nothing the plugin imports may import from src/tools. Messages share one form:
// `vlan-bridge[ <command>]: <what is wrong>`, then, for a usage error (exit 2), where the help is.
import { PLUGIN_VERSION } from '../version.js';
import { quoteArg, suggestion } from './args.js';
import { COMMANDS, FIRST_WORDS, commandHelp, mainHelp, tryHelp } from './commands.js';
import { Exit } from './errors.js';

/** Runs the command line `args` (argv without the executable); returns the exit code. */
export async function runTool(args: string[]): Promise<number> {
  const [first = '', ...rest] = args;
  const print = (s: string): number => {
    process.stdout.write(s);
    return Exit.Ok;
  };
  if (first === '--help' || first === '-h' || first === 'help') {
    const topic = first === 'help' ? rest[0] : undefined;
    if (topic === undefined) return print(mainHelp(PLUGIN_VERSION));
    const c = COMMANDS.find((x) => x.name === topic);
    if (c) return print(commandHelp(c));
    return usageError(
      undefined,
      `no help for ${JSON.stringify(topic)}`,
      COMMANDS.map((x) => x.name),
      topic,
    );
  }
  if (first === '--version' || first === 'version') {
    return print(`vlan-bridge ${PLUGIN_VERSION} (bun ${process.versions.bun ?? 'unknown'})\n`);
  }
  const command = COMMANDS.find((c) => c.name === first);
  if (!command) {
    const what = first.startsWith('-') ? 'option' : 'command';
    return usageError(undefined, `unknown ${what} ${quoteArg(first)}`, FIRST_WORDS, first);
  }
  if (rest.includes('--help') || rest.includes('-h')) return print(commandHelp(command));
  if (command.name === 'doctor') return (await import('./doctor.js')).runDoctor(rest);
  return (await import('./discover.js')).runDiscover(rest);
}

/** Prints a usage error in the common form, with the nearest of `candidates` to `input` when one is close. */
function usageError(command: string | undefined, msg: string, candidates: readonly string[], input: string): number {
  const hint = suggestion(input, candidates, (s) => JSON.stringify(s));
  process.stderr.write(`vlan-bridge${command ? ` ${command}` : ''}: ${msg}${hint}\n${tryHelp(command)}`);
  return Exit.Usage;
}
