extension WebPage {
    /// `/assets/runs-page.js`. Kept as written (a raw string: no escapes), so it reads as the file it is.
    static let runsPageJS = #"""
// `#/`: every run, newest first, with its state, how far its jobs are, and when it ran; the
// hosts serving the database beside it. Polled every two seconds.
import { getJSON } from './api.js';
import { el, clear, stateBadge } from './dom.js';
import { duration, time, etaText } from './format.js';

const jobStateOrder = ['succeeded', 'running', 'queued', 'blocked', 'failed', 'upstream_failed', 'cancelled'];
const finishedStates = ['succeeded', 'failed', 'cancelled', 'upstream_failed'];

export function showRunsPage(view, report) {
  const stateFilter = el('select', { id: 'state-filter', 'aria-label': 'state' },
    ['', 'running', 'succeeded', 'failed', 'cancelled'].map((s) => el('option', { value: s }, s || 'any state')));
  const pipelineFilter = el('input', { id: 'pipeline-filter', type: 'search', placeholder: 'pipeline name', 'aria-label': 'pipeline' });
  const body = el('tbody');
  const hosts = el('div', { class: 'hosts' });
  clear(view).append(
    el('div', { class: 'toolbar' }, el('h2', {}, 'Runs'), stateFilter, pipelineFilter),
    el('div', { class: 'runs-layout' },
      el('table', { class: 'data runs', id: 'runs-table' },
        el('thead', {}, el('tr', {}, ['run', 'pipeline', 'state', 'jobs', '', 'created', 'duration'].map((h) => el('th', {}, h)))),
        body),
      el('aside', {}, el('h3', {}, 'Hosts'), hosts)));

  let timer = null;
  let stopped = false;
  // A filter change starts a new refresh; an older one still in flight then draws nothing.
  let generation = 0;
  let loadFailed = false;
  const refresh = async () => {
    const mine = ++generation;
    clearTimeout(timer);
    const query = new URLSearchParams({ limit: '200' });
    if (stateFilter.value) query.set('state', stateFilter.value);
    if (pipelineFilter.value.trim()) query.set('pipeline', pipelineFilter.value.trim());
    try {
      const [runs, hostList] = await Promise.all([getJSON(`/api/runs?${query}`), getJSON('/api/hosts')]);
      if (stopped || mine !== generation) return;
      renderRuns(body, runs);
      renderHosts(hosts, hostList);
      if (loadFailed) report(null);
      loadFailed = false;
    } catch (error) {
      if (mine !== generation) return;
      loadFailed = true;
      report(`cannot load the runs: ${error.message}`);
    }
    if (!stopped) timer = setTimeout(refresh, 2000);
  };
  stateFilter.addEventListener('change', refresh);
  pipelineFilter.addEventListener('input', refresh);
  refresh();
  return () => { stopped = true; clearTimeout(timer); };
}

function renderRuns(body, runs) {
  clear(body);
  if (runs.length === 0) {
    body.append(el('tr', {}, el('td', { colspan: 7, class: 'muted' }, 'No runs. Submit one: apoctl submit PIPELINE.yaml')));
    return;
  }
  for (const run of runs) {
    const done = finishedStates.reduce((sum, s) => sum + (run.jobStates[s] || 0), 0);
    const eta = run.state === 'running' ? etaText(done / Math.max(1, run.jobs), run.durationSeconds) : '';
    body.append(el('tr', { 'data-run-id': run.id, 'data-state': run.state },
      el('td', {}, el('a', { href: `#/runs/${run.id}` }, `#${run.id}`)),
      el('td', {}, el('a', { href: `#/runs/${run.id}` }, run.pipeline)),
      el('td', {}, stateBadge(run.state)),
      el('td', { class: 'jobs-cell' }, stackedBar(run), el('span', { class: 'muted' }, `${run.jobStates.succeeded || 0}/${run.jobs} ${eta}`)),
      el('td', { class: 'muted small' }, countsText(run.jobStates)),
      el('td', {}, time(run.createdAt)),
      el('td', {}, duration(run.durationSeconds))));
  }
}

/// One bar, a segment per job state, as wide as that state's share of the run's jobs.
export function stackedBar(run) {
  const bar = el('div', { class: 'bar stacked', title: countsText(run.jobStates) });
  for (const state of jobStateOrder) {
    const count = run.jobStates[state] || 0;
    if (count === 0) continue;
    const part = el('div', { class: `bar-fill state-${state}` });
    part.style.width = `${(100 * count) / Math.max(1, run.jobs)}%`;
    bar.append(part);
  }
  return bar;
}

export function countsText(jobStates) {
  return jobStateOrder.filter((s) => jobStates[s]).map((s) => `${jobStates[s]} ${s.replace('_', ' ')}`).join(', ');
}

function renderHosts(container, hosts) {
  clear(container);
  if (hosts.length === 0) {
    container.append(el('p', { class: 'muted' }, 'No daemon has reported.'));
    return;
  }
  container.append(el('ul', { class: 'host-list' }, hosts.map((h) => el('li', {},
    stateBadge(h.state), ' ', el('strong', {}, h.name), ' ',
    el('span', { class: 'muted' }, `${h.workers} workers, ${h.runningJobs} running, seen ${time(h.lastHeartbeatAt)}`)))));
}
"""#
}
