import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { type Server, type Socket, Socket as NetSocket, connect, createServer } from 'node:net';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { loadOptionalNativeKernels, type OptionalNativeKernels } from './optional-native-kernels.js';

/**
 * The part of a `ChildProcess` that omnitok's decoders use, as {@link spawnTool} returns it: stdin is
 * /dev/null, stdout and stderr are read here. Events: `error` (the program could not be started; a
 * `close` with a negative code follows, as with child_process), `exit` (code, signal) and `close`
 * (code, signal) once the child has exited and both of its streams have closed.
 */
export interface ToolProcess extends EventEmitter {
  readonly pid: number | undefined;
  readonly spawnfile: string;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  /** Sends a signal (default SIGTERM); false when the child has already exited or never started. */
  kill(signal?: NodeJS.Signals): boolean;
}

/** `net.Socket`'s `onread`: bytes go straight into the caller's buffers, no chunk is allocated. */
export interface StdoutReader {
  /** Where the next bytes go (called before every read). */
  buffer(): Uint8Array;
  /** `bytes` arrived at the start of the last `buffer()`; return false to pause (`stdout.resume()` goes on). */
  callback(bytes: number): boolean;
}

export interface SpawnToolOptions {
  /**
   * Read stdout through `onread` (the `stdout` stream then emits no `data`; `end` and `close` as usual).
   * Where the OS gives no Unix socket for it, chunks are copied into the buffers instead: same calls.
   */
  readonly onread?: StdoutReader;
}

/**
 * Starts a command-line tool (ffmpeg, ffprobe) like `child_process.spawn(cmd, args, { stdio: ['ignore',
 * 'pipe', 'pipe'] })` — but, on Linux with `@omnitok/native-kernels` built, without fork(). Node's spawn
 * forks the calling process: the kernel copies its page tables and write-protects all of its memory, so
 * from a process holding a large heap (a model being trained, a batch of tokens) every spawn costs time
 * per GB resident and afterwards the first write to every page faults (measured: 1 GiB resident → +81 ms
 * per 16-frame video tokenized and +259 ms of faults on the process's next pass over that gigabyte; with
 * the native spawner neither, bench/spawn-cost.bench.mjs). The addon's posix_spawn shares the address
 * space until exec. `OMNITOK_SPAWN=node` forces child_process.
 */
export async function spawnTool(cmd: string, args: readonly string[], options: SpawnToolOptions = {}): Promise<ToolProcess> {
  const native = process.env.OMNITOK_SPAWN === 'node' ? undefined : await nativeSpawner();
  if (native) {
    try {
      return spawnNative(native, cmd, args, options);
    } catch {
      // The addon could not start or watch a child here (no pipes left, a pidfd refused after all):
      // child_process from now on, which reports its own errors.
      nativeRefused = true;
    }
  }
  return spawnNode(cmd, args, options);
}

/** Which spawner {@link spawnTool} uses in this process: `posix_spawn` (the addon) or `fork` (child_process). */
export async function toolSpawner(): Promise<'posix_spawn' | 'fork'> {
  return process.env.OMNITOK_SPAWN !== 'node' && (await nativeSpawner()) ? 'posix_spawn' : 'fork';
}

type NativeSpawner = Required<Pick<OptionalNativeKernels, 'spawnProcess' | 'killProcess'>>;

let nativeRefused = false;

async function nativeSpawner(): Promise<NativeSpawner | undefined> {
  if (nativeRefused) return undefined;
  const k = await loadOptionalNativeKernels();
  return k?.spawnProcess && k.killProcess ? (k as NativeSpawner) : undefined;
}

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, n]) => [n as number, name as NodeJS.Signals]));
const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

class ToolChild extends EventEmitter implements ToolProcess {
  pid: number | undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  private exited = false;
  private sendSignal: (signal: NodeJS.Signals) => boolean = () => false;

  constructor(
    readonly spawnfile: string,
    readonly stdout: Readable,
    readonly stderr: Readable,
  ) {
    super();
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    return !this.exited && this.sendSignal(signal);
  }

  /** Wires the started child: how to signal it, and its exit (then `exit`, then `close` after the streams). */
  started(pid: number, sendSignal: (signal: NodeJS.Signals) => boolean, exit: Promise<[number | null, NodeJS.Signals | null]>): void {
    this.pid = pid;
    this.sendSignal = sendSignal;
    const streamsClosed = Promise.all([this.stdout, this.stderr].map((s) => (s.closed || s.destroyed ? undefined : new Promise((r) => s.once('close', r)))));
    void exit.then(async ([code, signal]) => {
      this.exited = true;
      this.exitCode = code;
      this.signalCode = signal;
      this.emit('exit', code, signal);
      await streamsClosed;
      this.emit('close', code, signal);
    });
  }

