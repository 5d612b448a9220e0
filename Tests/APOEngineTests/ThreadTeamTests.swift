import Foundation
import Testing
@testable import APOEngine

/// The resident decode threads: every index runs exactly once per loop, the loops really run on
/// several threads, a team that fell asleep wakes for the next loop, and a dropped team's threads end.
@Suite struct ThreadTeamTests {
    @Test(arguments: [1, 2, 3])
    func everyIndexRunsOncePerLoop(size: Int) {
        let team = ThreadTeam(size: size)
        for count in [0, 1, 2, 3, 7, 1000] {
            let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
            hits.initialize(repeating: 0, count: max(count, 1))
            defer { hits.deallocate() }
            for _ in 0..<200 {
                team.parallelFor(count) { range in for i in range { hits[i] += 1 } }
            }
            #expect((0..<count).allSatisfy { hits[$0] == 200 }, "size \(size), count \(count)")
        }
    }

    @Test func loopsRunOnSeveralThreads() {
        let team = ThreadTeam(size: 2)
        let threadIDs = UnsafeMutablePointer<UInt>.allocate(capacity: 2)
        defer { threadIDs.deallocate() }
        team.parallelFor(2) { range in
            for i in range { threadIDs[i] = UInt(pthread_self()) }
            usleep(1000)
        }
        #expect(threadIDs[0] != threadIDs[1])
        #expect(threadIDs[0] == UInt(pthread_self()), "the caller takes the first chunk")
    }

    /// Past `spinNanoseconds` idle the worker sleeps on its semaphore; the next loop must wake it
    /// (a lost wake-up would hang here, which the time limit turns into a failure).
    @Test(.timeLimit(.minutes(1)))
    func aSleepingTeamWakesForTheNextLoop() {
        let team = ThreadTeam(size: 2)
        var total = 0
        let sums = UnsafeMutablePointer<Int>.allocate(capacity: 2)
        defer { sums.deallocate() }
        for round in 0..<40 {
            // Alternate between gaps far longer than the spin and gaps around its length.
            usleep(round % 2 == 0 ? 2_000 : UInt32(ThreadTeam.spinNanoseconds / 1000))
            sums.initialize(repeating: 0, count: 2)
            team.parallelFor(2) { range in for i in range { sums[i] = i + 1 } }
            total += sums[0] + sums[1]
        }
        #expect(total == 40 * 3)
    }

    @Test func droppedTeamsEndTheirThreads() throws {
        // Counted by name: other tests of this process start and end threads meanwhile.
        func threadCount() throws -> Int {
            try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").filter {
                (try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8))?.hasPrefix("apo-dropped-") == true
            }.count
        }
        let before = try threadCount()
        for _ in 0..<50 {
            let team = ThreadTeam(size: 3, name: "apo-dropped")
            team.parallelFor(3) { _ in }
            #expect(try threadCount() >= 2, "the team's workers are named")
        }
        // Threads leave right after deinit returns; give the last ones a moment to be reaped.
        var after = try threadCount()
        for _ in 0..<100 where after > before { usleep(10_000); after = try threadCount() }
        let names = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").compactMap {
            try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8)
        }
        #expect(before == 0 && after == 0, "\(after) team threads still alive: \(names)")
    }
}
