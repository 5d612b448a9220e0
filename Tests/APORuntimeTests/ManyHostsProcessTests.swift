import APOStore
import APOTestSupport
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

        /// Starts host `index`'s apod (2 workers, 2 s leases) where that host lives. With
        /// `hiding`, the host sees an empty folder there (a private mount namespace with a tmpfs
        /// over it), as a host that does not mount the artifact root would.
        func start(_ index: Int, hiding hidden: URL? = nil) throws {
            let host = namespaces?.hosts[index]
            let url = cluster.url(at: host?.serverAddress ?? "127.0.0.1", database: "apo")
            var wrapper = host.map { namespaces!.command(in: $0, []) } ?? []
            if let hidden {
                wrapper = ["/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
                           "mount -t tmpfs none \"$0\" && exec \"$@\"", hidden.path] + wrapper
            }
            daemons.append(try sandbox.spawn(
                "apod", ["--db", url, "--workers", "2", "--host", names[index], "--lease-seconds", "2",
                         "--log-level", "info"],
                stderrName: "apod-\(names[index]).log", environment: ["APO_PG_QUERY_TIMEOUT": "1"],
                wrappedIn: wrapper))
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

        /// `RuntimeSandbox.waitUntil`, failing with both hosts' logs.
        func waitUntil(_ what: String, timeout: TimeInterval, _ condition: () throws -> Bool) throws {
            do {
                try sandbox.waitUntil(what, timeout: timeout, condition)
            } catch {
                throw RuntimeSandbox.Failure(description: "\(error)\n\(logs())")
            }
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
        try hosts.waitUntil("host-b to be running a job after 15 jobs", timeout: 60) {
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
        // The run can end sooner than 5 s after the kill (2 s leases): wait for host-b's last
        // heartbeat to age past the threshold rather than assume it already has.
        try hosts.waitUntil("host-b to be listed as lost", timeout: 30) {
            try store.hosts(now: Date(), lostAfter: 5).first { $0.name == "host-b" }?.isLost == true
        }
        #expect(try store.hosts(now: Date(), lostAfter: 5).first { $0.name == "host-a" }?.isLost == false)
    }

    @Test func aHostCutOffLongerThanItsLeaseWritesNothingAndRejoins() throws {
        let hosts = try TwoHosts()
        let store = try hosts.sandbox.store()
        let runID = try store.createRun(Self.sleepChains(4, 3, seconds: 1.5, in: hosts.sandbox), now: Date())
        try hosts.start(0)
        try hosts.start(1)
        var cutJob = ""
        try hosts.waitUntil("host-b to be running a job", timeout: 60) {
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
        // The cut was real: host-b could not reach the server (cut link), or found its lease
        // taken when it woke (frozen), wherever in the attempt that came.
        let evidence = ["did not answer", "Connect timeout", "lease lost"]
        try hosts.waitUntil("host-b to notice it was cut off", timeout: 15) {
            let log = hosts.sandbox.read("apod-host-b.log")
            return evidence.contains { log.contains($0) }
        }
        let cut = try Self.attempts(store, runID: runID).filter { $0.job == cutJob }
        #expect(cut.filter { $0.outcome == "succeeded" }.count == 1)
        #expect(cut.contains { $0.worker.contains("@host-b:") && $0.outcome == "expired" }, "\(cut)")
        try Self.expectEveryJobRanOnce(store, runID: runID, jobs: 12)

        // host-b is back: its daemon heartbeats again and its workers take new jobs.
        try hosts.waitUntil("host-b to heartbeat again", timeout: 30) {
            try store.hosts(now: Date(), lostAfter: 5).first { $0.name == "host-b" }
                .map { $0.lastHeartbeatAt > healedAt && !$0.isLost } ?? false
        }
        let second = try store.createRun(Self.sleepChains(8, 1, seconds: 0.5, in: hosts.sandbox), now: Date())
        #expect(try hosts.sandbox.waitForRun(second, timeout: 60).state == .succeeded)
        #expect(try Self.attempts(store, runID: second).contains { $0.worker.contains("@host-b:") && $0.outcome == "succeeded" },
                "host-b took no job after it came back\n\(hosts.logs())")
    }

    @Test func aHostWithoutTheArtifactRootLeavesTheRunToHostsThatHaveIt() throws {
        let hosts = try TwoHosts()
        let store = try hosts.sandbox.store()
        let artifacts = hosts.sandbox.directory.appendingPathComponent("artifacts")
        let run = Self.sleepChains(6, 2, seconds: 0.2, in: hosts.sandbox)
        let runID = try store.createRun(run, now: Date())
        // A private mount namespace needs root; without it the folder is moved away while host-b
        // alone looks for it (the same code path: the folder is not there for that host).
        let canHide = getuid() == 0
        let moved = URL(fileURLWithPath: run.artifactRoot + ".away")
        if canHide {
            try hosts.start(1, hiding: artifacts)
        } else {
            print("ManyHostsProcessTests: mount namespaces need root; host-b finds the run folder moved away instead")
            try FileManager.default.moveItem(at: URL(fileURLWithPath: run.artifactRoot), to: moved)
            try hosts.start(1)
        }
        try hosts.waitUntil("host-b to find the run's folder missing", timeout: 30) {
            hosts.sandbox.read("apod-host-b.log").contains("is not on this host")
        }
        if !canHide { try FileManager.default.moveItem(at: moved, to: URL(fileURLWithPath: run.artifactRoot)) }
        try hosts.start(0)
        #expect(try hosts.sandbox.waitForRun(runID, timeout: 60).state == .succeeded, "\(hosts.logs())")
        let all = try Self.attempts(store, runID: runID)
        #expect(all.filter { $0.outcome == "succeeded" }.allSatisfy { $0.worker.contains("@host-a:") })
        #expect(Set(all.filter { $0.worker.contains("@host-b:") }.map(\.outcome)) == ["released"])
        #expect(!all.contains { $0.outcome == "failed" })
        try Self.expectEveryJobRanOnce(store, runID: runID, jobs: 12)
    }

    @Test func aPostgresRestartMidRunIsRiddenOut() throws {
        let hosts = try TwoHosts()
        let store = try hosts.sandbox.store()
        let runID = try store.createRun(Self.sleepChains(4, 6, seconds: 0.3, in: hosts.sandbox), now: Date())
        try hosts.start(0)
        try hosts.start(1)
        try hosts.waitUntil("a few jobs to finish", timeout: 60) {
            try Self.attempts(store, runID: runID).filter { $0.outcome == "succeeded" }.count >= 6
        }
        try hosts.cluster.restart()
        #expect(try hosts.sandbox.waitForRun(runID, timeout: 120).state == .succeeded, "\(hosts.logs())")
        try Self.expectEveryJobRanOnce(store, runID: runID, jobs: 24)
        // Both daemons came through: each heartbeats again after the restart.
        let restartedAt = Date()
        try hosts.waitUntil("both daemons to heartbeat after the restart", timeout: 30) {
            try store.hosts(now: Date(), lostAfter: 5).filter { $0.lastHeartbeatAt > restartedAt }.count == 2
        }
        let daemonsRunning = hosts.daemons.map { $0.isRunning }
        #expect(daemonsRunning == [true, true])
    }
}
