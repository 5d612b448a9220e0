extension WebPage {
    /// `/assets/job-details.js`. Kept as written (a raw string: no escapes), so it reads as the file it is.
    static let jobDetailsJS = #"""
// `GET /api/jobs/{id}` for the jobs whose metrics the page shows, fetched again only while a job
// can still change: a finished job's answer is kept until its state changes (a retry).
import { getJSON } from './api.js';

const settled = new Set(['succeeded', 'failed', 'cancelled', 'upstream_failed']);

export class JobDetailCache {
  constructor() {
    this.details = new Map();
  }

  /// The details of `jobs` (those not started yet are skipped), fresh where they may have changed.
  async load(jobs) {
    const wanted = jobs.filter((job) => job.state !== 'blocked' && job.state !== 'queued');
    await Promise.all(wanted.map(async (job) => {
      const cached = this.details.get(job.id);
      if (cached && cached.job.state === job.state && settled.has(job.state)) return;
      try {
        this.details.set(job.id, await getJSON(`/api/jobs/${job.id}`));
      } catch {
        // Kept as it was; the next poll tries again.
      }
    }));
    return wanted.map((job) => this.details.get(job.id)).filter(Boolean);
  }
}
"""#
}
