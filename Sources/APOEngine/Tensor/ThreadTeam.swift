import CCPU
import Foundation
import Synchronization

/// A fixed team of threads for a long series of short parallel loops: the caller and `size − 1`
/// resident workers run each loop together, handing work over through an atomic counter instead
/// of a thread wake-up.
///
/// A decode step of a 30-layer model is ~150 parallel loops of a few microseconds each. Woken
/// through the kernel (Dispatch's `concurrentPerform`, a futex per loop) the hand-offs cost more
/// than the second thread saves: 2 threads decoded slower than 1 (measured). Here idle workers
/// spin on the counter for `spinNanoseconds` before they sleep on a semaphore, so loops that
/// follow each other closely never pay for a wake-up, and an idle team costs no CPU.
///
/// One loop at a time: `parallelFor` must not be called concurrently or from inside a loop body.
public final class ThreadTeam: @unchecked Sendable {
    /// Threads taking part in each loop, the caller included.
    public var size: Int { shared.size }
    /// How long an idle worker polls before it sleeps: longer than the gaps between the loops of a
    /// decode step (sampling a token takes ~0.1 ms), short enough to leave an idle core alone.
    public static let spinNanoseconds: UInt64 = 200_000

    /// What the caller and the workers share. Workers hold it, not the team: a worker inside its
    /// loop keeps what it references alive, so a team they referenced would never be released.
    private let shared: TeamState

    /// `name`: the workers' thread names are `name-1`, `name-2`, … (as `top -H` and /proc show them).
    public init(size: Int, name: String = "apo-team") {
        precondition(size >= 1)
        shared = TeamState(size: size)
        for index in 1..<size {
            let thread = Thread { [shared] in
                Thread.current.name = "\(name)-\(index)"  // set from inside: Linux names only a running thread
                shared.work(index: index)
            }
            thread.start()
        }
    }

    /// Ends the workers (each leaves at its next look at the generation, sleeping ones are woken).
    deinit { shared.stop() }

    /// Runs `body(range)` over `0..<count` split into at most `size` contiguous chunks, the caller
    /// taking the first. Returns when every chunk is done.
    public func parallelFor(_ count: Int, _ body: (Range<Int>) -> Void) {
        shared.parallelFor(count, body)
    }
}

private final class TeamState: @unchecked Sendable {
    final class Worker: @unchecked Sendable {
        let asleep = Atomic<Bool>(false)
        let wake = DispatchSemaphore(value: 0)
    }

    let size: Int
    private let workers: [Worker]
    /// Bumped once per loop (and once at shutdown); workers run the loop when they see it move.
    private let generation = Atomic<Int>(0)
    /// Workers still running the current loop.
    private let pending = Atomic<Int>(0)
    private var chunks = 0
    private var count = 0
    private var body: ((Range<Int>) -> Void)?
    private var stopping = false

    init(size: Int) {
        self.size = size
        workers = (1..<size).map { _ in Worker() }
    }

    func parallelFor(_ count: Int, _ body: (Range<Int>) -> Void) {
        let chunks = max(1, min(size, count))
        if chunks == 1 {
            if count > 0 { body(0..<count) }
            return
        }
        withoutActuallyEscaping(body) { body in
            self.body = body
            self.count = count
            self.chunks = chunks
            publish()
            run(chunk: 0)
            while pending.load(ordering: .acquiring) > 0 { apo_spin_pause() }
            self.body = nil
        }
    }

    func stop() {
        stopping = true
        publish()
    }

    /// Starts a loop (or the shutdown) for every worker, waking those that sleep.
    private func publish() {
        pending.store(workers.count, ordering: .relaxed)
        generation.add(1, ordering: .sequentiallyConsistent)
        for worker in workers where worker.asleep.exchange(false, ordering: .sequentiallyConsistent) {
            worker.wake.signal()
        }
    }

    private func run(chunk: Int) {
        guard chunk < chunks, let body else { return }
        let start = count * chunk / chunks, end = count * (chunk + 1) / chunks
        if start < end { body(start..<end) }
    }

    func work(index: Int) {
        let me = workers[index - 1]
        var seen = 0
        while true {
            seen = awaitGeneration(after: seen, worker: me)
            if stopping { return }
            run(chunk: index)
            pending.subtract(1, ordering: .releasing)
        }
    }

    /// Polls for a generation after `seen`, then sleeps; returns the new generation.
    private func awaitGeneration(after seen: Int, worker: Worker) -> Int {
        var deadline: UInt64 = 0
        var polls = 0
        while true {
            let current = generation.load(ordering: .acquiring)
            if current != seen { return current }
            polls += 1
            if polls & 255 != 0 {
                apo_spin_pause()
                continue
            }
            let now = DispatchTime.now().uptimeNanoseconds
            if deadline == 0 { deadline = now + ThreadTeam.spinNanoseconds }
            if now < deadline { continue }
            // Sleep: announce it, then look once more (publish() bumps before it checks `asleep`).
            worker.asleep.store(true, ordering: .sequentiallyConsistent)
            if generation.load(ordering: .sequentiallyConsistent) != seen {
                // Published meanwhile: if publish() already took our flag, its signal must be consumed.
                if !worker.asleep.exchange(false, ordering: .sequentiallyConsistent) { worker.wake.wait() }
            } else {
                worker.wake.wait()
            }
            deadline = 0
            polls = 0
        }
    }
}
