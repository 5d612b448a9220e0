import APOStore
import Foundation
import Testing

/// Several hosts' `apod`s sharing one PostgreSQL database. Each host is a network namespace with
/// its own link to the server (see `NamespaceHosts`); where this sandbox refuses namespaces, the
/// tests say so and run the daemons on loopback instead (the freeze stands in for the cut link).
@Suite(.serialized)
struct ManyHostsProcessTests {
    /// Two hosts, a database on a cluster of the test's own, and the daemons started on them.
    final class TwoHosts {
        let sandbox: RuntimeSandbox
        let cluster: TestPostgresCluster
        let namespaces: NamespaceHosts?
        let names = ["host-a", "host-b"]
        private(set) var daemons: [Process] = []

        init() throws {
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("apo-hosts-\(UUID().uuidString.prefix(8))", isDirectory: true)
            if let reason = NamespaceHosts.unavailableReason() {
                print("ManyHostsProcessTests: \(reason); the hosts are two daemons on loopback instead")
                namespaces = nil
            } else {
                namespaces = try NamespaceHosts(names: names)
            }
            cluster = try TestPostgresCluster(directory: directory.appendingPathComponent("pg"),
                                              listen: namespaces?.hosts.map(\.serverAddress) ?? [])
            try NamespaceHosts.run(["/usr/bin/psql", cluster.url(), "-qc", "CREATE DATABASE apo"])
            sandbox = try RuntimeSandbox(databasePath: cluster.url(database: "apo"))
        }

        /// Starts host `index`'s apod (2 workers, 2 s leases) where that host lives.
        func start(_ index: Int) throws {
            let host = namespaces?.hosts[index]
            let url = cluster.url(at: host?.serverAddress ?? "127.0.0.1", database: "apo")
            daemons.append(try sandbox.spawn(
                "apod", ["--db", url, "--workers", "2", "--host", names[index], "--lease-seconds", "2",
                         "--log-level", "info"],
                stderrName: "apod-\(names[index]).log", environment: ["APO_PG_QUERY_TIMEOUT": "1"],
                wrappedIn: host.map { namespaces!.command(in: $0, []) } ?? []))
        }

