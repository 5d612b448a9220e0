extension WebPage {
    /// `/assets/run-page.js`. Kept as written (a raw string: no escapes), so it reads as the file it is.
    static let runPageJS = #"""
// `#/runs/ID[/jobs/JOB]`: one run. Its head (state, progress, ETA, cancel/resume), the DAG, the
// selected job and its log followed live, training curves, evaluation tables and artifacts.
// Polls the run every 1.5 s while it runs (5 s once it has ended, in case it is resumed).
import { getJSON, post, APIError } from './api.js';
import { el, clear, progressBar, stateBadge } from './dom.js';
import { duration, time, bytes } from './format.js';
import { runTimeLeft } from './run-eta.js';
import { DAGView } from './dag-view.js';
import { LogView } from './log-view.js';
import { JobPanel } from './job-panel.js';
import { JobDetailCache } from './job-details.js';
import { renderTrainingCurves, rmKinds, policyKinds } from './training-curves.js';
import { renderEvaluation } from './evaluation-tables.js';
import { confirmButton } from './confirm-button.js';
import { countsText } from './runs-page.js';

const finished = new Set(['succeeded', 'failed', 'cancelled', 'upstream_failed']);
const legendStates = ['blocked', 'queued', 'running', 'succeeded', 'failed', 'upstream_failed', 'cancelled'];

export class RunPage {
  constructor(view, runID, report) {
    this.runID = runID;
    this.report = report;
    this.selectedJobID = null;
    this.stopped = false;
    this.timer = null;
    this.details = new JobDetailCache();
    this.artifactsSeen = -1;
    this.build(view);
    this.refresh();
  }

  build(view) {
    this.head = el('div', { class: 'run-head' });
    this.title = el('h2', {}, `Run #${this.runID}`);
    this.badge = el('span');
    this.facts = el('div', { class: 'run-facts muted' });
    this.progress = el('div', { class: 'run-progress' });
    this.cancelRun = confirmButton({ id: 'cancel-run', class: 'danger' }, 'Cancel run', 'Click again to cancel',
      () => this.control(`/api/runs/${this.runID}/cancel`, `cancel run ${this.runID}`));
    this.resumeRun = el('button', { id: 'resume-run', type: 'button', onclick: () => this.control(`/api/runs/${this.runID}/resume`, `resume run ${this.runID}`) }, 'Resume run');
    this.head.append(el('div', { class: 'run-title' }, this.title, this.badge, el('span', { class: 'buttons' }, this.resumeRun, this.cancelRun)),
      this.facts, this.progress);
    const dag = el('div', { class: 'dag-scroll', id: 'dag' });
    this.dag = new DAGView(dag, (job) => { location.hash = `#/runs/${this.runID}/jobs/${job.id}`; });
    const jobPanel = el('section', { class: 'card job-panel', id: 'job-panel' });
    this.jobPanel = new JobPanel(jobPanel, (path, what) => this.control(path, what));
    const logPanel = el('section', { class: 'card log-panel', id: 'log-panel' });
    this.log = new LogView(logPanel);
    this.curves = el('div', { id: 'training-curves' });
    this.evaluation = el('div', { id: 'evaluation' });
    this.artifacts = el('div', { id: 'artifacts' });
    // The DAG beside the selected job and its log: on a laptop screen all three are in view.
    clear(view).append(this.head,
      el('div', { class: 'run-grid' },
        el('section', { class: 'card dag-card' },
          el('div', { class: 'card-head' }, el('h3', {}, 'Jobs'),
            el('button', { type: 'button', class: 'link', onclick: () => { location.hash = `#/runs/${this.runID}`; } }, 'whole run\u2019s log')),
          legend(), dag),
        el('div', { class: 'side' }, jobPanel, logPanel)),
      el('section', { class: 'card' }, el('h3', {}, 'Training curves'), this.curves),
      el('section', { class: 'card' }, el('h3', {}, 'Evaluation'), this.evaluation),
      el('section', { class: 'card' }, el('h3', {}, 'Artifacts'), this.artifacts));
  }

  /// Shows `jobID` (null: none, the whole run's log) without rebuilding the page.
  select(jobID) {
    this.selectedJobID = jobID;
    this.refresh();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.log.stop();
  }

  /// One refresh at a time: one asked for meanwhile (a click, a selection) runs right after.
  async refresh() {
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    clearTimeout(this.timer);
    try {
      await this.load();
    } finally {
      this.busy = false;
    }
    if (this.again && !this.stopped) {
      this.again = false;
      this.refresh();
    }
  }

  async load() {
    let detail = null;
    try {
      detail = await getJSON(`/api/runs/${this.runID}`);
      if (this.stopped) return;
      await this.show(detail);
      // Clears only a load error: the outcome of a click stays until the next one.
      if (this.loadFailed) this.report(null);
      this.loadFailed = false;
    } catch (error) {
      if (this.stopped) return;
      this.loadFailed = true;
      this.report(error instanceof APIError && error.status === 404 ? `run ${this.runID} does not exist` : `cannot load run ${this.runID}: ${error.message}`);
      if (error instanceof APIError && error.status === 404) return;
    }
    if (!this.stopped) this.timer = setTimeout(() => this.refresh(), detail && detail.run.state !== 'running' ? 5000 : 1500);
  }

  async show(detail) {
    const run = detail.run;
    const selected = detail.jobs.find((job) => job.id === this.selectedJobID) || null;
    this.showHead(detail);
    this.dag.update(detail, selected ? selected.key : null);
    const running = run.state === 'running';
    if (selected) this.log.follow(`/api/jobs/${selected.id}/logs/stream`, `Log of ${selected.key}`, false, running);
    else this.log.follow(`/api/runs/${run.id}/logs/stream`, 'Log of the whole run', true, running);
    const watched = detail.jobs.filter((job) => rmKinds.has(job.kind) || policyKinds.has(job.kind) || job.kind === 'evaluate');
    const [jobDetail, details] = await Promise.all([
      selected ? getJSON(`/api/jobs/${selected.id}`) : null,
      this.details.load(watched),
    ]);
    if (this.stopped) return;
    this.jobPanel.show(jobDetail);
    renderTrainingCurves(this.curves, details);
    renderEvaluation(this.evaluation, details);
    const succeeded = run.jobStates.succeeded || 0;
    if (succeeded !== this.artifactsSeen) {
      this.artifactsSeen = succeeded;
      renderArtifacts(this.artifacts, await getJSON(`/api/runs/${run.id}/artifacts`));
    }
  }

  showHead(detail) {
    const run = detail.run;
    this.title.textContent = `Run #${run.id} \u00b7 ${run.pipeline}`;
    this.badge.replaceChildren(stateBadge(run.state));
    this.cancelRun.disabled = run.state !== 'running';
    this.resumeRun.disabled = run.state === 'running' || run.state === 'succeeded';
    this.facts.textContent = `created ${time(run.createdAt)} \u00b7 ${run.finishedAt ? `finished ${time(run.finishedAt)} \u00b7 ` : ''}`
      + `${duration(run.durationSeconds)} \u00b7 ${run.jobs} jobs: ${countsText(run.jobStates)}`
      + sessionsText(detail.daemonSessions || [], detail.interruptions);
    // Jobs done, plus the running ones' own progress, as a share of all jobs.
    const done = detail.jobs.reduce((sum, job) => sum + (finished.has(job.state) ? 1
      : job.state === 'running' && job.progress.total > 0 ? job.progress.done / job.progress.total : 0), 0);
    const fraction = done / Math.max(1, detail.jobs.length);
    const left = run.state === 'running' ? runTimeLeft(detail.jobs) : null;
    const eta = left == null ? '' : `\u2248 ${duration(left)} left`;
    this.progress.replaceChildren(progressBar(fraction, `${Math.round(fraction * 100)}% of jobs ${eta}`, run.state));
  }

  async control(path, what) {
    try {
      await post(path);
      this.report(`${what}: done`, 'ok');
    } catch (error) {
      const hint = error.status === 401 ? ' \u2014 enter the token at the top right' : '';
      this.report(`${what}: ${error.message}${hint}`);
    }
    this.refresh();
  }
}

/// " · served by 2 apod sessions on 1 host; 1 ended before it did (1 stopped cleanly, 0 lost)",
/// as `apoctl show` says it; the server counts the sessions that ended before the run did.
function sessionsText(sessions, interruptions) {
  if (sessions.length === 0) return '';
  const hosts = new Set(sessions.map((s) => s.host)).size;
  const served = ` \u00b7 served by ${sessions.length} apod session${sessions.length === 1 ? '' : 's'}`
    + ` on ${hosts} host${hosts === 1 ? '' : 's'}`;
  const ended = interruptions ? interruptions.clean + interruptions.lost : 0;
  if (ended === 0) return served;
  return `${served}; ${ended} ended before it did (${interruptions.clean} stopped cleanly, ${interruptions.lost} lost)`;
}

function legend() {
  return el('span', { class: 'legend dag-legend' }, legendStates.map((state) => {
    const swatch = el('span', { class: `swatch state-${state}` });
    return el('span', { class: 'legend-item' }, swatch, state.replace('_', ' '));
  }));
}

function renderArtifacts(container, artifacts) {
  clear(container);
  if (artifacts.length === 0) {
    container.append(el('p', { class: 'muted' }, 'No artifacts yet.'));
    return;
  }
  container.append(el('table', { class: 'data artifacts' },
    el('thead', {}, el('tr', {}, ['job', 'artifact', 'size', 'sha256', 'written'].map((h) => el('th', {}, h)))),
    el('tbody', {}, artifacts.map((a) => el('tr', {},
      el('td', {}, a.job),
      el('td', {}, el('a', { href: a.url, target: '_blank', rel: 'noopener' }, a.path)),
      el('td', { class: 'num' }, a.type === 'directory' ? 'folder' : bytes(a.size)),
      el('td', { class: 'mono muted', title: a.sha256 }, a.sha256.slice(0, 12)),
      el('td', {}, time(a.createdAt)))))));
}
"""#
}
