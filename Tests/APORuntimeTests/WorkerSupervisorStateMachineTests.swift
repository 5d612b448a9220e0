import Foundation
import Testing
@testable import APORuntime

/// The supervisor's decisions, driven event by event without processes.
struct WorkerSupervisorStateMachineTests {
    typealias Machine = WorkerSupervisor.StateMachine
    let t0 = Date(timeIntervalSince1970: 1_000_000)

    @Test func startsEveryWorkerAndRestartsCrashesWithGrowingBackoff() {
        var machine = Machine(workerCount: 2)
        #expect(machine.start() == [.spawn(worker: 1), .spawn(worker: 2)])
        #expect(machine.spawned(worker: 1, pid: 101, now: t0).isEmpty)
        #expect(machine.spawned(worker: 2, pid: 102, now: t0).isEmpty)

        // Crash 1 after 1 s: restart after the base delay (0.5 s), not before.
        #expect(machine.processExited(worker: 1, status: 9, now: t0 + 1).isEmpty)
        #expect(machine.tick(now: t0 + 1.4).isEmpty)
        #expect(machine.tick(now: t0 + 1.5) == [.spawn(worker: 1)])
        _ = machine.spawned(worker: 1, pid: 103, now: t0 + 1.5)
        // Crash 2 soon after: the delay doubles.
        _ = machine.processExited(worker: 1, status: 9, now: t0 + 2)
        #expect(machine.tick(now: t0 + 2.9).isEmpty)
        #expect(machine.tick(now: t0 + 3.0) == [.spawn(worker: 1)])
        #expect(machine.crashStreaks[0] == 2)
        #expect(machine.restarts == 2)
    }

    @Test func healthyRunResetsTheCrashStreakAndDelayIsCapped() {
        var machine = Machine(workerCount: 1)
        _ = machine.start()
        for i in 0..<10 {
            _ = machine.spawned(worker: 1, pid: Int32(200 + i), now: t0)
            _ = machine.processExited(worker: 1, status: 1, now: t0)
        }
        #expect(machine.delay(forStreak: machine.crashStreaks[0]) == machine.policy.maxDelay)
        _ = machine.tick(now: t0 + 100)
        _ = machine.spawned(worker: 1, pid: 300, now: t0 + 100)
        // Ran longer than healthyAfter: the next crash restarts after the base delay again.
        _ = machine.processExited(worker: 1, status: 1, now: t0 + 100 + machine.policy.healthyAfter)
        #expect(machine.crashStreaks[0] == 1)
        #expect(machine.slots[0] == .waitingToRestart(until: t0 + 100 + machine.policy.healthyAfter + machine.policy.baseDelay))
    }

    @Test func stopTerminatesWorkersKillsStragglersAndExitsWhenAllAreGone() {
        var machine = Machine(workerCount: 3)
        _ = machine.start()
        _ = machine.spawned(worker: 1, pid: 11, now: t0)
        _ = machine.spawned(worker: 2, pid: 12, now: t0)
        _ = machine.spawned(worker: 3, pid: 13, now: t0)
        _ = machine.processExited(worker: 3, status: 9, now: t0 + 1)  // waiting to restart

        #expect(machine.stopRequested(now: t0 + 2) == [.terminate(worker: 1, pid: 11), .terminate(worker: 2, pid: 12)])
        #expect(machine.tick(now: t0 + 100).contains(.spawn(worker: 3)) == false, "no restarts while stopping")
        #expect(machine.processExited(worker: 1, status: 0, now: t0 + 3).isEmpty)
        // Worker 2 ignores SIGTERM past the grace period.
        #expect(machine.tick(now: t0 + 2 + machine.policy.stopGrace + 1).contains(.kill(worker: 2, pid: 12)))
        #expect(machine.processExited(worker: 2, status: 9, now: t0 + 30) == [.exit])
        #expect(machine.tick(now: t0 + 31).isEmpty, ".exit is returned once")
    }

    @Test func workerSpawnedDuringStopIsTerminatedAtOnce() {
        var machine = Machine(workerCount: 1)
        _ = machine.start()  // spawn in flight
        #expect(machine.stopRequested(now: t0).isEmpty)
        #expect(machine.spawned(worker: 1, pid: 42, now: t0) == [.terminate(worker: 1, pid: 42)])
        #expect(machine.processExited(worker: 1, status: 0, now: t0 + 1) == [.exit])
    }

    @Test func secondStopRequestKillsWorkersStillStopping() {
        var machine = Machine(workerCount: 1)
        _ = machine.start()
        _ = machine.spawned(worker: 1, pid: 7, now: t0)
        _ = machine.stopRequested(now: t0)
        #expect(machine.stopRequested(now: t0 + 1) == [.kill(worker: 1, pid: 7)])
    }
}
