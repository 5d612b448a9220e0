/// The last stage: the expanded jobs in an order that runs each after all of its needs.
enum TopologicalOrder {
    /// Depth-first, visiting jobs and their needs in file order (so file order breaks ties);
    /// reports each cycle as `a -> b -> a`. nil if there is a cycle.
    static func of(_ jobs: [ConcreteJob], index: [String: Int], diagnostics: DiagnosticList) -> [Int]? {
        let deps: [[Int]] = jobs.map { j in j.needs.keys.compactMap { index[$0] }.sorted() }
        var state = [UInt8](repeating: 0, count: jobs.count)  // 0 new, 1 on the stack, 2 done
        var order: [Int] = []
        var cyclic = false
        var reportedAt = Set<String>()  // one report per template: rounds repeat the same cycle
        for start in jobs.indices where state[start] == 0 {
            // Iterative DFS: long chains (benchmarks submit thousands of jobs) must not overflow the stack.
            var stack: [(node: Int, next: Int)] = [(start, 0)]
            state[start] = 1
            while !stack.isEmpty {
                let (node, next) = stack[stack.count - 1]
                if next < deps[node].count {
                    stack[stack.count - 1].next += 1
                    let d = deps[node][next]
                    if state[d] == 0 {
                        state[d] = 1
                        stack.append((d, 0))
                    } else if state[d] == 1 {
                        cyclic = true
                        let path = stack.map(\.node)
                        let from = path.lastIndex(of: d)!
                        // Edges point from a job to what it needs; print in "needs" direction.
                        let names = (path[from...].map { jobs[$0].id }) + [jobs[d].id]
                        let at = jobs[d].template.idMark.map { "\($0.line):\($0.column)" } ?? jobs[d].id
                        guard reportedAt.insert(at).inserted else { continue }
                        diagnostics.report(jobs[d].template.idMark, "dependency cycle: \(names.joined(separator: " -> "))")
                    }
                } else {
                    state[node] = 2
                    order.append(node)
                    stack.removeLast()
                }
            }
        }
        return cyclic ? nil : order
    }
}
