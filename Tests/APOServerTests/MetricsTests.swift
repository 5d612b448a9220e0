@testable import APOServer
import APOStore
import APOTestSupport
import Foundation
import Testing

/// `GET /metrics`: scraped from a real apod, parsed by Prometheus' own text parser, checked
/// against what the store records.
@Suite(.serialized)
struct MetricsTests {
    @Test func aScrapeAfterARunMatchesTheStore() throws {
        let sandbox = try DaemonSandbox()
        defer { sandbox.cleanup() }
        let (daemon, http) = try sandbox.startDaemon(workers: 2)
        let yaml = try String(contentsOf: PrometheusText.repositoryRoot().appendingPathComponent("pipelines/noop-chain.yaml"),
                              encoding: .utf8)
        let run = try #require(try http.post("/api/runs", body: yaml).object["run"] as? Int)
        #expect(try http.waitForRunEnd(run) == "succeeded")

        let answer = try http.get("/metrics")
        #expect(answer.status == 200)
        #expect(answer.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        let scrape = try PrometheusText(parsing: answer.text)
        let expectedTypes = [
            "apo_jobs": "gauge", "apo_job_claims": "counter", "apo_job_completions": "counter",
            "apo_job_retries": "counter", "apo_lease_expiries": "counter", "apo_workers": "gauge",
            "apo_job_claim_latency_seconds": "histogram", "apo_job_duration_seconds": "histogram",
        ]
        for (name, type) in expectedTypes {
            let family = try #require(scrape.families[name], "no family \(name) in:\n\(answer.text)")
            #expect(family.type == type, "\(name)")
            #expect(!family.help.isEmpty, "\(name) has no HELP")
        }

        // What the store says: every job of the chain succeeded at its first attempt.
        let store = try JobStore.openExisting(path: sandbox.databasePath)
        let jobs = try store.jobs(runID: Int64(run))
        let attempts = try jobs.flatMap { try store.attempts(jobID: $0.id) }
        #expect(jobs.count == 5)
        let noop = ["kind": "noop"]
        #expect(scrape.value("apo_jobs", ["kind": "noop", "state": "succeeded"]) == Double(jobs.count))
        #expect(scrape.value("apo_jobs", ["kind": "noop", "state": "running"]) == 0)
        #expect(scrape.value("apo_job_claims_total", noop) == Double(attempts.count))
        #expect(scrape.value("apo_job_completions_total", ["kind": "noop", "outcome": "succeeded"])
                == Double(attempts.filter { $0.outcome == "succeeded" }.count))
        #expect(scrape.value("apo_job_retries_total", noop) == Double(attempts.filter { $0.number > 1 }.count))
        #expect(scrape.value("apo_lease_expiries_total", noop) == 0)
        #expect(scrape.value("apo_job_duration_seconds_count", noop) == Double(attempts.count))
        let durations = attempts.reduce(0.0) { $0 + $1.finishedAt!.timeIntervalSince($1.startedAt) }
        #expect(abs((scrape.value("apo_job_duration_seconds_sum", noop) ?? -1) - durations) < 1e-6)
        #expect(scrape.value("apo_job_duration_seconds_bucket", ["kind": "noop", "le": "+Inf"]) == Double(attempts.count))
        #expect(scrape.value("apo_job_claim_latency_seconds_count", noop) == Double(attempts.filter { $0.number == 1 }.count))
        let host = try #require(try store.hosts(now: Date(), lostAfter: JobStore.hostLostAfterSeconds).first)
        #expect(scrape.value("apo_workers", ["host": host.name]) == 2)

        // Counted once: a second scrape of the same store adds nothing.
        let again = try PrometheusText(parsing: try http.get("/metrics").text)
        #expect(again.value("apo_job_claims_total", noop) == Double(attempts.count))
        #expect(again.value("apo_job_duration_seconds_count", noop) == Double(attempts.count))
        _ = sandbox.stop(daemon)

