extension WebPage {
    /// `/assets/training-curves.js`. Kept as written (a raw string: no escapes), so it reads as the file it is.
    static let trainingCurvesJS = #"""
// The reward models' and policies' training curves: one chart per metric, one line per job,
// redrawn as new metric points arrive.
import { el, clear } from './dom.js';
import { lineChart } from './line-chart.js';

export const rmKinds = new Set(['train-rm']);
export const policyKinds = new Set(['train-llm', 'dpo']);

/// Which metrics are drawn, in this order; those no job recorded are left out.
const charts = [
  { kinds: rmKinds, metric: 'loss', title: 'RM training loss' },
  { kinds: rmKinds, metric: 'accuracy', title: 'RM training accuracy' },
  { kinds: rmKinds, metric: 'eval_accuracy', title: 'RM held-out accuracy' },
  { kinds: policyKinds, metric: 'loss', title: 'Policy training loss' },
  { kinds: policyKinds, metric: 'reward_margin', title: 'Policy reward margin (DPO)' },
  { kinds: policyKinds, metric: 'accuracy', title: 'Policy preference accuracy (DPO)' },
];

export function renderTrainingCurves(container, details) {
  const figures = [];
  for (const chart of charts) {
    const series = details
      .filter((d) => chart.kinds.has(d.job.kind) && (d.metrics[chart.metric] || []).length > 0)
      .map((d) => ({ label: d.job.key, points: d.metrics[chart.metric].map((p) => ({ x: p.step, y: p.value })) }));
    if (series.length > 0) figures.push(lineChart(chart.title, series));
  }
  clear(container);
  if (figures.length === 0) {
    container.append(el('p', { class: 'muted' }, 'No training metrics yet: they appear here as train-rm, train-llm and dpo jobs record them.'));
    return;
  }
  container.append(el('div', { class: 'charts' }, figures));
}
"""#
}
