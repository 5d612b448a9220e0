extension WebPage {
    /// `/assets/line-chart.js`. Kept as written (a raw string: no escapes), so it reads as the file it is.
    static let lineChartJS = #"""
// A small SVG line chart: one or more series of (x, y) points, axes with round-number ticks and a
// legend. Hand-written so the page needs no chart library.
import { svg, el } from './dom.js';
import { number } from './format.js';

export const palette = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777'];

const size = { width: 400, height: 190, left: 52, right: 12, top: 10, bottom: 26 };

/// `series`: [{label, points: [{x, y}]}]. Returns a figure with the chart and its legend.
export function lineChart(title, series, xLabel = 'step') {
  // A loss can be NaN or infinite after a diverging step: such points are left out.
  const drawn = series.map((s) => ({ ...s, points: s.points.filter((p) => isFinite(p.x) && isFinite(p.y)) }))
    .filter((s) => s.points.length > 0);
  const figure = el('figure', { class: 'chart', 'data-chart': title });
  figure.append(el('figcaption', {}, title));
  if (drawn.length === 0) {
    figure.append(el('div', { class: 'muted chart-empty' }, 'no points yet'));
    return figure;
  }
  const xs = drawn.flatMap((s) => s.points.map((p) => p.x));
  const ys = drawn.flatMap((s) => s.points.map((p) => p.y));
  const xScale = scale(Math.min(...xs), Math.max(...xs), size.left, size.width - size.right);
  const yScale = scale(Math.min(...ys), Math.max(...ys), size.height - size.bottom, size.top);
  const root = svg('svg', { viewBox: `0 0 ${size.width} ${size.height}`, class: 'chart-svg', role: 'img', 'aria-label': title });
  root.append(...axes(xScale, yScale, xLabel));
  drawn.forEach((s, index) => {
    const colour = palette[index % palette.length];
    const points = s.points;
    const d = points.map((p, i) => `${i ? 'L' : 'M'}${xScale.map(p.x).toFixed(1)},${yScale.map(p.y).toFixed(1)}`).join(' ');
    root.append(svg('path', { d, class: 'series', stroke: colour, 'data-series': s.label, 'data-points': points.length }));
    if (points.length === 1) {
      root.append(svg('circle', { cx: xScale.map(points[0].x), cy: yScale.map(points[0].y), r: 3, fill: colour }));
    }
  });
  figure.append(root);
  const legend = el('div', { class: 'legend' });
  drawn.forEach((s, index) => {
    const swatch = el('span', { class: 'swatch' });
    swatch.style.background = palette[index % palette.length];
    const last = s.points[s.points.length - 1];
    legend.append(el('span', { class: 'legend-item', title: `${s.points.length} points` }, swatch, `${s.label} `,
      el('span', { class: 'muted' }, number(last.y))));
  });
  figure.append(legend);
  return figure;
}

/// Linear map from [min, max] (widened to round numbers) onto [from, to], with its ticks.
function scale(min, max, from, to) {
  if (min === max) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  const step = niceStep((max - min) / 4);
  const low = Math.floor(min / step) * step;
  const high = Math.ceil(max / step) * step;
  const ticks = [];
  for (let t = low; t <= high + step / 2; t += step) ticks.push(Number(t.toPrecision(12)));
  return { ticks, map: (v) => from + (v - low) / (high - low) * (to - from) };
}

function niceStep(rough) {
  const power = Math.pow(10, Math.floor(Math.log10(rough)));
  const unit = rough / power;
  return (unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10) * power;
}

function axes(x, y, xLabel) {
  const parts = [];
  const left = size.left;
  const right = size.width - size.right;
  const bottom = size.height - size.bottom;
  for (const t of y.ticks) {
    const py = y.map(t);
    parts.push(svg('line', { x1: left, x2: right, y1: py, y2: py, class: 'grid' }));
    parts.push(svg('text', { x: left - 5, y: py + 3, class: 'tick', 'text-anchor': 'end' }, number(t)));
  }
  for (const t of x.ticks) {
    const px = x.map(t);
    parts.push(svg('text', { x: px, y: bottom + 13, class: 'tick', 'text-anchor': 'middle' }, number(t)));
  }
  parts.push(svg('line', { x1: left, x2: right, y1: bottom, y2: bottom, class: 'axis' }));
  parts.push(svg('line', { x1: left, x2: left, y1: size.top, y2: bottom, class: 'axis' }));
  parts.push(svg('text', { x: right, y: size.height - 2, class: 'tick', 'text-anchor': 'end' }, xLabel));
  return parts;
}
"""#
}
