import Foundation
import Testing

/// The web page at `/` in a real headless Chromium against a real `apod --http`: the runs list
/// picks up a run submitted while it is open, the run page draws the run's jobs (rounds framed),
/// follows a job's log live, shows states changing, and its cancel, resume and retry buttons work
/// with the token.
@Suite(.serialized)
struct WebPageTests {
    static let token = "web-page-token-0123456789"

    /// `start` → rounds of `step` → `finish`; `slow` logs while it runs; `hold` runs until cancelled.
    static let pipeline = """
        name: web-page
        jobs:
          - {id: start, kind: noop, params: {value: hello, artifact: start.json}}
          - {id: slow, kind: sleep, needs: [start], params: {seconds: 2, log_every: 0.2}}
          - {id: hold, kind: sleep, params: {seconds: 600}}
        round_jobs:
          - {id: step, kind: noop, params: {value: "${prev.step.outputs.value|jobs.start.outputs.value} -> ${round}"}}
        rounds: 2
        after_rounds:
          - {id: finish, kind: noop, params: {value: "${rounds.last.step.outputs.value}"}}
        """

    static let keys = ["start", "slow", "hold", "r1.step", "r2.step", "finish"]

    @Test func pageServedFromTheBinaryWithItsAssets() throws {
        let sandbox = try DaemonSandbox()
        defer { sandbox.cleanup() }
        let (daemon, http) = try sandbox.startDaemon()
        let page = try http.get("/")
        #expect(page.status == 200)
        #expect(page.headers["content-type"] == "text/html; charset=utf-8")
        #expect(page.headers["content-security-policy"]?.contains("script-src 'self'") == true)
        #expect(page.text.contains("<script type=\"module\" src=\"/assets/app.js\">"))
        let script = try http.get("/assets/app.js")
        #expect(script.status == 200)
        #expect(script.headers["content-type"] == "text/javascript; charset=utf-8")
        let etag = try #require(script.headers["etag"])
        #expect(try http.get("/assets/app.js", headers: ["If-None-Match": etag]).status == 304)
        #expect(try http.get("/assets/style.css").headers["content-type"] == "text/css; charset=utf-8")
        let missing = try http.get("/assets/nothing.js")
        #expect(missing.status == 404)
        #expect(missing.object["error"] as? String == "no asset 'nothing.js'")
        // Nothing on the page comes from elsewhere: no absolute URL in the page or its scripts.
        #expect(!page.text.contains("http://") && !page.text.contains("https://"))
        _ = sandbox.stop(daemon)
    }

