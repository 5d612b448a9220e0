extension WebPage {
    /// `/assets/style.css`. Kept as written (a raw string: no escapes), so it reads as the file it is.
    static let styleCSS = #"""
/* apod's web page. Laid out for a 1280-px laptop screen and up; the DAG scrolls sideways when a
   run has more columns than fit. */
:root {
  --bg: #f6f7f9; --card: #fff; --text: #1f2937; --muted: #6b7280; --line: #e5e7eb; --accent: #2563eb;
  --blocked: #9ca3af; --queued: #818cf8; --running: #2563eb; --succeeded: #16a34a;
  --failed: #dc2626; --upstream_failed: #ea580c; --cancelled: #4b5563;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
  font-size: 14px; color: var(--text); background: var(--bg);
}
body { margin: 0; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
h2 { font-size: 18px; margin: 0; }
h3 { font-size: 15px; margin: 0 0 8px; }
h4 { font-size: 13px; margin: 12px 0 4px; }
.muted { color: var(--muted); }
.small { font-size: 12px; }
.mono, pre, .log-lines { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; }

header.top { display: flex; align-items: center; gap: 16px; padding: 8px 16px; background: #111827; color: #e5e7eb; position: sticky; top: 0; z-index: 2; }
header.top a { color: #e5e7eb; }
.brand { font-weight: 700; font-size: 17px; letter-spacing: .5px; }
.message { flex: 1; font-size: 13px; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; }
.message.error { color: #fca5a5; }
.message.ok { color: #86efac; }
.token { font-size: 12px; display: flex; align-items: center; gap: 6px; }
.token input { width: 260px; padding: 4px 6px; border-radius: 4px; border: 1px solid #4b5563; background: #1f2937; color: #f9fafb; }

main { padding: 12px 16px 32px; max-width: 1680px; margin: 0 auto; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; margin-top: 12px; min-width: 0; }
.card-head { display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; }
.toolbar { display: flex; align-items: center; gap: 12px; margin-bottom: 10px; }
.toolbar select, .toolbar input { padding: 4px 6px; border: 1px solid var(--line); border-radius: 4px; }

button { font: inherit; font-size: 13px; padding: 4px 12px; border-radius: 5px; border: 1px solid #cbd5e1; background: #fff; cursor: pointer; }
button:hover:not(:disabled) { background: #f1f5f9; }
button:disabled { opacity: .45; cursor: default; }
button.danger { border-color: #fca5a5; color: #b91c1c; }
button.danger.armed { background: #dc2626; color: #fff; border-color: #dc2626; }
button.link { border: none; background: none; color: var(--accent); padding: 0; margin-left: auto; font-size: 12px; }
.buttons { display: inline-flex; gap: 8px; margin-left: auto; }

table.data { border-collapse: collapse; width: 100%; }
table.data th, table.data td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: middle; }
table.data th { font-weight: 600; color: var(--muted); font-size: 12px; }
table.data td.num, table.data th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.runs { background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
.runs-layout { display: grid; grid-template-columns: minmax(0, 1fr) 280px; gap: 16px; align-items: start; }
.runs-layout aside { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.host-list { list-style: none; padding: 0; margin: 0; }
.host-list li { margin-bottom: 6px; }
table.runs td:not(.small) { white-space: nowrap; }
.jobs-cell { width: 200px; }
.jobs-cell .bar { margin-bottom: 2px; }

.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; background: var(--blocked); white-space: nowrap; }
.badge.state-running { background: var(--running); }
.badge.state-succeeded, .badge.state-alive { background: var(--succeeded); }
.badge.state-failed, .badge.state-lost { background: var(--failed); }
.badge.state-cancelled { background: var(--cancelled); }
.badge.state-upstream_failed { background: var(--upstream_failed); }
.badge.state-queued { background: var(--queued); }

.progress { display: flex; align-items: center; gap: 10px; margin: 6px 0; }
.bar { flex: 1; height: 8px; background: #e5e7eb; border-radius: 4px; overflow: hidden; display: flex; min-width: 120px; }
.bar-fill { height: 100%; background: var(--running); transition: width .4s; }
.bar-label { font-size: 12px; color: var(--muted); white-space: nowrap; font-variant-numeric: tabular-nums; }
.bar-fill.state-succeeded { background: var(--succeeded); }
.bar-fill.state-failed { background: var(--failed); }
.bar-fill.state-cancelled { background: var(--cancelled); }
.bar-fill.state-upstream_failed { background: var(--upstream_failed); }
.bar-fill.state-queued { background: var(--queued); }
.bar-fill.state-blocked { background: #d1d5db; }

.run-head { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.run-title { display: flex; align-items: center; gap: 12px; }
.run-facts { margin-top: 4px; font-size: 13px; }
.run-progress .bar { height: 10px; }

/* A stable gutter: the card is sized to the DAG plus its vertical scroll bar, so no sideways one. */
.dag-scroll { overflow: auto; scrollbar-gutter: stable; max-height: calc(100vh - 210px); min-height: 200px; border-top: 1px solid var(--line); padding: 4px 4px 0 0; }
svg.dag { display: block; }
.dag .group rect { fill: none; stroke: #d1d5db; }
.dag .group-cell rect { fill: #f9fafb; stroke: #cbd5e1; }
.dag .group-round rect { fill: #eef2ff; fill-opacity: .55; stroke: #c7d2fe; stroke-dasharray: 4 3; }
.dag .group text { font-size: 11px; fill: var(--muted); font-weight: 600; }
.dag .edge { fill: none; stroke: #9ca3af; stroke-width: 1.2; }
.dag .edge.selected { stroke: var(--accent); stroke-width: 2; }
.dag .edge.crossing { stroke-opacity: 0.2; }
.dag .edge.crossing.selected { stroke-opacity: 1; }
.dag .arrow { fill: #9ca3af; }
.dag-node { cursor: pointer; outline: none; }
.dag-node .node-box { fill: #f3f4f6; stroke: var(--blocked); stroke-width: 1.3; }
.dag-node .node-id { font-size: 12.5px; font-weight: 600; fill: var(--text); }
.dag-node .node-sub { font-size: 11px; fill: var(--muted); }
.dag-node .node-progress { fill: var(--running); }
.dag-node:hover .node-box, .dag-node:focus .node-box { stroke-width: 2.5; }
.dag-node.state-blocked .node-id { fill: var(--muted); }
.dag-node.state-queued .node-box { fill: #eef2ff; stroke: var(--queued); }
.dag-node.state-running .node-box { fill: #dbeafe; stroke: var(--running); stroke-width: 2; animation: pulse 1.6s ease-in-out infinite; }
.dag-node.state-succeeded .node-box { fill: #dcfce7; stroke: var(--succeeded); }
.dag-node.state-failed .node-box { fill: #fee2e2; stroke: var(--failed); stroke-width: 2; }
.dag-node.state-upstream_failed .node-box { fill: #ffedd5; stroke: var(--upstream_failed); stroke-dasharray: 5 3; }
.dag-node.state-cancelled .node-box { fill: #e5e7eb; stroke: var(--cancelled); stroke-dasharray: 5 3; }
/* After the states: the selection shows over any of them. */
.dag-node.selected .node-box { stroke: #111827; stroke-width: 3; }
@keyframes pulse { 50% { stroke-opacity: .35; } }
@media (prefers-reduced-motion: reduce) { .dag-node.state-running .node-box { animation: none; } }

.legend { display: inline-flex; flex-wrap: wrap; gap: 4px 12px; font-size: 12px; color: var(--muted); }
.legend-item { display: inline-flex; align-items: center; gap: 4px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; background: var(--blocked); }
.swatch.state-queued { background: var(--queued); }
.swatch.state-running { background: var(--running); }
.swatch.state-succeeded { background: var(--succeeded); }
.swatch.state-failed { background: var(--failed); }
.swatch.state-upstream_failed { background: var(--upstream_failed); }
.swatch.state-cancelled { background: var(--cancelled); }

.run-grid { display: grid; grid-template-columns: minmax(0, max-content) minmax(440px, 1fr); gap: 12px; align-items: start; }
.dag-card .card-head h3 { margin-bottom: 4px; }
.dag-legend { display: flex; contain: inline-size; margin-bottom: 4px; }
.side { min-width: 0; }
.panel-head { display: flex; align-items: center; gap: 10px; }
.panel-head h3 { margin: 0; overflow-wrap: anywhere; }
.facts { display: grid; grid-template-columns: max-content 1fr max-content 1fr; gap: 2px 10px; margin: 10px 0; font-size: 13px; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; }
.error-text { background: #fef2f2; color: #991b1b; padding: 8px; border-radius: 4px; white-space: pre-wrap; overflow-wrap: anywhere; }
pre.json { background: #f9fafb; padding: 8px; border-radius: 4px; max-height: 240px; overflow: auto; }
details { margin-top: 8px; }
summary { cursor: pointer; color: var(--muted); font-size: 13px; }
.artifact-list { margin: 0; padding-left: 18px; }
.progress-message { font-size: 12px; color: var(--muted); margin: 0; }

.log-head { display: flex; align-items: baseline; gap: 12px; margin-bottom: 6px; }
.log-title { font-weight: 600; font-size: 15px; }
.log-status { font-size: 12px; }
.log-lines { height: 340px; overflow: auto; background: #0f172a; color: #e2e8f0; border-radius: 6px; padding: 6px 8px; }
.log-line { white-space: pre-wrap; overflow-wrap: anywhere; line-height: 1.45; }
.log-line.stream-stderr .log-text { color: #fca5a5; }
.log-time { color: #64748b; margin-right: 8px; }
.log-job { color: #93c5fd; margin-right: 8px; }

.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); gap: 12px; }
figure.chart { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
figure.chart figcaption { font-size: 13px; font-weight: 600; margin-bottom: 4px; }
.chart-svg { width: 100%; height: auto; display: block; }
.chart-svg .series { fill: none; stroke-width: 1.8; stroke-linejoin: round; }
.chart-svg .grid { stroke: #f1f5f9; }
.chart-svg .axis { stroke: #9ca3af; }
.chart-svg .tick { font-size: 10px; fill: var(--muted); }
.chart .legend { margin-top: 4px; }
table.evaluation { margin-bottom: 12px; }
"""#
}
