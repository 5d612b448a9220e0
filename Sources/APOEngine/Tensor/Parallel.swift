import Dispatch

/// Runs `body(range)` over `0..<count` split into at most `threads` contiguous chunks, in parallel.
/// Use for loops whose iterations are independent and not tiny (per row, per head).
@inline(__always)
public func parallelFor(_ count: Int, threads: Int, _ body: (Range<Int>) -> Void) {
    let chunks = max(1, min(threads, count))
    if chunks == 1 {
        body(0..<count)
        return
    }
    DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
        let start = count * chunk / chunks
        let end = count * (chunk + 1) / chunks
        if start < end { body(start..<end) }
    }
}

/// `parallelFor` on `team` when there is one (its size stands for `threads`), else on Dispatch.
@inline(__always)
public func parallelFor(_ count: Int, threads: Int, team: ThreadTeam?, _ body: (Range<Int>) -> Void) {
    if let team { team.parallelFor(count, body) } else { parallelFor(count, threads: threads, body) }
}
