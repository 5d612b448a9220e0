extension WebPage {
    /// `/assets/dag-layout.js`. Kept as written (a raw string: no escapes), so it reads as the file it is.
    static let dagLayoutJS = #"""
// Where each job of a run's DAG goes. Pure: jobs (with their needs) in, boxes and frames out.
//
// Jobs flow top to bottom. A job key is `[CELL/][rN.]ID` (`seed=2/r1.apo_rm`): each matrix cell
// gets a lane of its own, side by side (the jobs every cell shares in the first lane). Within a
// lane the jobs come in segments: before the rounds, round 1, round 2, …, after the rounds.
// Segments line up across lanes, so round 2 of every seed is at the same height. Inside a
// segment a job's level is one below the deepest of its needs in that segment. Top to bottom
// because an APO round is deep (a dozen levels) and narrow (two or three jobs side by side): it
// fits a laptop screen beside the log, and many rounds scroll the natural way.

export const box = {
  width: 150, height: 40, slotGap: 14, levelGap: 26, segmentGap: 30, segmentTop: 20,
  laneTop: 26, laneGap: 16, margin: 10,
};

export function splitKey(key) {
  const slash = key.indexOf('/');
  const cell = slash < 0 ? null : key.slice(0, slash);
  const id = slash < 0 ? key : key.slice(slash + 1);
  const match = /^r(\d+)\.(.+)$/.exec(id);
  return { cell, id, round: match ? Number(match[1]) : null, name: match ? match[2] : id };
}

export function layoutDAG(jobs) {
  const byKey = new Map(jobs.map((job) => [job.key, { job, ...splitKey(job.key) }]));
  const lastRound = Math.max(0, ...[...byKey.values()].map((n) => n.round || 0));
  assignSegments(byKey, lastRound);
  assignLevels(byKey);
  const lanes = lanesOf(byKey);
  // Lanes are framed and named only when there are several.
  const framed = lanes.length > 1;
  const segmentY = segmentOffsets(byKey, lastRound, framed ? box.laneTop : 0);
  const nodes = [];
  const groups = [];
  let left = box.margin;
  for (const lane of lanes) {
    const width = placeLane(lane, byKey, segmentY, left + (framed ? 8 : 0));
    nodes.push(...lane.nodes);
    groups.push(...roundFrames(lane));
    if (framed) groups.push({ kind: 'cell', label: lane.cell || 'shared', x: left, y: box.margin / 2, width: width + 16 });
    left += width + (framed ? 16 : 0) + box.laneGap;
  }
  const height = Math.max(box.height, ...nodes.map((n) => n.y + box.height)) + box.margin;
  for (const group of groups) if (group.kind === 'cell') group.height = height - box.margin;
  return { nodes, groups, width: left - box.laneGap + box.margin, height };
}

/// 0: before the rounds; N: round N; last + 1: after (a job needing a round job, directly or not).
function assignSegments(byKey, lastRound) {
  const after = (node, seen = new Set()) => {
    if (node.after != null) return node.after;
    seen.add(node.job.key);
    node.after = node.job.needs.some((key) => {
      const up = byKey.get(key);
      return up && !seen.has(key) && (up.round != null || after(up, seen));
    });
    return node.after;
  };
  for (const node of byKey.values()) {
    node.segment = node.round != null ? node.round : after(node) ? lastRound + 1 : 0;
  }
}

function assignLevels(byKey) {
  const level = (node, depth = 0) => {
    if (node.level != null) return node.level;
    if (depth > byKey.size) return 0; // a cycle cannot be stored; do not loop if one is
    let value = 0;
    for (const key of node.job.needs) {
      const up = byKey.get(key);
      if (up && up.segment === node.segment) value = Math.max(value, level(up, depth + 1) + 1);
    }
    node.level = value;
    return value;
  };
  for (const node of byKey.values()) level(node);
}

/// The y of each segment's first level: segments as deep as their deepest lane.
function segmentOffsets(byKey, lastRound, laneTop) {
  const levels = new Array(lastRound + 2).fill(0);
  for (const node of byKey.values()) levels[node.segment] = Math.max(levels[node.segment], node.level + 1);
  const offsets = [];
  let y = box.margin + laneTop;
  levels.forEach((count, segment) => {
    // Room for a round's frame label above its first level.
    const top = segment > 0 && segment <= lastRound ? box.segmentTop : 0;
    offsets.push(y + top);
    if (count > 0) y += top + count * (box.height + box.levelGap) - box.levelGap + box.segmentGap;
  });
  return offsets;
}

function lanesOf(byKey) {
  const lanes = new Map();
  for (const node of byKey.values()) {
    const name = node.cell || '';
    if (!lanes.has(name)) lanes.set(name, { cell: node.cell, nodes: [] });
    lanes.get(name).nodes.push(node);
  }
  // The shared jobs first, then the cells in the order their first job appears.
  return [...lanes.values()].sort((a, b) => (a.cell == null ? -1 : 0) - (b.cell == null ? -1 : 0));
}

/// Slots inside the lane: each level ordered by where its jobs' needs sit, to keep edges short.
/// Returns the lane's width.
function placeLane(lane, byKey, segmentY, left) {
  const levels = new Map();
  for (const node of lane.nodes) {
    node.y = segmentY[node.segment] + node.level * (box.height + box.levelGap);
    if (!levels.has(node.y)) levels.set(node.y, []);
    levels.get(node.y).push(node);
  }
  let slots = 1;
  for (const y of [...levels.keys()].sort((a, b) => a - b)) {
    const level = levels.get(y);
    const weight = (node) => {
      const ups = node.job.needs.map((key) => byKey.get(key)).filter((up) => up && up.slot != null && up.cell === lane.cell);
      return ups.length ? ups.reduce((sum, up) => sum + up.slot, 0) / ups.length : 1e9;
    };
    level.sort((a, b) => weight(a) - weight(b));
    level.forEach((node, slot) => {
      node.slot = slot;
      node.x = left + slot * (box.width + box.slotGap);
    });
    slots = Math.max(slots, level.length);
  }
  return slots * (box.width + box.slotGap) - box.slotGap;
}

/// A frame around each round's jobs in the lane.
function roundFrames(lane) {
  const byRound = new Map();
  for (const node of lane.nodes) {
    if (node.round == null) continue;
    if (!byRound.has(node.round)) byRound.set(node.round, []);
    byRound.get(node.round).push(node);
  }
  return [...byRound.entries()].map(([round, nodes]) => {
    const left = Math.min(...nodes.map((n) => n.x)) - 6;
    const top = Math.min(...nodes.map((n) => n.y)) - box.segmentTop + 2;
    const right = Math.max(...nodes.map((n) => n.x)) + box.width + 6;
    const bottom = Math.max(...nodes.map((n) => n.y)) + box.height + 8;
    return { kind: 'round', label: `round ${round}`, x: left, y: top, width: right - left, height: bottom - top };
  });
}
"""#
}
