/** Where the CLI writes; injectable so tests run commands in-process. */
export interface CliIO {
  stdout(text: string): void;
  stderr(text: string): void;
  /** The working directory relative paths resolve against. */
  cwd: string;
}

export const processIO: CliIO = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  cwd: process.cwd(),
};

/** Exit codes of the `omnitok` command. */
export const ExitCode = {
  Ok: 0,
  /** The command ran and failed on its input (an OmniError: bad file, bad preset, …). */
  Failed: 1,
  /** The command line itself was wrong (unknown option, missing argument, bad option value). */
  Usage: 2,
  /** A bug: an unexpected exception. */
  Internal: 70,
  /** Stopped by SIGINT (Ctrl-C) after saving what had to be saved, as shells report it. */
  Interrupted: 130,
} as const;

/**
 * Thrown by a command that finished its work but must end with a non-zero exit code (e.g. train after
 * Ctrl-C saved a checkpoint). `runCli` returns `code` and prints nothing more.
 */
export class CommandExit {
  constructor(readonly code: number) {}
}
