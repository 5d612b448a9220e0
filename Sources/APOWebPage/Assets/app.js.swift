extension WebPage {
    /// `/assets/app.js`. Kept as written (a raw string: no escapes), so it reads as the file it is.
    static let appJS = #"""
// The page's entry: the token field, the message line, and the router. `#/` shows the runs,
// `#/runs/ID` a run, `#/runs/ID/jobs/JOB` a run with one job selected.
import { token, setToken } from './api.js';
import { showRunsPage } from './runs-page.js';
import { RunPage } from './run-page.js';

const view = document.getElementById('view');
const message = document.getElementById('message');
let current = { stop() {} };

/// Shows `text` in the message line (an error unless `kind` says otherwise); null clears it.
function report(text, kind = 'error') {
  message.textContent = text || '';
  message.className = text ? `message ${kind}` : 'message';
}

function route() {
  const match = /^#\/runs\/(\d+)(?:\/jobs\/(\d+))?\/?$/.exec(location.hash);
  if (match) {
    const runID = Number(match[1]);
    const jobID = match[2] ? Number(match[2]) : null;
    if (current instanceof RunPage && current.runID === runID) {
      current.select(jobID);
      return;
    }
    current.stop();
    report(null);
    current = new RunPage(view, runID, report);
    current.select(jobID);
    document.title = `Run #${runID} · apo`;
    return;
  }
  current.stop();
  report(null);
  current = { stop: showRunsPage(view, report) };
  document.title = 'Runs · apo';
}

function setUpTokenField() {
  const field = document.getElementById('token-input');
  field.value = token();
  field.addEventListener('change', () => {
    setToken(field.value.trim());
    report(field.value.trim() ? 'token kept for this tab' : 'token cleared', 'ok');
  });
}

setUpTokenField();
window.addEventListener('hashchange', route);
route();
"""#
}
