import Foundation
import Synchronization
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

    final class Flag: Sendable { let raised = Atomic<Bool>(false) }

    /// The first chunk waits (up to a second) for the second to start: they overlap only if a
    /// second thread took it; on one thread they would run one after the other.
    @Test func loopsRunOnSeveralThreads() {
        let team = ThreadTeam(size: 2)
        let threadIDs = UnsafeMutablePointer<UInt>.allocate(capacity: 2)
        defer { threadIDs.deallocate() }
        let secondStarted = Flag()
        team.parallelFor(2) { range in
            for i in range {
                threadIDs[i] = UInt(pthread_self())
                if i == 1 { secondStarted.raised.store(true, ordering: .releasing) }
                if i == 0 {
                    for _ in 0..<1000 where !secondStarted.raised.load(ordering: .acquiring) { usleep(1000) }
                }
            }
        }
        #expect(threadIDs[0] != threadIDs[1], "both chunks ran on one thread")
    }

    /// Past `spinNanoseconds` idle the worker sleeps on its semaphore; the next loop must wake it.
    /// The caller could run every chunk alone, so each loop's first chunk waits (up to a second)
    /// for the second to start on another thread: a lost wake-up fails the round.
    @Test(.timeLimit(.minutes(2)))
    func aSleepingTeamWakesForTheNextLoop() {
        let team = ThreadTeam(size: 2)
        let threadIDs = UnsafeMutablePointer<UInt>.allocate(capacity: 2)
        defer { threadIDs.deallocate() }
        var sharedRounds = 0
        for round in 0..<20 {
            // Alternate between gaps far longer than the spin and gaps around its length.
            usleep(round % 2 == 0 ? 2_000 : UInt32(ThreadTeam.spinNanoseconds / 1000))
            let secondStarted = Flag()
            team.parallelFor(2) { range in
                for i in range {
                    threadIDs[i] = UInt(pthread_self())
                    if i == 1 { secondStarted.raised.store(true, ordering: .releasing) }
                    if i == 0 {
                        for _ in 0..<1000 where !secondStarted.raised.load(ordering: .acquiring) { usleep(1000) }
                    }
                }
            }
            if threadIDs[0] != threadIDs[1] { sharedRounds += 1 }
        }
        #expect(sharedRounds == 20, "the sleeping worker took part in \(sharedRounds) of 20 loops")
    }

    @Test func droppedTeamsEndTheirThreads() throws {
        // Counted by name: other tests of this process start and end threads meanwhile.
        func threadCount() throws -> Int {
            try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").filter {
                (try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8))?.hasPrefix("apo-dropped-") == true
            }.count
        }
        func waitFor(_ condition: () throws -> Bool) rethrows -> Bool {
            for _ in 0..<500 { if try condition() { return true }; usleep(10_000) }
            return try condition()
        }
        #expect(try threadCount() == 0)
        for _ in 0..<50 {
            let team = ThreadTeam(size: 3, name: "apo-dropped")
            team.parallelFor(3) { _ in }
        }
        do {
            let kept = ThreadTeam(size: 3, name: "apo-dropped")
            #expect(try waitFor { try threadCount() == 2 }, "the 2 workers of the team still held, and no others")
            kept.parallelFor(3) { _ in }
        }
        let after = try waitFor { try threadCount() == 0 } ? 0 : try threadCount()
        let names = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").compactMap {
            try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8)
        }
        #expect(after == 0, "\(after) team threads still alive: \(names)")
    }
}