    @Test func runsAndJobsAppearAndChangeLiveInHeadlessChromium() throws {
        let sandbox = try DaemonSandbox()
        defer { sandbox.cleanup() }
        let tokenFile = try sandbox.write("token", Self.token + "\n")
        let (daemon, http) = try sandbox.startDaemon(extra: ["--token-file", tokenFile])
        let browser = try HeadlessChromium(scratch: sandbox.directory)
        defer { browser.close() }

        // The list is open before the run exists: the run must appear by the page's own updates.
        try browser.open(http.base + "/#/")
        try browser.waitFor("the empty runs list", "document.querySelector('#runs-table tbody')?.textContent.includes('No runs')")
        let created = try http.post("/api/runs", body: Self.pipeline, token: Self.token)
        let run = try #require(created.object["run"] as? Int, "submit: \(created.text)")
        let row = "#runs-table tr[data-run-id='\(run)']"
        try browser.waitFor("run \(run) in the list", "document.querySelector(\"\(row)\")?.textContent.includes('web-page')")

        // Its page, through the link: every job in the DAG, the rounds framed.
        try browser.evaluate("document.querySelector(\"\(row) a\").click()")
        let drawn = try browser.waitFor("the run's jobs in the DAG", """
            (() => { const keys = [...document.querySelectorAll('svg.dag .dag-node')].map(n => n.dataset.jobKey).sort();
                     return keys.length === \(Self.keys.count) ? keys : null; })()
            """)
        #expect(drawn as? [String] == Self.keys.sorted())
        let frames = try browser.evaluate("[...document.querySelectorAll('svg.dag .group-round text')].map(t => t.textContent).sort()")
        #expect(frames as? [String] == ["round 1", "round 2"])
        try browser.waitFor("the run's head", "document.querySelector('.run-head h2')?.textContent === 'Run #\(run) · web-page'")
        try browser.waitFor("the daemon sessions that serve it", "document.querySelector('.run-facts')?.textContent.endsWith('served by 1 apod session on 1 host')")

        // `slow`'s log followed live, then its state reaching succeeded while the page is open.
        try select(browser, "slow")
        try browser.waitFor("slow's log lines", "document.querySelector('#log-lines')?.textContent.includes('sleep: slept')")
        try browser.waitFor("slow succeeded", "document.querySelector(\"[data-job-key='slow']\")?.dataset.state === 'succeeded'")

        // `hold` runs; cancelling it from the page needs the token: refused without, done with.
        try browser.waitFor("hold running", "document.querySelector(\"[data-job-key='hold']\")?.dataset.state === 'running'")
        try select(browser, "hold")
        try browser.waitFor("hold's panel", "document.querySelector('#job-panel .job-key')?.textContent === 'hold' && !document.querySelector('#cancel-job').disabled")
        try clickTwice(browser, "#cancel-job")
        try browser.waitFor("the refusal", "document.querySelector('#message')?.textContent.includes('Authorization: Bearer')")
        #expect(try http.get("/api/jobs/\(try http.jobID(run: run, key: "hold"))").object["job"].flatMap { ($0 as? [String: Any])?["state"] as? String } == "running")
        try browser.evaluate("""
            (() => { const field = document.querySelector('#token-input'); field.value = '\(Self.token)';
                     field.dispatchEvent(new Event('change')); })()
            """)
        try clickTwice(browser, "#cancel-job")
        try browser.waitFor("hold cancelled", "document.querySelector(\"[data-job-key='hold']\")?.dataset.state === 'cancelled'")
        let runState = try http.waitForRunEnd(run)
        try browser.waitFor("the run's final state", "document.querySelector('.run-head .badge')?.dataset.state === '\(runState)'")
        #expect(try browser.evaluate("sessionStorage.getItem('apo.token')") as? String == Self.token)

        // Resumed from the page: `hold` runs again and its ended log stream is followed anew.
        try browser.waitFor("the log's end", "document.querySelector('.log-status')?.textContent.startsWith('complete')")
        try browser.evaluate("document.querySelector('#resume-run').click()")
        try browser.waitFor("hold running again", "document.querySelector(\"[data-job-key='hold']\")?.dataset.state === 'running'")
        try browser.waitFor("the run running again", "document.querySelector('.run-head .badge')?.dataset.state === 'running'")
        try browser.waitFor("the log followed again", "document.querySelector('.log-status')?.textContent === 'following live'")

        // Cancelled once more, then retried from the job's panel: `hold` runs a third attempt.
        try browser.waitFor("cancel enabled", "!document.querySelector('#cancel-job').disabled")
        try clickTwice(browser, "#cancel-job")
        try browser.waitFor("hold cancelled again", "document.querySelector(\"[data-job-key='hold']\")?.dataset.state === 'cancelled'")
        try browser.waitFor("retry enabled", "!document.querySelector('#retry-job').disabled")
        try browser.evaluate("document.querySelector('#retry-job').click()")
        try browser.waitFor("hold running after the retry", "document.querySelector(\"[data-job-key='hold']\")?.dataset.state === 'running'")
        let attempts = try http.get("/api/jobs/\(try http.jobID(run: run, key: "hold"))").object["attempts"] as? [Any]
        #expect(attempts?.count == 3, "hold's attempts: \(String(describing: attempts))")

        #expect(browser.pageErrors.isEmpty, "page errors: \(browser.pageErrors)")
        #expect(sandbox.stop(daemon) == 0, "\(sandbox.daemonLogs())")
    }

