extension WebPage {
    /// `/assets/log-view.js`. Kept as written (a raw string: no escapes), so it reads as the file it is.
    static let logViewJS = #"""
// A log followed live: Server-Sent Events from `/api/…/logs/stream`, one `log` event per line,
// then `end` once the run has ended and every line is sent. The browser's EventSource reconnects
// by itself after a network error and resumes from the last line id it saw (Last-Event-ID).
import { el, clear } from './dom.js';
import { time } from './format.js';

/// Lines kept on the page; older ones are dropped (the full log stays in the API).
const keptLines = 3000;

export class LogView {
  constructor(container) {
    this.status = el('span', { class: 'log-status muted' });
    this.lines = el('div', { class: 'log-lines', id: 'log-lines', tabindex: 0 });
    this.title = el('span', { class: 'log-title' });
    clear(container).append(el('div', { class: 'log-head' }, this.title, this.status), this.lines);
    this.source = null;
    this.url = null;
  }

  /// Follows `url` (nothing changes when it is the one already followed). `showJob`: prefix each
  /// line with its job's key, for a whole run's log. `running`: the run is running, so a stream
  /// that ended (the run had ended, then was resumed) is opened again.
  follow(url, title, showJob, running) {
    if (url === this.url && (this.source !== null || !running)) return;
    this.stop();
    this.url = url;
    this.showJob = showJob;
    this.title.textContent = title;
    clear(this.lines);
    this.setStatus('connecting…');
    const source = new EventSource(url);
    this.source = source;
    source.addEventListener('open', () => this.setStatus('following live'));
    source.addEventListener('log', (event) => this.append(JSON.parse(event.data)));
    source.addEventListener('end', (event) => {
      source.close();
      if (this.source === source) this.source = null;
      this.setStatus(`complete (run ${JSON.parse(event.data).state})`);
    });
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CLOSED) this.setStatus('disconnected');
      else this.setStatus('reconnecting…');
    });
  }

  stop() {
    if (this.source) this.source.close();
    this.source = null;
    this.url = null;
  }

  setStatus(text) {
    this.status.textContent = text;
  }

  append(line) {
    const atBottom = this.lines.scrollHeight - this.lines.scrollTop - this.lines.clientHeight < 24;
    const row = el('div', { class: `log-line stream-${line.stream}` },
      el('span', { class: 'log-time' }, time(line.at)),
      this.showJob ? el('span', { class: 'log-job' }, line.job) : null,
      el('span', { class: 'log-text' }, line.line));
    this.lines.append(row);
    while (this.lines.childElementCount > keptLines) this.lines.firstElementChild.remove();
    if (atBottom) this.lines.scrollTop = this.lines.scrollHeight;
  }
}
"""#
}
