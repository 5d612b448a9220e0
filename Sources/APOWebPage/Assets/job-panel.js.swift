extension WebPage {
    /// `/assets/job-panel.js`. Kept as written (a raw string: no escapes), so it reads as the file it is.
    static let jobPanelJS = #"""
// The selected job: state, progress with ETA, attempts, error, params and outputs, artifacts,
// and its retry/cancel buttons.
import { el, clear, progressBar, stateBadge } from './dom.js';
import { duration, cpuTime, etaText, time, bytes, percent } from './format.js';
import { confirmButton } from './confirm-button.js';

const cancellable = new Set(['blocked', 'queued', 'running']);
const retryable = new Set(['failed', 'cancelled', 'upstream_failed']);

/// Redrawn on every poll, except its head: an armed cancel button must survive the poll.
export class JobPanel {
  /// `control(path, what)`: posts a mutating request and reports how it went.
  constructor(container, control) {
    this.container = container;
    this.control = control;
    this.jobID = null;
    this.show(null);
  }

  show(detail) {
    if (!detail) {
      this.jobID = null;
      clear(this.container).append(el('p', { class: 'muted' }, 'Select a job in the DAG to see its details and follow its log.'));
      return;
    }
    const job = detail.job;
    if (job.id !== this.jobID) this.build(job);
    this.badge.replaceWith(this.badge = stateBadge(job.state));
    this.retry.disabled = !retryable.has(job.state);
    this.cancel.disabled = !cancellable.has(job.state) || job.cancelRequested;
    // Keep open what the reader opened.
    const open = new Set([...this.body.querySelectorAll('details[open] > summary')].map((s) => s.textContent));
    clear(this.body).append(...body(detail));
    for (const summary of this.body.querySelectorAll('details > summary')) {
      if (open.has(summary.textContent)) summary.parentElement.open = true;
    }
  }

  build(job) {
    this.jobID = job.id;
    this.badge = stateBadge(job.state);
    this.retry = el('button', { id: 'retry-job', type: 'button', onclick: () => this.control(`/api/jobs/${job.id}/retry`, `retry ${job.key}`) }, 'Retry');
    this.cancel = confirmButton({ id: 'cancel-job', class: 'danger' }, 'Cancel job', 'Click again to cancel',
      () => this.control(`/api/jobs/${job.id}/cancel`, `cancel ${job.key}`));
    this.body = el('div');
    clear(this.container).append(
      el('div', { class: 'panel-head' }, el('h3', { class: 'job-key' }, job.key), this.badge,
        el('span', { class: 'buttons' }, this.retry, this.cancel)),
      this.body);
  }
}

function body(detail) {
  const job = detail.job;
  const fraction = job.progress.total > 0 ? job.progress.done / job.progress.total : (job.state === 'succeeded' ? 1 : 0);
  const progressLabel = job.progress.total > 0
    ? `${job.progress.done} / ${job.progress.total} (${percent(fraction)}) ${job.state === 'running' ? etaText(fraction, job.durationSeconds) : ''}`
    : '';
  return [
    el('dl', { class: 'facts' },
      fact('kind', job.kind), fact('attempts', `${job.attempts} of ${job.maxAttempts}`),
      fact('started', time(job.startedAt)), fact('finished', time(job.finishedAt)),
      fact('duration', duration(job.durationSeconds)),
      job.cpuSeconds != null ? fact('CPU time', cpuTime(job.cpuSeconds)) : null,
      job.memoizedFromJobId != null ? fact('memoized from', `job ${job.memoizedFromJobId}`) : null,
      job.cancelRequested ? fact('cancel', 'requested') : null),
    job.progress.total > 0 ? progressBar(fraction, progressLabel, job.state) : null,
    job.progress.message ? el('p', { class: 'progress-message' }, job.progress.message) : null,
    job.error ? el('pre', { class: 'error-text' }, job.error) : null,
    artifactList(detail.artifacts),
    attemptsTable(detail.attempts),
    jsonBlock('params', detail.params),
    jsonBlock('outputs', detail.outputs),
  ].filter(Boolean);
}

function fact(name, value) {
  return [el('dt', {}, name), el('dd', {}, value)];
}

function artifactList(artifacts) {
  if (!artifacts || artifacts.length === 0) return null;
  return el('div', {}, el('h4', {}, 'Artifacts'), el('ul', { class: 'artifact-list' }, artifacts.map((a) =>
    el('li', {}, el('a', { href: a.url, target: '_blank', rel: 'noopener' }, a.path), ' ',
      el('span', { class: 'muted' }, a.type === 'directory' ? 'folder' : bytes(a.size))))));
}

function attemptsTable(attempts) {
  if (!attempts || attempts.length === 0) return null;
  return el('details', { class: 'attempts' }, el('summary', {}, `Attempts (${attempts.length})`),
    el('table', { class: 'data' },
      el('thead', {}, el('tr', {}, ['#', 'worker', 'started', 'finished', 'outcome', 'CPU', 'compute'].map((h) => el('th', {}, h)))),
      el('tbody', {}, attempts.map((a) => el('tr', { title: a.error || '' },
        el('td', {}, a.number), el('td', {}, a.worker), el('td', {}, time(a.startedAt)), el('td', {}, time(a.finishedAt)),
        el('td', {}, a.outcome || 'running'), el('td', { class: 'cpu' }, cpuTime(a.cpuSeconds)),
        el('td', {}, a.computePath || '–'))))));
}

function jsonBlock(title, value) {
  if (value == null || (typeof value === 'object' && Object.keys(value).length === 0)) return null;
  return el('details', {}, el('summary', {}, title), el('pre', { class: 'json' }, JSON.stringify(value, null, 2)));
}
"""#
}
