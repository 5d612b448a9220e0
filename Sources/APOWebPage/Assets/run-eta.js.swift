extension WebPage {
    /// `/assets/run-eta.js`. Kept as written (a raw string: no escapes), so it reads as the file it is.
    static let runETAJS = #"""
// How long a run has left, from its own jobs. The share of jobs done says little when jobs differ
// a hundredfold (an experiment's first sampling jobs take a quarter of an hour, its pair jobs a
// tenth of a second); copies of the same step (`apo_rm` in every cell and round) take about the
// same, so each unfinished job is costed at what its step's finished copies took.
import { splitKey } from './dag-layout.js';

const ended = new Set(['succeeded', 'failed', 'cancelled', 'upstream_failed']);

/// A job's step: its id without matrix cell and round (`apo_rm` of `seed=2/r1.apo_rm`).
export function stepOf(key) {
  return splitKey(key).name;
}

/// Seconds left, or null before any job has run to success. Each unfinished job costs the mean
/// wall time of its step's finished copies, less what a running one has already run; a step none
/// has finished yet costs the median finished job (most steps are short, and the mean would be the
/// few long ones'). The sum is spread over the jobs running now (at least one).
export function runTimeLeft(jobs) {
  const byStep = new Map();
  const all = [];
  for (const job of jobs) {
    if (job.state !== 'succeeded' || job.memoizedFromJobId != null || job.durationSeconds == null) continue;
    const step = stepOf(job.key);
    if (!byStep.has(step)) byStep.set(step, []);
    byStep.get(step).push(job.durationSeconds);
    all.push(job.durationSeconds);
  }
  if (all.length === 0) return null;
  const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;
  const sorted = [...all].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const overall = sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  let left = 0;
  for (const job of jobs) {
    if (ended.has(job.state)) continue;
    const copies = byStep.get(stepOf(job.key));
    const cost = copies ? mean(copies) : overall;
    const spent = job.state === 'running' ? (job.durationSeconds || 0) : 0;
    left += Math.max(cost - spent, 0);
  }
  const running = Math.max(1, jobs.filter((job) => job.state === 'running').length);
  return left / running;
}
"""#
}
