import Foundation

extension WorkerSupervisor {
    /// When to restart a crashed worker.
    public struct RestartPolicy: Sendable, Equatable {
        /// Delay after the first crash; doubled for each crash in a row, up to `maxDelay`.
        public var baseDelay: TimeInterval = 0.5
        public var maxDelay: TimeInterval = 30
        /// A worker that ran this long before exiting counts as healthy: its crash streak resets.
        public var healthyAfter: TimeInterval = 10
        /// After asking workers to stop, SIGKILL the ones still alive after this long.
        public var stopGrace: TimeInterval = 20

        public init() {}
    }

    /// The supervisor's decisions as a value: each event returns the actions to perform, and the
    /// I/O (spawning, signalling) happens in `WorkerSupervisor`. Invariant: while not stopping,
    /// every slot is running, starting, or waiting for a restart; once stopping, no slot is ever
    /// spawned again and `.exit` is returned exactly when every slot has exited.
    public struct StateMachine: Sendable {
        public enum Slot: Equatable, Sendable {
            case idle
            case running(pid: Int32, since: Date)
            case waitingToRestart(until: Date)
            case stopping(pid: Int32, since: Date)
            case exited
        }

        public enum Action: Equatable, Sendable {
            case spawn(worker: Int)
            /// SIGTERM: finish or release the current job, then exit.
            case terminate(worker: Int, pid: Int32)
            /// SIGKILL: the worker did not stop within the grace period.
            case kill(worker: Int, pid: Int32)
            /// Every worker is gone after a stop request: the daemon may exit.
            case exit
        }

        public let policy: RestartPolicy
        public private(set) var slots: [Slot]
        public private(set) var crashStreaks: [Int]
        public private(set) var isStopping = false
        public private(set) var restarts = 0
        private var exitReturned = false

        public init(workerCount: Int, policy: RestartPolicy = RestartPolicy()) {
            self.policy = policy
            self.slots = Array(repeating: .idle, count: workerCount)
            self.crashStreaks = Array(repeating: 0, count: workerCount)
        }

        /// Workers are numbered from 1 in actions and command lines; slots from 0.
        public mutating func start() -> [Action] {
            slots.indices.map { .spawn(worker: $0 + 1) }
        }

        public mutating func spawned(worker: Int, pid: Int32, now: Date) -> [Action] {
            let i = worker - 1
            if isStopping {
                slots[i] = .stopping(pid: pid, since: now)
                return [.terminate(worker: worker, pid: pid)]
            }
            slots[i] = .running(pid: pid, since: now)
            return []
        }

        public mutating func spawnFailed(worker: Int, now: Date) -> [Action] {
            let i = worker - 1
            if isStopping { slots[i] = .exited; return exitIfDone() }
            crashStreaks[i] += 1
            slots[i] = .waitingToRestart(until: now.addingTimeInterval(delay(forStreak: crashStreaks[i])))
            return []
        }

        /// A worker process ended, for whatever reason.
        public mutating func processExited(worker: Int, status: Int32, now: Date) -> [Action] {
            let i = worker - 1
            if isStopping {
                slots[i] = .exited
                return exitIfDone()
            }
            if case .running(_, let since) = slots[i], now.timeIntervalSince(since) >= policy.healthyAfter {
                crashStreaks[i] = 0
            }
            crashStreaks[i] += 1
            slots[i] = .waitingToRestart(until: now.addingTimeInterval(delay(forStreak: crashStreaks[i])))
            return []
        }

        /// Periodic: restarts that are due, kills for workers that ignore a stop.
        public mutating func tick(now: Date) -> [Action] {
            var actions: [Action] = []
            for i in slots.indices {
                switch slots[i] {
                case .waitingToRestart(let until) where !isStopping && now >= until:
                    slots[i] = .idle
                    restarts += 1
                    actions.append(.spawn(worker: i + 1))
                case .stopping(let pid, let since) where now.timeIntervalSince(since) > policy.stopGrace:
                    actions.append(.kill(worker: i + 1, pid: pid))
                default:
                    break
                }
            }
            return actions + exitIfDone()
        }

        /// SIGTERM/SIGINT to the daemon. A second request kills the workers still stopping.
        public mutating func stopRequested(now: Date) -> [Action] {
            if isStopping {
                return slots.enumerated().compactMap { i, slot in
                    if case .stopping(let pid, _) = slot { return .kill(worker: i + 1, pid: pid) }
                    return nil
                }
            }
            isStopping = true
            var actions: [Action] = []
            for i in slots.indices {
                switch slots[i] {
                case .running(let pid, _):
                    slots[i] = .stopping(pid: pid, since: now)
                    actions.append(.terminate(worker: i + 1, pid: pid))
                case .waitingToRestart, .exited:
                    slots[i] = .exited
                case .idle, .stopping:
                    break  // idle: a spawn is in flight; `spawned` terminates it at once
                }
            }
            return actions + exitIfDone()
        }

        func delay(forStreak streak: Int) -> TimeInterval {
            min(policy.baseDelay * pow(2, Double(max(streak - 1, 0))), policy.maxDelay)
        }

        private mutating func exitIfDone() -> [Action] {
            guard isStopping, !exitReturned, slots.allSatisfy({ $0 == .exited }) else { return [] }
            exitReturned = true
            return [.exit]
        }
    }
}
