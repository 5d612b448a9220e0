extension WebPage {
    /// `/assets/dag-view.js`. Kept as written (a raw string: no escapes), so it reads as the file it is.
    static let dagViewJS = #"""
// The run's DAG as SVG: a box per job coloured by state, with a progress strip while it runs,
// edges from needs down to the jobs that need them, frames for matrix cells and rounds. Drawn once per
// set of jobs; later polls only update states and progress, so the picture does not flicker.
// An edge from a job every matrix cell shares into one cell crosses the lanes between: with three
// seeds those are most of the picture's lines, so they are drawn faint until either end is selected.
import { svg, clear } from './dom.js';
import { box, layoutDAG, splitKey } from './dag-layout.js';
import { percent, duration } from './format.js';

export class DAGView {
  constructor(container, onSelect) {
    this.container = container;
    this.onSelect = onSelect;
    this.signature = '';
    this.nodes = new Map();
    this.edges = [];
  }

  update(detail, selectedKey) {
    const signature = detail.jobs.map((job) => job.key).join('\n');
    if (signature !== this.signature) this.draw(detail);
    this.signature = signature;
    for (const job of detail.jobs) this.refreshNode(job, job.key === selectedKey);
    for (const edge of this.edges) {
      edge.element.classList.toggle('selected', edge.from === selectedKey || edge.to === selectedKey);
    }
  }

  draw(detail) {
    const layout = layoutDAG(detail.jobs);
    const positions = new Map(layout.nodes.map((node) => [node.job.key, node]));
    const root = svg('svg', {
      class: 'dag', width: layout.width, height: layout.height, viewBox: `0 0 ${layout.width} ${layout.height}`,
      role: 'img', 'aria-label': `DAG of run ${detail.run.id}`,
    });
    root.append(svg('defs', {}, svg('marker', {
      id: 'arrow', viewBox: '0 0 8 8', refX: 7, refY: 4, markerWidth: 8, markerHeight: 8, markerUnits: 'userSpaceOnUse', orient: 'auto',
    }, svg('path', { d: 'M0,0 L8,4 L0,8 z', class: 'arrow' }))));
    for (const group of layout.groups.filter((g) => g.kind === 'cell')) root.append(this.groupFrame(group));
    for (const group of layout.groups.filter((g) => g.kind === 'round')) root.append(this.groupFrame(group));
    this.edges = detail.edges.filter((e) => positions.has(e.from) && positions.has(e.to)).map((edge) => {
      const crossing = splitKey(edge.from).cell !== splitKey(edge.to).cell;
      const element = svg('path', {
        class: crossing ? 'edge crossing' : 'edge', d: edgePath(positions.get(edge.from), positions.get(edge.to)),
        'marker-end': 'url(#arrow)', 'data-from': edge.from, 'data-to': edge.to,
      });
      root.append(element);
      return { ...edge, element };
    });
    this.nodes.clear();
    for (const node of layout.nodes) {
      const element = this.nodeElement(node);
      this.nodes.set(node.job.key, element);
      root.append(element.group);
    }
    clear(this.container).append(root);
  }

  groupFrame(group) {
    return svg('g', { class: `group group-${group.kind}` },
      svg('rect', { x: group.x, y: group.y, width: group.width, height: group.height, rx: 8 }),
      svg('text', { x: group.x + 8, y: group.y + (group.kind === 'cell' ? 17 : 13) }, group.label));
  }

  nodeElement(node) {
    const job = node.job;
    const title = svg('title');
    const subtitle = svg('text', { class: 'node-sub', x: 8, y: 30 });
    const strip = svg('rect', { class: 'node-progress', x: 1, y: box.height - 5, height: 4, width: 0 });
    const group = svg('g', {
      class: 'dag-node', 'data-job-key': job.key, 'data-job-id': job.id, transform: `translate(${node.x},${node.y})`,
      tabindex: 0, role: 'button',
      onclick: () => this.onSelect(job),
      onkeydown: (event) => { if (event.key === 'Enter' || event.key === ' ') this.onSelect(job); },
    },
    title,
    svg('rect', { class: 'node-box', width: box.width, height: box.height, rx: 6 }),
    svg('text', { class: 'node-id', x: 8, y: 16 }, truncate(node.name, 20)),
    subtitle, strip);
    return { group, title, subtitle, strip };
  }

  refreshNode(job, selected) {
    const node = this.nodes.get(job.key);
    if (!node) return;
    const group = node.group;
    if (group.getAttribute('data-state') !== job.state) {
      group.setAttribute('data-state', job.state);
      group.setAttribute('class', `dag-node state-${job.state}${selected ? ' selected' : ''}`);
    }
    group.classList.toggle('selected', selected);
    const fraction = job.progress.total > 0 ? job.progress.done / job.progress.total : 0;
    node.strip.setAttribute('width', job.state === 'running' ? Math.max(2, (box.width - 2) * fraction) : 0);
    node.subtitle.textContent = truncate(`${job.kind} · ${subtitleOf(job, fraction)}`, 26);
    node.title.textContent = `${job.key} (${job.kind}): ${job.state.replace('_', ' ')}`
      + (job.attempts > 1 ? `, attempt ${job.attempts} of ${job.maxAttempts}` : '')
      + (job.error ? `\n${job.error}` : '');
  }
}

function subtitleOf(job, fraction) {
  if (job.state === 'running') return job.progress.total > 0 ? percent(fraction) : 'running';
  if (job.memoizedFromJobId != null) return 'memoized';
  if (job.durationSeconds != null && job.state !== 'queued') return duration(job.durationSeconds);
  return job.state.replace('_', ' ');
}

/// From the bottom of the needed job to the top of the one needing it.
function edgePath(from, to) {
  const x1 = from.x + box.width / 2;
  const y1 = from.y + box.height;
  const x2 = to.x + box.width / 2;
  const y2 = to.y - 2;
  const bend = Math.max(14, (y2 - y1) / 2);
  return `M${x1},${y1} C${x1},${y1 + bend} ${x2},${y2 - bend} ${x2},${y2}`;
}

function truncate(text, length) {
  return text.length <= length ? text : text.slice(0, length - 1) + '…';
}
"""#
}
