extension WebPage {
    /// `/assets/dom.js`. Kept as written (a raw string: no escapes), so it reads as the file it is.
    static let domJS = #"""
// Building elements. Text always goes in as text nodes, never as HTML: job keys, log lines and
// error messages come from pipelines and jobs, not from this page.
const svgNamespace = 'http://www.w3.org/2000/svg';

/// `el('td', {class: 'num'}, 'text', child)`: attributes (on* names become listeners), then
/// children (strings become text; null and false are left out).
export function el(tag, attributes = {}, ...children) {
  return build(document.createElement(tag), attributes, children);
}

export function svg(tag, attributes = {}, ...children) {
  return build(document.createElementNS(svgNamespace, tag), attributes, children);
}

function build(node, attributes, children) {
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value == null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

/// A horizontal bar `fraction` full, with its label beside it.
export function progressBar(fraction, label, state) {
  const fill = el('div', { class: `bar-fill state-${state || 'running'}` });
  fill.style.width = `${Math.round(Math.max(0, Math.min(1, fraction || 0)) * 1000) / 10}%`;
  return el('div', { class: 'progress' }, el('div', { class: 'bar' }, fill), label ? el('span', { class: 'bar-label' }, label) : null);
}

/// A job or run state as a coloured badge.
export function stateBadge(state) {
  return el('span', { class: `badge state-${state}`, 'data-state': state }, state.replace('_', ' '));
}
"""#
}