        // The daemon stopped cleanly and removed its host: no stale worker count is left behind.
        let after = try PrometheusText(parsing: try StoreMetrics().scrape(store, now: Date()))
        #expect(after.value("apo_workers", ["host": host.name]) == nil)
        #expect(after.value("apo_job_claims_total", noop) == Double(attempts.count), "a fresh exporter counts the history again")
    }

    /// Training values of running jobs, lease expiries and retries, from the store's rows as a
    /// worker on another host would leave them.
    @Test func trainingValuesExpiriesAndRetriesComeFromTheStore() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("apo-metrics-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.checkTrainingValuesExpiriesAndRetries(try JobStore(path: dir.appendingPathComponent("apo.db").path), dir: dir)
    }

    /// The same on PostgreSQL, where claims come from workers on many hosts.
    @Test func trainingValuesExpiriesAndRetriesOnPostgres() throws {
        let url = try TestPostgres.createDatabase()
        defer { TestPostgres.dropDatabase(url) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("apo-metrics-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.checkTrainingValuesExpiriesAndRetries(try JobStore(path: url), dir: dir)
    }

    static func checkTrainingValuesExpiriesAndRetries(_ store: JobStore, dir: URL) throws {
        let start = Date()
        let run = try store.createRun(NewRun(pipelineName: "t", pipelineYAML: "name: t", pipelineHash: "h",
                                             artifactRoot: dir.path,
                                             jobs: [NewJob(key: "rm", kind: "train-rm", maxAttempts: 3, backoffBaseSeconds: 0)]),
                                      now: start)
        let metrics = StoreMetrics()

        let first = try #require(try store.claimNextJob(workerID: "w1@hostb:1", leaseDuration: 5, now: start))
        try store.recordMetric(first.lease, step: 1, name: "loss", value: 0.9, now: start)
        try store.recordMetric(first.lease, step: 2, name: "loss", value: 0.7, now: start)
        try store.recordMetric(first.lease, step: 2, name: "tokens_per_s", value: 1234.5, now: start)
        try store.recordMetric(first.lease, step: 2, name: "samples_per_s", value: 8.25, now: start)
        let labels = ["run": String(run), "job": "rm", "kind": "train-rm"]
        var scrape = try PrometheusText(parsing: try metrics.scrape(store, now: start))
        #expect(scrape.families["apo_training_loss"]?.type == "gauge")
        #expect(scrape.value("apo_training_loss", labels) == 0.7)
        #expect(scrape.value("apo_training_tokens_per_second", labels) == 1234.5)
        #expect(scrape.value("apo_training_samples_per_second", labels) == 8.25)
        #expect(scrape.value("apo_job_claims_total", ["kind": "train-rm"]) == 1)

        // The worker's host dies: the lease expires, the job is claimed again.
        let later = start.addingTimeInterval(10)
        #expect(try store.reapExpiredLeases(now: later) == [first.job.id])
        scrape = try PrometheusText(parsing: try metrics.scrape(store, now: later))
        #expect(scrape.value("apo_lease_expiries_total", ["kind": "train-rm"]) == 1)
        #expect(scrape.value("apo_job_completions_total", ["kind": "train-rm", "outcome": "expired"]) == 1)
        #expect(scrape.value("apo_training_loss", labels) == nil, "a job no longer running has no current loss")
        let second = try #require(try store.claimNextJob(workerID: "w2@hosta:1", leaseDuration: 5, now: later))
        try store.complete(second.lease, outputsJSON: "{}", memoKey: nil, now: later.addingTimeInterval(3))
        scrape = try PrometheusText(parsing: try metrics.scrape(store, now: later.addingTimeInterval(4)))
        #expect(scrape.value("apo_job_claims_total", ["kind": "train-rm"]) == 2)
        #expect(scrape.value("apo_job_retries_total", ["kind": "train-rm"]) == 1)
        #expect(scrape.value("apo_job_completions_total", ["kind": "train-rm", "outcome": "succeeded"]) == 1)
        #expect(scrape.value("apo_job_duration_seconds_count", ["kind": "train-rm"]) == 2)
        #expect(scrape.value("apo_job_claim_latency_seconds_count", ["kind": "train-rm"]) == 1, "retries wait a backoff; not counted")
        #expect(scrape.value("apo_jobs", ["kind": "train-rm", "state": "succeeded"]) == 1)
    }
}
