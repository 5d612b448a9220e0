extension WebPage {
    /// `/assets/evaluation-tables.js`. Kept as written (a raw string: no escapes), so it reads as the file it is.
    static let evaluationTablesJS = #"""
// The evaluate jobs' results, from their metrics: each reward model on the test pairs
// (`rm.LABEL.NAME`), the same on the APO pairs for `golden_preference`, and each policy's average reward and win rates (`policy.…`).
import { el, clear } from './dom.js';
import { number } from './format.js';

const rmColumns = ['accuracy', 'average_score', 'ece', 'ace', 'mce'];

export function renderEvaluation(container, details) {
  const evaluations = details.filter((d) => d.job.kind === 'evaluate' && Object.keys(d.metrics).length > 0);
  clear(container);
  if (evaluations.length === 0) {
    container.append(el('p', { class: 'muted' }, 'No evaluation yet: evaluate jobs fill these tables when they finish.'));
    return;
  }
  // golden_preference (arm golden) measures RMs on the round's APO pairs, not on the test pairs.
  const golden = (d) => d.params?.arm === 'golden';
  const rm = rmTable(evaluations.filter((d) => !golden(d)), 'rm');
  const goldenRM = rmTable(evaluations.filter(golden), 'golden');
  const policy = policyTable(evaluations);
  if (rm) container.append(el('h3', {}, 'Reward models on the test pairs'), rm);
  if (goldenRM) {
    container.append(el('h3', {}, 'Golden answers vs the policy\'s samples (the round\'s APO pairs)'),
      el('p', { class: 'muted' }, 'Accuracy here is how often an RM scores the golden answer above the policy\'s sample.'), goldenRM);
  }
  if (policy) container.append(el('h3', {}, 'Policies'), policy);
}

/// The latest point of a metric (an evaluate job records one per round it evaluates).
function last(series) {
  return series && series.length ? series[series.length - 1] : null;
}

function rmTable(evaluations, name) {
  const rows = [];
  for (const d of evaluations) {
    const labels = new Set(Object.keys(d.metrics).filter((n) => n.startsWith('rm.')).map((n) => n.slice(3, n.lastIndexOf('.'))));
    for (const label of labels) {
      const round = last(d.metrics[`rm.${label}.accuracy`]);
      rows.push(el('tr', {},
        el('td', {}, d.job.key), el('td', {}, label), el('td', { class: 'num' }, round ? round.step : '–'),
        rmColumns.map((c) => el('td', { class: 'num' }, number(last(d.metrics[`rm.${label}.${c}`])?.value)))));
    }
  }
  if (rows.length === 0) return null;
  const head = el('tr', {}, el('th', {}, 'job'), el('th', {}, 'RM'), el('th', { class: 'num' }, 'round'),
    rmColumns.map((c) => el('th', { class: 'num' }, c.replace('_', ' '))));
  return el('table', { class: 'data evaluation', 'data-table': name }, el('thead', {}, head), el('tbody', {}, rows));
}

function policyTable(evaluations) {
  const withPolicy = evaluations.filter((d) => Object.keys(d.metrics).some((n) => n.startsWith('policy.')));
  if (withPolicy.length === 0) return null;
  const opponents = [...new Set(withPolicy.flatMap((d) => Object.keys(d.metrics)
    .filter((n) => n.startsWith('policy.win_rate.')).map((n) => n.slice('policy.win_rate.'.length))))].sort();
  const head = el('tr', {}, el('th', {}, 'job'), el('th', { class: 'num' }, 'round'), el('th', { class: 'num' }, 'average reward'),
    opponents.map((o) => el('th', { class: 'num' }, `win rate vs ${o}`)));
  const rows = withPolicy.map((d) => {
    const reward = last(d.metrics['policy.average_reward']);
    return el('tr', {}, el('td', {}, d.job.key), el('td', { class: 'num' }, reward ? reward.step : '–'),
      el('td', { class: 'num' }, number(reward?.value)),
      opponents.map((o) => el('td', { class: 'num' }, number(last(d.metrics[`policy.win_rate.${o}`])?.value))));
  });
  return el('table', { class: 'data evaluation', 'data-table': 'policy' }, el('thead', {}, head), el('tbody', {}, rows));
}
"""#
}
