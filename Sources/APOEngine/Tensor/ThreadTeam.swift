import CCPU
import Foundation
import Synchronization

/// A fixed team of threads for a long series of short parallel loops: the caller and `size − 1`
/// resident workers run each loop together, handing work over through atomic counters instead
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

    /// Runs `body(range)` over `0..<count` split into at most `size` contiguous chunks, each taken
    /// by whichever thread of the team (the caller included) comes first. Returns when every chunk
    /// is done.
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
    /// Bumped once per loop (and once at shutdown); workers join the loop when they see it move.
    private let generation = Atomic<Int>(0)
    /// The generation of the loop workers may still join; 0 once the caller closed it.
    private let openLoop = Atomic<Int>(0)
    /// Workers inside the current loop.
    private let active = Atomic<Int>(0)
    /// The next chunk of the current loop to take.
    private let nextChunk = Atomic<Int>(0)
    private var chunks = 0
    private var count = 0
    private var body: ((Range<Int>) -> Void)?
    private var stopping = false

    init(size: Int) {
        self.size = size
        workers = (1..<size).map { _ in Worker() }
    }

    /// Chunks go to whoever takes them, and the caller waits only for workers that joined before it
    /// closed the loop: a worker that was descheduled (a busy machine, several apod workers) costs
    /// the loop nothing, where waiting for it would stall every step (measured: 13 tokens/s
    /// instead of 90 with a build on the other core).
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
            nextChunk.store(0, ordering: .relaxed)
            let loop = generation.load(ordering: .relaxed) + 1
            openLoop.store(loop, ordering: .sequentiallyConsistent)
            publish(loop)
            takeChunks()
            openLoop.store(0, ordering: .sequentiallyConsistent)
            var polls = 0
            while active.load(ordering: .sequentiallyConsistent) > 0 { pause(&polls) }
            self.body = nil
        }
    }

    func stop() {
        stopping = true
        publish(generation.load(ordering: .relaxed) + 1)
    }

    /// Starts generation `loop` (a loop or the shutdown), waking the workers that sleep.
    private func publish(_ loop: Int) {
        generation.store(loop, ordering: .sequentiallyConsistent)
        for worker in workers where worker.asleep.exchange(false, ordering: .sequentiallyConsistent) {
            worker.wake.signal()
        }
    }

    private func takeChunks() {
        while true {
            let chunk = nextChunk.wrappingAdd(1, ordering: .relaxed).oldValue
            guard chunk < chunks, let body else { return }
            let start = count * chunk / chunks, end = count * (chunk + 1) / chunks
            if start < end { body(start..<end) }
        }
    }

    func work(index: Int) {
        let me = workers[index - 1]
        var seen = 0
        while true {
            seen = awaitGeneration(after: seen, worker: me)
            if stopping { return }
            active.add(1, ordering: .sequentiallyConsistent)
            // Joined in time: the caller waits for us. Too late: the loop is closed (or a newer one
            // opened, which the next look at the generation joins); leave `body` alone.
            if openLoop.load(ordering: .sequentiallyConsistent) == seen { takeChunks() }
            active.subtract(1, ordering: .sequentiallyConsistent)
        }
    }

    /// A spin-wait step: the `pause` hint, and every 256th time a `sched_yield`, so a waiting
    /// thread hands its core to whoever the scheduler has waiting (the thread it waits for).
    @inline(__always)
    private func pause(_ polls: inout Int) {
        polls += 1
        if polls & 255 == 0 { sched_yield() } else { apo_spin_pause() }
    }

    /// Polls for a generation after `seen`, then sleeps; returns the new generation.
    private func awaitGeneration(after seen: Int, worker: Worker) -> Int {
        var deadline: UInt64 = 0
        var polls = 0
        while true {
            let current = generation.load(ordering: .acquiring)
            if current != seen { return current }
            pause(&polls)
            if polls & 255 != 0 { continue }
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