  /** The program could not be started: `error`, then `close` (-errno), as child_process does. */
  failed(error: NodeJS.ErrnoException): void {
    this.exited = true;
    this.exitCode = error.errno ?? -1;
    this.stdout.destroy();
    this.stderr.destroy();
    process.nextTick(() => {
      this.emit('error', error);
      this.emit('close', this.exitCode, null);
    });
  }
}

function spawnNative(native: NativeSpawner, cmd: string, args: readonly string[], options: SpawnToolOptions): ToolProcess {
  const r = native.spawnProcess(cmd, args, -1);
  if ('errno' in r) {
    const name = ERRNO_NAMES.get(-r.errno) ?? 'UNKNOWN';
    const error: NodeJS.ErrnoException = Object.assign(new Error(`spawn ${cmd} ${name}`), { errno: r.errno, code: name, syscall: `spawn ${cmd}`, path: cmd });
    const child = new ToolChild(cmd, new NetSocket({ readable: false, writable: false }), new NetSocket({ readable: false, writable: false }));
    child.failed(error);
    return child;
  }
  const stdout = new NetSocket({ fd: r.stdout, readable: true, writable: false, ...(options.onread && { onread: onreadOption(options.onread) }) });
  const stderr = new NetSocket({ fd: r.stderr, readable: true, writable: false });
  const child = new ToolChild(cmd, stdout, stderr);
  const handle = r.handle;
  child.started(
    r.pid,
    (signal) => native.killProcess(handle, constants.signals[signal]),
    r.exit.then(([code, signal]) => [code, signal === null ? null : SIGNAL_NAMES.get(signal) ?? null]),
  );
  return child;
}

async function spawnNode(cmd: string, args: readonly string[], options: SpawnToolOptions): Promise<ToolProcess> {
  // With onread: a Unix socket pair (connected through a listening socket, which Node can make) so the
  // bytes land in the caller's buffers; where that fails (Windows, a path too long, no AF_UNIX), the pipe.
  const pair = options.onread && process.platform !== 'win32' ? await socketPair(options.onread).catch(() => undefined) : undefined;
  const proc = spawn(cmd, args, { stdio: ['ignore', pair ? pair.childEnd : 'pipe', 'pipe'] });
  pair?.childEnd.destroy(); // the child holds its own copy: EOF comes when it exits
  const stdout = pair?.reader ?? proc.stdout!;
  if (!pair && options.onread) copyInto(stdout, options.onread);
  const child = new ToolChild(cmd, stdout, proc.stderr!);
  if (proc.pid === undefined) {
    proc.once('error', (error) => {
      if (pair) stdout.destroy();
      child.failed(error);
    });
    return child;
  }
  child.started(
    proc.pid,
    (signal) => proc.kill(signal),
    new Promise((resolve) => proc.once('exit', (code, signal) => resolve([code, signal]))),
  );
  proc.once('error', (error) => child.emit('error', error)); // a failed kill, after the start
  return child;
}

function onreadOption(onread: StdoutReader) {
  return { buffer: () => onread.buffer(), callback: (n: number) => onread.callback(n) };
}

/** The pipe fallback of `onread`: each chunk copied into the caller's buffers, pausing when asked to. */
function copyInto(stream: Readable, onread: StdoutReader): void {
  stream.on('data', (chunk: Buffer) => {
    let at = 0;
    let more = true;
    while (at < chunk.length) {
      const into = onread.buffer();
      const n = Math.min(into.length, chunk.length - at);
      into.set(chunk.subarray(at, at + n));
      at += n;
      if (!onread.callback(n)) more = false;
    }
    if (!more) stream.pause();
  });
}

let socketSerial = 0;

/** Two connected Unix sockets: the reader (with `onread`) and the end handed to the child as stdout. */
async function socketPair(onread: StdoutReader): Promise<{ reader: Socket; childEnd: Socket }> {
  const path = join(tmpdir(), `omnitok-tool-${process.pid}-${socketSerial++}.sock`);
  const server: Server = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    const reader = connect({ path, onread: onreadOption(onread) });
    await new Promise<void>((resolve, reject) => {
      reader.once('connect', () => resolve());
      reader.once('error', reject);
    });
    return { reader, childEnd: await accepted };
  } finally {
    server.close();
  }
}
