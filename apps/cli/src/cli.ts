import { type AnyModalityPlugin, isOmniError, InvalidArgumentError, type ModalityRegistry } from '@omnitok/core';
import { Command, CommanderError } from 'commander';
import { builtinPlugins } from './builtin-plugins.js';
import { type DiscoveredPlugins, discoverPlugins } from './discover-plugins.js';
import { demoCommand } from './commands/demo.js';
import { classifyCommand } from './commands/classify.js';
import { embedCommand } from './commands/embed.js';
import { evalCommand } from './commands/eval.js';
import { trainCommand } from './commands/train.js';
import { pluginsCommand } from './commands/plugins.js';
import { tokenizeCommand } from './commands/tokenize.js';
import { type CliIO, CommandExit, ExitCode, processIO } from './io.js';
import { VERSION } from './version.js';

export interface RunOptions {
  readonly io?: CliIO;
  /** Use these built-in plugins instead of the shipped ones (tests, embedding the CLI). */
  readonly builtins?: () => Promise<AnyModalityPlugin[]>;
  /** Scan node_modules and omnitok.config.json for plugins (default true). */
  readonly scan?: boolean;
}

/** Loads the plugins once per run, on first use; reports broken ones on stderr and goes on. */
export type PluginLoader = () => Promise<DiscoveredPlugins>;

/**
 * Runs `omnitok` with `argv` (the arguments after the program name) and resolves to the exit code.
 * Never throws and never calls `process.exit`; errors go to `io.stderr` without a stack trace unless
 * `--debug` (or OMNITOK_DEBUG=1) is set.
 */
export async function runCli(argv: readonly string[], options: RunOptions = {}): Promise<number> {
  const io = options.io ?? processIO;
  const debug = argv.includes('--debug') || process.env.OMNITOK_DEBUG === '1';
  let discovered: Promise<DiscoveredPlugins> | undefined;
  const plugins: PluginLoader = () =>
    (discovered ??= discoverPlugins({
      cwd: io.cwd,
      builtins: options.builtins ?? builtinPlugins,
      flagPlugins: (program.opts().plugin as string[] | undefined) ?? [],
      scan: options.scan,
    }).then((found) => {
      for (const b of found.broken) io.stderr(`omnitok: warning: plugin from ${b.origin.kind} ${b.origin.from} skipped: ${b.error}\n`);
      return found;
    }));
  const registry = (): Promise<ModalityRegistry> => plugins().then((found) => found.registry);

  const program = new Command('omnitok')
    .description('Turn any modality into transformer tokens; train cross-modal alignment (CLIP / SigLIP).')
    .version(VERSION, '-v, --version', 'print the version')
    .option('--debug', 'print stack traces on errors')
    .option('--plugin <path>', 'load a modality plugin module or package (repeatable)', (value: string, previous: string[] = []) => [...previous, value])
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout(s),
      writeErr: (s) => io.stderr(s),
      outputError: (s, write) => write(s.startsWith('error:') ? `omnitok: ${s}` : s),
    })
    .showHelpAfterError('(run omnitok --help for usage)');

  pluginsCommand(program, io, plugins);
  tokenizeCommand(program, io, registry);
  demoCommand(program, io, registry);
  trainCommand(program, io, registry);
  evalCommand(program, io, registry);
  embedCommand(program, io, registry);
  classifyCommand(program, io, registry);
  for (const command of program.commands) command.exitOverride().configureOutput(program.configureOutput());

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return ExitCode.Ok;
  } catch (error) {
    if (error instanceof CommandExit) return error.code;
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return ExitCode.Ok;
      return ExitCode.Usage;
    }
    if (isOmniError(error)) {
      io.stderr(`omnitok: error [${error.code}]: ${error.message}\n`);
      if (debug && error.stack) io.stderr(`${error.stack}\n`);
      const usage = error instanceof InvalidArgumentError && error.argument.startsWith('-');
      if (usage) io.stderr('(run omnitok --help for usage)\n');
      return usage ? ExitCode.Usage : ExitCode.Failed;
    }
    const err = error instanceof Error ? error : new Error(String(error));
    io.stderr(`omnitok: internal error: ${err.message}\n`);
    io.stderr(debug && err.stack ? `${err.stack}\n` : '(run with --debug for a stack trace, and please report it)\n');
    return ExitCode.Internal;
  }
}
