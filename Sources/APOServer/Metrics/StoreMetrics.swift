import APOStore
import Foundation
import Prometheus

/// apod's `/metrics`: the Prometheus text format, derived from the job store at each scrape.
///
/// Claims and completions happen in worker processes, possibly on other hosts, so nothing in
/// this process sees them happen; the store's attempt rows do record them all, with their times.
/// Gauges (jobs by state, workers, training values) are set from the store as it is now. Counters
/// and histograms count attempt rows the first time a scrape sees them (`AttemptLedger`), so they
/// only grow; a restarted apod starts again from the store's whole history, which Prometheus
/// handles as a counter reset.
final class StoreMetrics: @unchecked Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let lock = NSLock()
    private var ledger = AttemptLedger()
    private var kindsSeen: Set<String> = []
    private var trainingGauges: [String: Gauge] = [:]
    private var hostGauges: [String: Gauge] = [:]

    /// Store metric name → exported gauge, for the running jobs' newest values.
    static let trainingValues: [(stored: String, exported: String, help: String)] = [
        ("tokens_per_s", "apo_training_tokens_per_second", "Tokens per second of a running training job's last step."),
        ("samples_per_s", "apo_training_samples_per_second", "Examples per second of a running training job's last step."),
        ("loss", "apo_training_loss", "Loss of a running training job's last step."),
    ]
    static let claimLatencyBuckets: [Double] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800]
    static let durationBuckets: [Double] = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 14400, 43200]
    /// Attempts read per query while catching up.
    static let page = 5000

    /// Reads the store and renders every family. Called on the store's queue; one scrape at a
    /// time, so no attempt is counted twice.
    func scrape(_ store: JobStore, now: Date) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        try updateJobs(store)
        try countAttempts(store)
        try updateHosts(store, now: now)
        try updateTraining(store)
        return registry.emitToString()
    }

    private func updateJobs(_ store: JobStore) throws {
        let counts = try store.jobCountsByKindAndState()
        var byKey: [String: Int] = [:]
        for row in counts {
            byKey["\(row.kind)|\(row.state.rawValue)"] = row.count
            kindsSeen.insert(row.kind)
        }
        // Every state of every kind, zeros included, so a state emptying shows as 0, not a gap.
        for kind in kindsSeen {
            for state in JobState.allCases {
                gauge("apo_jobs", "Jobs in the store by kind and state.", [("kind", kind), ("state", state.rawValue)])
                    .set(Double(byKey["\(kind)|\(state.rawValue)"] ?? 0))
            }
            // Registered at zero, so a family is there before its first event.
            for (name, help) in Self.perKindCounters { _ = counter(name, help, [("kind", kind)]) }
            _ = claimLatency(kind)
            _ = duration(kind)
        }
    }

    static let perKindCounters = [
        ("apo_job_claims_total", "Attempts started: a worker claimed a job (any host)."),
        ("apo_job_retries_total", "Claims of a job after its first (a retry after a failure, an expired lease, a resume)."),
        ("apo_lease_expiries_total", "Attempts whose lease expired (the worker or its host died or froze)."),
    ]

    private func countAttempts(_ store: JobStore) throws {
        var attempts: [AttemptFacts] = []
        var from = ledger.floor
        while true {
            let page = try store.attemptFacts(fromID: from, limit: Self.page)
            attempts += page
            guard page.count == Self.page, let last = page.last else { break }
            from = last.id + 1
        }
        let news = ledger.absorb(attempts)
        for claim in news.claims {
            let kind = [("kind", claim.kind)]
            counter("apo_job_claims_total", Self.perKindCounters[0].1, kind).increment()
            if claim.number > 1 {
                counter("apo_job_retries_total", Self.perKindCounters[1].1, kind).increment()
            } else {
                // Retries wait out a backoff on purpose; only a first claim measures the queue.
                claimLatency(claim.kind).record(max(0, claim.startedAt - claim.readyAt))
            }
        }
        for finish in news.finishes {
            let outcome = finish.outcome ?? "unknown"
            counter("apo_job_completions_total", "Attempts finished, by outcome (succeeded, memoized, failed, expired, timed_out, released, cancelled).",
                    [("kind", finish.kind), ("outcome", outcome)]).increment()
            if outcome == "expired" {
                counter("apo_lease_expiries_total", Self.perKindCounters[2].1, [("kind", finish.kind)]).increment()
            }
            duration(finish.kind).record(max(0, (finish.finishedAt ?? finish.startedAt) - finish.startedAt))
        }
    }

    private func updateHosts(_ store: JobStore, now: Date) throws {
        var current: [String: Gauge] = [:]
        for host in try store.hosts(now: now, lostAfter: JobStore.hostLostAfterSeconds) {
            let workers = hostGauges[host.name] ?? gauge("apo_workers", "Worker processes of the daemons on a host that heartbeats (0 once it is lost).", [("host", host.name)])
            workers.set(host.isLost ? 0 : Double(host.workers))
            current[host.name] = workers
        }
        // A daemon stopped cleanly removes its host's row: the series ends rather than keep its last value.
        for (name, gauge) in hostGauges where current[name] == nil { registry.unregisterGauge(gauge) }
        hostGauges = current
    }

    private func updateTraining(_ store: JobStore) throws {
        let values = try store.runningJobMetrics(names: Self.trainingValues.map(\.stored))
        var current: [String: Gauge] = [:]
        for value in values {
            guard let spec = Self.trainingValues.first(where: { $0.stored == value.name }) else { continue }
            let labels = [("run", String(value.runID)), ("job", value.jobKey), ("kind", value.kind)]
            let id = "\(spec.exported)|\(value.jobID)"
            let gauge = trainingGauges[id] ?? gauge(spec.exported, spec.help, labels)
            gauge.set(value.value)
            current[id] = gauge
        }
        // A job that stopped running has no current value: its series ends.
        for (id, gauge) in trainingGauges where current[id] == nil { registry.unregisterGauge(gauge) }
        trainingGauges = current
    }

    private func claimLatency(_ kind: String) -> ValueHistogram {
        histogram("apo_job_claim_latency_seconds",
                  "Seconds from a job's last dependency finishing (or its creation) to its first claim.",
                  [("kind", kind)], Self.claimLatencyBuckets)
    }

    private func duration(_ kind: String) -> ValueHistogram {
        histogram("apo_job_duration_seconds", "Seconds from an attempt's claim to its end.", [("kind", kind)], Self.durationBuckets)
    }

    private func gauge(_ name: String, _ help: String, _ labels: [(String, String)]) -> Gauge {
        registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
    }

    private func counter(_ name: String, _ help: String, _ labels: [(String, String)]) -> Counter {
        registry.makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
    }

    private func histogram(_ name: String, _ help: String, _ labels: [(String, String)], _ buckets: [Double]) -> ValueHistogram {
        registry.makeValueHistogram(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help),
                                    labels: labels, buckets: buckets)
    }
}
