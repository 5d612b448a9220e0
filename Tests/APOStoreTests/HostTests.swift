import Foundation
import Testing
@testable import APOStore

/// Hosts (migration 0007): what each daemon offers, `apoctl hosts`, and claims that respect a
/// job's `resources:` (memory_mb, labels).
@Suite struct HostTests {
    static let gpuHost = HostCapacity(name: "gpu-a", threads: 8, memoryMB: 64_000, labels: ["gpu": "a100", "zone": "b"])
    static let smallHost = HostCapacity(name: "small", threads: 2, memoryMB: 2_000)

    func needing(_ key: String, resources: String) -> NewJob {
        var job = APOStoreTests.job(key)
        job.resourcesJSON = resources
        return job
    }

    @Test(arguments: StoreDriverKind.allCases) func claimsTakeOnlyJobsTheHostOffersWhatTheyNeed(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([
            needing("gpu", resources: #"{"labels":{"gpu":"a100"},"threads":1}"#),
            needing("gpu-in-zone-c", resources: #"{"labels":{"gpu":"a100","zone":"c"},"threads":1}"#),
            needing("big", resources: #"{"memory_mb":32000,"threads":1}"#),
            needing("plain", resources: #"{"threads":1}"#),
        ]), now: t0)
        // The small host may run only the plain job, whatever the order of the queue.
        let small = try #require(try store.claimNextJob(workerID: "w1@small:1", leaseDuration: 60, now: at(1), scope: ClaimScope(host: Self.smallHost)))
        #expect(small.job.key == "plain")
        #expect(try store.claimNextJob(workerID: "w1@small:1", leaseDuration: 60, now: at(1), scope: ClaimScope(host: Self.smallHost)) == nil)
        #expect(try !store.hasClaimableJob(now: at(1), scope: ClaimScope(host: Self.smallHost)))
        // The GPU host takes the labelled and the big job, never the one in another zone.
        var taken: [String] = []
        while let claimed = try store.claimNextJob(workerID: "w1@gpu-a:2", leaseDuration: 60, now: at(2), scope: ClaimScope(host: Self.gpuHost)) {
            taken.append(claimed.job.key)
        }
        #expect(taken.sorted() == ["big", "gpu"])
        #expect(try store.job(runID: runID, key: "gpu-in-zone-c")?.state == .queued)
        // Without a host (one-machine tools) every job may be claimed.
        #expect(try store.claimNextJob(workerID: "tool", leaseDuration: 60, now: at(3))?.job.key == "gpu-in-zone-c")
    }

    @Test(arguments: StoreDriverKind.allCases) func hostsListCapacityRunningJobsAndLostHosts(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        try store.recordDaemonHeartbeat(id: "gpu-a:10", host: "gpu-a", pid: 10, workers: 2, capacity: Self.gpuHost,
                                        startedAt: at(0), now: at(100))
        try store.recordDaemonHeartbeat(id: "small:20", host: "small", pid: 20, workers: 1, capacity: Self.smallHost,
                                        startedAt: at(0), now: at(60))
        try store.createRun(newRun([job("a"), job("b")]), now: at(0))
        _ = try store.mustClaim("w1@gpu-a:11", now: at(100))
        _ = try store.mustClaim("w2@gpu-a:12", now: at(100))

        let hosts = try store.hosts(now: at(101), lostAfter: 10)
        #expect(hosts.map(\.name) == ["gpu-a", "small"])
        #expect(hosts.map(\.isLost) == [false, true])
        #expect(hosts.map(\.runningJobs) == [2, 0])
        #expect(hosts[0].labels == ["gpu": "a100", "zone": "b"])
        #expect(hosts[0].threads == 8 && hosts[0].memoryMB == 64_000 && hosts[0].workers == 2)
        #expect(hosts[0].lastHeartbeatAt == at(100))
        // A daemon that stops cleanly leaves the list.
        try store.removeDaemon(id: "small:20")
        #expect(try store.hosts(now: at(101), lostAfter: 10).map(\.name) == ["gpu-a"])
    }

    @Test func resourceNeedsMatchTheClaimsRule() {
        func host(memory: Int?, labels: [String: String]) -> HostRecord {
            HostRecord(name: "h", daemons: 1, workers: 1, threads: 2, memoryMB: memory, labels: labels,
                       lastHeartbeatAt: t0, runningJobs: 0, isLost: false)
        }
        #expect(ResourceNeeds(resourcesJSON: #"{"threads":2}"#) == nil)
        let needs = ResourceNeeds(resourcesJSON: #"{"labels":{"gpu":"a100"},"memory_mb":4096,"threads":1}"#)!
        #expect(needs.description == "gpu=a100, memory_mb ≥ 4096")
        #expect(needs.isOffered(by: host(memory: 8000, labels: ["gpu": "a100", "zone": "b"])))
        #expect(!needs.isOffered(by: host(memory: 2000, labels: ["gpu": "a100"])))
        #expect(!needs.isOffered(by: host(memory: 8000, labels: ["gpu": "h100"])))
        #expect(needs.isOffered(by: host(memory: nil, labels: ["gpu": "a100"])))
    }

    /// `threads: N` goes to a host with N threads while a live one has them; when none has, any
    /// host runs it with what it has (it never waits for a machine that is not there).
    @Test(arguments: StoreDriverKind.allCases) func wideJobsWaitForAWideHostOnlyWhileOneIsAlive(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([
            needing("wide", resources: #"{"threads":8}"#),
            needing("narrow", resources: #"{"threads":1}"#),
        ]), now: t0)
        try store.recordDaemonHeartbeat(id: "gpu-a:10", host: "gpu-a", pid: 10, workers: 2, capacity: Self.gpuHost,
                                        startedAt: at(0), now: at(100))
        let small = ClaimScope(host: Self.smallHost)
        #expect(try store.claimNextJob(workerID: "w1@small:1", leaseDuration: 60, now: at(101), scope: small)?.job.key == "narrow")
        #expect(try store.claimNextJob(workerID: "w1@small:1", leaseDuration: 60, now: at(102), scope: small) == nil)
        // The 8-thread host is lost (no heartbeat for more than 10 s): the small host takes the job.
        let claimed = try store.claimNextJob(workerID: "w1@small:1", leaseDuration: 60, now: at(120), scope: small)
        #expect(claimed?.job.key == "wide")
        #expect(try store.job(runID: runID, key: "wide")?.state == .running)
    }
}
