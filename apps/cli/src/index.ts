export { runCli, type RunOptions } from './cli.js';
export { ExitCode, CommandExit, type CliIO } from './io.js';
export { builtinPlugins } from './builtin-plugins.js';
export { tokenizeInput, pluginFor, type TokenizeRequest, type TokenizeResult } from './tokenize-input.js';
