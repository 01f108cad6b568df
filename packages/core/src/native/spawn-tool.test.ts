import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { spawnTool, toolSpawner, type ToolProcess } from './spawn-tool.js';
import { withEnv } from '../runtime/test-utils/with-env.js';

/**
 * One suite over both ways `spawnTool` starts a program: child_process (fork, everywhere) and the
 * addon's posix_spawn (Linux with @omnitok/native-kernels built; required when OMNITOK_REQUIRE_NATIVE=1).
 */
const nativeHere = (await toolSpawner()) === 'posix_spawn';
if (process.env.OMNITOK_REQUIRE_NATIVE === '1' && process.platform === 'linux' && !nativeHere) {
  throw new Error('the native spawner is required here (OMNITOK_REQUIRE_NATIVE=1) but @omnitok/native-kernels has no spawnProcess');
}
const spawners = nativeHere ? (['posix_spawn', 'fork'] as const) : (['fork'] as const);

const withSpawner = <T,>(spawner: 'posix_spawn' | 'fork', run: () => Promise<T>): Promise<T> => withEnv({ OMNITOK_SPAWN: spawner === 'fork' ? 'node' : undefined }, run);

const text = async (s: Readable): Promise<string> => {
  let out = '';
  for await (const c of s) out += String(c);
  return out;
};

// (events.once would reject on an `error` event; the close after it is what is awaited here)
const closed = (child: ToolProcess) =>
  new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (code, signal) => resolve([code, signal])));

describe.each(spawners)('spawnTool (%s)', (spawner) => {
  const start = (cmd: string, args: string[], options?: Parameters<typeof spawnTool>[2]) => withSpawner(spawner, () => spawnTool(cmd, args, options));

  it('reports which spawner it uses', async () => {
    expect(await withSpawner(spawner, toolSpawner)).toBe(spawner);
  });

  it('collects stdout and stderr, then exit and close with the exit code; stdin is empty', async () => {
    const child = await start('sh', ['-c', 'cat; printf out; printf err >&2; exit 3']);
    const events: string[] = [];
    child.once('exit', () => events.push('exit'));
    const done = closed(child);
    const [out, err] = await Promise.all([text(child.stdout), text(child.stderr)]);
    expect(await done).toEqual([3, null]);
    events.push('close');
    expect({ out, err, events, exitCode: child.exitCode, signalCode: child.signalCode }).toEqual({
      out: 'out',
      err: 'err',
      events: ['exit', 'close'],
      exitCode: 3,
      signalCode: null,
    });
    expect(child.pid).toBeGreaterThan(0);
    expect(child.spawnfile).toBe('sh');
  });

  it('passes arguments verbatim and the environment (as changed at run time)', async () => {
    await withEnv({ OMNITOK_SPAWN_TEST: 'a b "c"' }, async () => {
      const child = await start('sh', ['-c', 'printf "%s|%s|%s" "$1" "$2" "$OMNITOK_SPAWN_TEST"', 'sh', 'x y', "'z'"]);
      expect(await text(child.stdout)).toBe('x y|\'z\'|a b "c"');
    });
  });

  it('starts the child with no standard signal ignored or blocked (Node ignores SIGPIPE itself)', async () => {
    const child = await start('sh', ['-c', 'grep -E "^Sig(Ign|Blk)" /proc/self/status']);
    const masks = Object.fromEntries((await text(child.stdout)).trim().split('\n').map((l) => l.split(':\t')).map(([k, v]) => [k, BigInt(`0x${v}`)]));
    // Signals 1–31 (bit n−1 is signal n). glibc's posix_spawn leaves its two internal real-time
    // signals (32, 33) ignored, which the child's own libc takes over when it needs them.
    expect({ ignored: masks.SigIgn! & 0x7fffffffn, blocked: masks.SigBlk }).toEqual({ ignored: 0n, blocked: 0n });
  });

  it('kills: the close event carries the signal, and kill after exit returns false', async () => {
    const child = await start('sleep', ['30']);
    const done = closed(child);
    expect(child.kill('SIGKILL')).toBe(true);
    expect(await done).toEqual([null, 'SIGKILL']);
    expect(child.signalCode).toBe('SIGKILL');
    expect(child.kill('SIGKILL')).toBe(false);
  });

  it('a program that cannot start: an ENOENT error event, then close with a negative code', async () => {
    const child = await start('/nonexistent/omnitok-tool', ['x']);
    const done = closed(child);
    const [error] = (await once(child, 'error')) as [NodeJS.ErrnoException];
    expect({ code: error.code, errno: error.errno, syscall: error.syscall, message: error.message }).toEqual({
      code: 'ENOENT',
      errno: -2,
      syscall: 'spawn /nonexistent/omnitok-tool',
      message: 'spawn /nonexistent/omnitok-tool ENOENT',
    });
    const [code] = await done;
    expect(code).toBe(-2);
    expect(child.kill()).toBe(false);
  });

  it('onread: stdout lands in the caller buffers, in order; returning false pauses until resume()', async () => {
    const expected = Array.from({ length: 200_000 }, (_, i) => i + 1).join('\n') + '\n'; // 1.3 MB
    const target = new Uint8Array(expected.length + 16);
    let filled = 0;
    let calls = 0;
    let pausedAt = -1;
    const child = await start('seq', ['1', '200000'], {
      onread: {
        buffer: () => target.subarray(filled, filled + 4096),
        callback: (n) => {
          filled += n;
          if (++calls !== 3) return true;
          pausedAt = filled;
          return false;
        },
      },
    });
    // Paused after the third read: nothing more arrives until resume().
    await new Promise((r) => setTimeout(r, 100));
    expect(filled).toBe(pausedAt);
    child.stdout.resume();
    expect(await closed(child)).toEqual([0, null]);
    expect(calls).toBeGreaterThan(3);
    expect(Buffer.from(target.subarray(0, filled)).toString('latin1')).toBe(expected);
  });

  if (spawner === 'posix_spawn') {
    it('does not fork: memory written before a spawn takes no page faults when written again (fork: one per page)', async () => {
      const big = new Uint8Array(64 << 20);
      big.fill(1);
      await closed(await start('true', []));
      const before = process.resourceUsage().minorPageFault;
      big.fill(2);
      const faults = process.resourceUsage().minorPageFault - before;
      expect(faults).toBeLessThan((64 << 20) / 4096 / 20); // < 5% of the 16,384 pages
    });
  }
});