    /// The curves and tables from metrics shaped as `GET /api/jobs/{id}` gives them (no job kind
    /// that records them runs in seconds): a chart per metric with a line per job, redrawn with
    /// more points as they arrive; the evaluate jobs' RM and policy tables.
    @Test func trainingCurvesAndEvaluationTablesDrawFromJobMetrics() throws {
        let sandbox = try DaemonSandbox()
        defer { sandbox.cleanup() }
        let (daemon, http) = try sandbox.startDaemon()
        let browser = try HeadlessChromium(scratch: sandbox.directory)
        defer { browser.close() }
        try browser.open(http.base + "/#/")
        try browser.waitFor("the page", "document.querySelector('#runs-table') !== null")
        let drawn = try browser.evaluate("""
            (async () => {
              const { renderTrainingCurves } = await import('/assets/training-curves.js');
              const { renderEvaluation } = await import('/assets/evaluation-tables.js');
              const series = (n, f) => Array.from({ length: n }, (_, i) => ({ step: i + 1, value: f(i), at: '' }));
              const rm = (n) => ({ job: { key: 'r1.apo_rm', kind: 'train-rm' }, metrics: { loss: series(n, (i) => 1 / (i + 1)), accuracy: series(n, () => 0.5) } });
              const policy = { job: { key: 'r1.policy', kind: 'train-llm' }, metrics: { loss: series(3, (i) => 2 - i) } };
              const box = document.createElement('div');
              document.body.append(box);
              const lines = () => [...box.querySelectorAll('figure.chart')].map((f) =>
                f.dataset.chart + ': ' + [...f.querySelectorAll('path.series')].map((p) => p.dataset.series + '=' + p.dataset.points).join(','));
              renderTrainingCurves(box, [rm(4), policy]);
              const before = lines();
              renderTrainingCurves(box, [rm(9), policy]);
              const after = lines();
              const evaluate = { job: { key: 'r1.evaluate', kind: 'evaluate' }, metrics: {
                'rm.apo.accuracy': [{ step: 1, value: 0.625 }], 'rm.apo.ece': [{ step: 1, value: 0.125 }],
                'policy.average_reward': [{ step: 1, value: 0.25 }], 'policy.win_rate.baseline': [{ step: 1, value: 0.75 }] } };
              const golden = { job: { key: 'r1.golden_preference', kind: 'evaluate' }, params: { arm: 'golden' },
                metrics: { 'rm.testing.accuracy': [{ step: 1, value: 0.875 }] } };
              renderEvaluation(box, [evaluate, golden]);
              const rows = [...box.querySelectorAll('table.evaluation tbody tr')].map((r) =>
                r.closest('table').dataset.table + ':' + [...r.children].map((c) => c.textContent).join('|'));
              box.remove();
              return { before, after, rows };
            })()
            """) as? [String: [String]]
        #expect(drawn?["before"] == ["RM training loss: r1.apo_rm=4", "RM training accuracy: r1.apo_rm=4", "Policy training loss: r1.policy=3"])
        #expect(drawn?["after"] == ["RM training loss: r1.apo_rm=9", "RM training accuracy: r1.apo_rm=9", "Policy training loss: r1.policy=3"])
        #expect(drawn?["rows"] == ["rm:r1.evaluate|apo|1|0.625|–|0.125|–|–", "golden:r1.golden_preference|testing|1|0.875|–|–|–|–",
                                   "policy:r1.evaluate|1|0.25|0.75"])
        #expect(browser.pageErrors.isEmpty, "page errors: \(browser.pageErrors)")
        _ = sandbox.stop(daemon)
    }

    /// A matrix run: one lane per cell beside the shared jobs' lane; the edges from a shared job
    /// into the cells are faint until that job is selected. Served by a daemon without workers, so
    /// the picture holds still.
    @Test func matrixCellsAreLanesAndEdgesIntoThemAreFaintUntilSelected() throws {
        let sandbox = try DaemonSandbox()
        defer { sandbox.cleanup() }
        let (daemon, http) = try sandbox.startDaemon(workers: 0)
        let created = try http.post("/api/runs", body: """
            name: web-matrix
            matrix: {seed: [1, 2]}
            jobs:
              - {id: split, kind: noop, params: {value: shared}}
              - {id: train, kind: noop, needs: [split], params: {value: "${matrix.seed}"}}
              - {id: check, kind: noop, needs: [train], params: {value: done}}
            """)
        let run = try #require(created.object["run"] as? Int, "submit: \(created.text)")
        let browser = try HeadlessChromium(scratch: sandbox.directory)
        defer { browser.close() }
        try browser.open(http.base + "/#/runs/\(run)")
        try browser.waitFor("five jobs drawn", "document.querySelectorAll('svg.dag .dag-node').length === 5")
        let lanes = try browser.evaluate("[...document.querySelectorAll('svg.dag .group-cell text')].map(t => t.textContent)")
        #expect(lanes as? [String] == ["shared", "seed=1", "seed=2"])
        let edges = "[...document.querySelectorAll('svg.dag path.edge')].map(e => `${e.dataset.from}>${e.dataset.to}:${e.getAttribute('class')}`).sort()"
        #expect(try browser.evaluate(edges) as? [String] == [
            "seed=1/train>seed=1/check:edge", "seed=2/train>seed=2/check:edge",
            "split>seed=1/train:edge crossing", "split>seed=2/train:edge crossing",
        ])
        let opacity = "getComputedStyle(document.querySelector(\"path.edge[data-from='split']\")).strokeOpacity"
        #expect(try browser.evaluate(opacity) as? String == "0.2")
        try select(browser, "split")
        try browser.waitFor("split's edges highlighted", "document.querySelectorAll('svg.dag path.edge.crossing.selected').length === 2")
        #expect(try browser.evaluate(opacity) as? String == "1")
        #expect(browser.pageErrors.isEmpty, "page errors: \(browser.pageErrors)")
        #expect(sandbox.stop(daemon) == 0, "\(sandbox.daemonLogs())")
    }

    /// The run page's time left costs each unfinished job at its step's finished copies, not at
    /// the share of jobs done (the module, in the page's own browser, on a made-up DAG).
    @Test func timeLeftCostsEachJobAtItsStepsFinishedCopies() throws {
        let sandbox = try DaemonSandbox()
        defer { sandbox.cleanup() }
        let (daemon, http) = try sandbox.startDaemon(workers: 0)
        let browser = try HeadlessChromium(scratch: sandbox.directory)
        defer { browser.close() }
        try browser.open(http.base + "/#/")
        try browser.waitFor("the page", "document.querySelector('#runs-table') !== null")
        let left = try browser.evaluate("""
            (async () => {
              const { runTimeLeft } = await import('/assets/run-eta.js');
              const job = (key, state, durationSeconds, memoizedFromJobId = null) => ({ key, state, durationSeconds, memoizedFromJobId });
              const none = runTimeLeft([job('a', 'running', 5)]);
              const jobs = [
                job('seed=1/r1.gen', 'succeeded', 100), job('seed=2/r1.gen', 'succeeded', 200),
                job('prepare', 'succeeded', 30),
                job('seed=1/r1.pairs', 'succeeded', 0.5, 7),        // memoized: not a measure
                job('seed=3/r1.gen', 'queued', null),                // gen's mean: 150
                job('seed=1/r2.gen', 'running', 50),                 // 150 - 50
                job('seed=1/r2.train', 'blocked', null),             // no copy done: the median job, 100
                job('seed=2/r2.gen', 'failed', 10),                  // over
              ];
              return [none, runTimeLeft(jobs)];
            })()
            """) as? [Any]
        #expect(left?.first is NSNull, "nothing has finished yet: no estimate")
        #expect(left?.last as? Double == 350, "\(String(describing: left))")
        #expect(browser.pageErrors.isEmpty, "page errors: \(browser.pageErrors)")
        _ = sandbox.stop(daemon)
    }

    /// Clicks the job's box in the DAG and waits for the log to switch to it.
    private func select(_ browser: HeadlessChromium, _ key: String) throws {
        try browser.evaluate("document.querySelector(\"[data-job-key='\(key)']\").dispatchEvent(new MouseEvent('click', {bubbles: true}))")
        try browser.waitFor("\(key) selected", "document.querySelector('.log-title')?.textContent === 'Log of \(key)'")
    }

    /// The cancel buttons ask for a second click.
    private func clickTwice(_ browser: HeadlessChromium, _ selector: String) throws {
        try browser.evaluate("document.querySelector('\(selector)').click()")
        try browser.waitFor("the armed button", "document.querySelector('\(selector)').classList.contains('armed')")
        try browser.evaluate("document.querySelector('\(selector)').click()")
    }
}
