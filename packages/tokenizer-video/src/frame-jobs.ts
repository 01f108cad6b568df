import type { VideoFrame } from './read-frames.js';

/** Native frame jobs in flight at most (each holds a frame buffer); beyond it the reader waits. */
export const MAX_IN_FLIGHT = 6;

/**
 * The frame's buffer is held until its jobs are done (the reader recycles buffers) while this thread
 * goes back to ffmpeg's pipe. Returns the frame's combined job, tracked in `inFlight` until it settles;
 * a failure is left to whoever awaits it (never an unhandled rejection).
 */
export function holdFrame(frame: VideoFrame, jobs: readonly Promise<void>[], inFlight: Set<Promise<void>>): Promise<void> {
  const release = frame.retain();
  const job = Promise.all(jobs)
    .then(() => undefined)
    .finally(release);
  job.catch(() => undefined);
  inFlight.add(job);
  void job.finally(() => inFlight.delete(job)).catch(() => undefined);
  return job;
}

/** Waits while {@link MAX_IN_FLIGHT} frames are being worked on. */
export async function throttle(inFlight: Set<Promise<void>>): Promise<void> {
  if (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
}