        /// The daemon of host `index` and its workers.
        func processes(_ index: Int) -> [Int32] {
            let pid = daemons[index].processIdentifier
            let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8))?
                .split(separator: " ").compactMap { Int32($0) } ?? []
            return [pid] + children
        }

        /// Every process of the host at once: frozen first, so no worker sees its daemon go and
        /// gives its job back cleanly, then killed.
        func killWholeHost(_ index: Int) {
            let pids = processes(index)
            for pid in pids { kill(pid, SIGSTOP) }
            for pid in pids { kill(pid, SIGKILL) }
        }

        func logs() -> String {
            names.map { "--- apod-\($0).log\n" + sandbox.read("apod-\($0).log") }.joined(separator: "\n")
        }

        deinit { sandbox.cleanup() }
    }

    /// `chains` chains of `length` sleep jobs that log while they run.
    static func sleepChains(_ chains: Int, _ length: Int, seconds: Double, in sandbox: RuntimeSandbox) -> NewRun {
        var jobs: [NewJob] = []
        for c in 0..<chains {
            for i in 0..<length {
                jobs.append(TestRuns.job("c\(c).j\(i)", "sleep", params: #"{"seconds":\#(seconds),"log_every":0.1}"#,
                                         needs: i == 0 ? [] : ["c\(c).j\(i - 1)"], maxAttempts: 5))
            }
        }
        return TestRuns.run(jobs, in: sandbox, name: "chains")
    }

    /// (job key, worker, outcome) of every attempt of the run.
    static func attempts(_ store: JobStore, runID: Int64) throws -> [(job: String, worker: String, outcome: String)] {
        try store.read { db in
            try db.fetchAll("""
                SELECT job, worker, outcome FROM job_history WHERE run_id = ? AND attempt IS NOT NULL
                """, [runID]).map { ($0["job"], $0["worker"], ($0["outcome"] as String?) ?? "running") }
        }
    }

    /// Every job finished exactly once, and no row was written by an attempt after it ended.
    static func expectEveryJobRanOnce(_ store: JobStore, runID: Int64, jobs: Int) throws {
        let finished = try attempts(store, runID: runID).filter { ["succeeded", "memoized"].contains($0.outcome) }
        #expect(finished.count == jobs)
        #expect(Set(finished.map(\.job)).count == jobs, "a job finished twice")
        #expect(try store.staleWrites().isEmpty)
    }

    @Test func twoHostsShareARunAndAHostKilledWholeIsReplaced() throws {
        let hosts = try TwoHosts()
        let store = try hosts.sandbox.store()
        let runID = try store.createRun(Self.sleepChains(6, 10, seconds: 0.15, in: hosts.sandbox), now: Date())
        try hosts.start(0)
        try hosts.start(1)
        try hosts.sandbox.waitUntil("host-b to be running a job after 15 jobs", timeout: 60) {
            let all = try Self.attempts(store, runID: runID)
            return all.filter { $0.outcome == "succeeded" }.count >= 15
                && all.contains { $0.worker.contains("@host-b:") && $0.outcome == "running" }
        }
        hosts.killWholeHost(1)
        let run = try hosts.sandbox.waitForRun(runID, timeout: 120)
        #expect(run.state == .succeeded, "\(hosts.logs())")
        let all = try Self.attempts(store, runID: runID)
        for host in hosts.names {
            #expect(all.contains { $0.worker.contains("@\(host):") && $0.outcome == "succeeded" }, "\(host) ran no job")
        }
        // The killed host's jobs were requeued by the other host's daemon once their leases expired.
        #expect(all.contains { $0.worker.contains("@host-b:") && $0.outcome == "expired" })
        try Self.expectEveryJobRanOnce(store, runID: runID, jobs: 60)
        let listed = try store.hosts(now: Date(), lostAfter: 5)
        #expect(listed.first { $0.name == "host-b" }?.isLost == true)
        #expect(listed.first { $0.name == "host-a" }?.isLost == false)
    }

    @Test func aHostCutOffLongerThanItsLeaseWritesNothingAndRejoins() throws {
        let hosts = try TwoHosts()
        let store = try hosts.sandbox.store()
        let runID = try store.createRun(Self.sleepChains(4, 3, seconds: 1.5, in: hosts.sandbox), now: Date())
        try hosts.start(0)
        try hosts.start(1)
        var cutJob = ""
        try hosts.sandbox.waitUntil("host-b to be running a job", timeout: 60) {
            cutJob = try Self.attempts(store, runID: runID)
                .first { $0.worker.contains("@host-b:") && $0.outcome == "running" }?.job ?? ""
            return !cutJob.isEmpty
        }
        // Longer than the 2 s lease and the 1 s statement timeout together.
        let pids = hosts.processes(1)
        if let namespaces = hosts.namespaces {
            try namespaces.cut(namespaces.hosts[1])
        } else {
            for pid in pids { kill(pid, SIGSTOP) }
        }
        Thread.sleep(forTimeInterval: 6)
        let healedAt = Date()
        if let namespaces = hosts.namespaces {
            try namespaces.heal(namespaces.hosts[1])
        } else {
            for pid in pids { kill(pid, SIGCONT) }
        }
        let run = try hosts.sandbox.waitForRun(runID, timeout: 120)
        #expect(run.state == .succeeded, "\(hosts.logs())")
        // The cut was real: host-b's worker could not heartbeat (cut link) or found its lease
        // taken (thawed), and gave its job up.
        try hosts.sandbox.waitUntil("host-b's worker to give up its job", timeout: 15) {
            hosts.sandbox.read("apod-host-b.log").contains("lease lost")
        }
        let hostBLog = hosts.sandbox.read("apod-host-b.log")
        #expect(hostBLog.contains("heartbeat for job") || hosts.namespaces == nil, "\(hostBLog)")
        let cut = try Self.attempts(store, runID: runID).filter { $0.job == cutJob }
        #expect(cut.filter { $0.outcome == "succeeded" }.count == 1)
        #expect(cut.contains { $0.worker.contains("@host-b:") && $0.outcome == "expired" }, "\(cut)")
        try Self.expectEveryJobRanOnce(store, runID: runID, jobs: 12)

        // host-b is back: its daemon heartbeats again and its workers take new jobs.
        try hosts.sandbox.waitUntil("host-b to heartbeat again", timeout: 30) {
            try store.hosts(now: Date(), lostAfter: 5).first { $0.name == "host-b" }
                .map { $0.lastHeartbeatAt > healedAt && !$0.isLost } ?? false
        }
        let second = try store.createRun(Self.sleepChains(8, 1, seconds: 0.5, in: hosts.sandbox), now: Date())
        #expect(try hosts.sandbox.waitForRun(second, timeout: 60).state == .succeeded)
        #expect(try Self.attempts(store, runID: second).contains { $0.worker.contains("@host-b:") && $0.outcome == "succeeded" },
                "host-b took no job after it came back\n\(hosts.logs())")
    }
}
