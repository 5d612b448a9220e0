import APOJSON
/// The shard step of the expand stage, on the validated, ordered jobs: a job with `shards: K`
/// (K > 1) becomes K shard jobs `ID.shard1ofK` … `ID.shardKofK` and one `merge-shards` job that
/// keeps the key `ID`, so every job that needs `ID` or reads `${jobs.ID.outputs.…}` still does,
/// unchanged. `shards: 1` leaves the job exactly as it was.
///
/// - a shard job: the job's kind, params, needs and settings, plus `shard_index` and `shard_count`
///   (`ShardSelection`); so each shard has its own memo key and is claimed, retried and resumed
///   as any job;
/// - the merge job: needs the K shards and joins their output files in shard order
///   (`MergeShardsKind`); one thread, the job's retries, timeout, priority and memoize.
struct ShardExpansion {
    /// Far more than useful (a shard is at least one chunk of queries); bounds what a typo expands to.
    static let maxShards = 1000

    let registry: [String: any JobKind.Type]
    let diagnostics: DiagnosticList

    /// `ID.shard2of4`: a round job's `r1.gen` gives `r1.gen.shard2of4`. Ids cannot hold a dot, so
    /// no job of the file can have this key.
    static func shardID(_ id: String, index: Int, count: Int) -> String { "\(id).shard\(index)of\(count)" }

    /// The jobs in order, each sharded job replaced by its shards and then its merge job (which
    /// keeps the order topological: the shards need what the job needed, the merge follows them).
    func jobs(_ ordered: [(job: ExpandedJob, template: JobTemplate)]) -> [ExpandedJob] {
        var result: [ExpandedJob] = []
        for (job, template) in ordered {
            guard template.shards > 1, let kind = registry[job.kind] as? any ShardableKind.Type,
                  checkShardable(job, kind: kind, template: template) else { result.append(job); continue }
            let shards = (1...template.shards).map { shardJob(of: job, index: $0, count: template.shards) }
            result += shards + [mergeJob(of: job, shards: shards.map(\.id), kind: kind)]
        }
        if result.count > RoundExpansion.maxJobs, let first = ordered.first(where: { $0.template.shards > 1 }) {
            diagnostics.report(first.template.shardsMark,
                               "with its shards the pipeline expands to \(result.count) jobs; at most \(RoundExpansion.maxJobs) are allowed")
        }
        return result
    }

    /// What only the job's params or id can tell: a score job that evaluates pairs has no samples
    /// to split; a shard's key must still make a folder name.
    private func checkShardable(_ job: ExpandedJob, kind: any ShardableKind.Type, template: JobTemplate) -> Bool {
        if job.params[kind.shardedInput] == nil || job.params[kind.shardedInput] == .null {
            diagnostics.report(template.shardsMark, "a sharded '\(kind.name)' job splits its '\(kind.shardedInput)' file, and this one has none")
            return false
        }
        let longest = Self.shardID(job.id, index: template.shards, count: template.shards)
        if let problem = SubmitChecks.nameProblem(longest) {
            diagnostics.report(template.shardsMark, "shard id '\(longest.prefix(40))…' \(problem)")
            return false
        }
        return true
    }

    private func shardJob(of job: ExpandedJob, index: Int, count: Int) -> ExpandedJob {
        var shard = job
        shard.id = Self.shardID(job.id, index: index, count: count)
        shard.params[ShardSelection.indexParameter] = .int(index)
        shard.params[ShardSelection.countParameter] = .int(count)
        return shard
    }

    private func mergeJob(of job: ExpandedJob, shards: [String], kind: any ShardableKind.Type) -> ExpandedJob {
        let parts = shards.map { JSONValue.string(JobOutputReference(jobID: $0, output: kind.shardedOutput).placeholder) }
        return ExpandedJob(id: job.id, kind: MergeShardsKind.name, kindVersion: MergeShardsKind.version,
                           params: ["parts": .array(parts), "output": .string(kind.shardedOutput),
                                    "file": .string(kind.shardedOutputFile)],
                           needs: shards.sorted(), maxAttempts: job.maxAttempts, backoffBaseSeconds: job.backoffBaseSeconds,
                           backoffMaxSeconds: job.backoffMaxSeconds, timeoutSeconds: job.timeoutSeconds, threads: 1,
                           memoryMB: nil, priority: job.priority, memoize: job.memoize)
    }
}
