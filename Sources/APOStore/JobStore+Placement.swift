import Foundation

// MARK: - Which host's workers may claim a job (its `resources:`)

extension JobStore {
    /// A host whose daemon has not heartbeaten for this long is lost (daemons beat every 2 s).
    public static let hostLostAfterSeconds: Double = 10

    /// The parameters `scopeSQL` reads (the host's memory, labels and threads), bound only when
    /// it reads them: with a host.
    static func scopeArguments(_ scope: ClaimScope) -> [any SQLBindable] {
        scope.host.map { [$0.memoryMB, $0.labelsJSON, $0.threads] } ?? []
    }

    /// True for a queued job `q` within `scope`: on its host (`hostMaySQL`) and outside its
    /// skipped runs (ids written into the SQL: they are integers). `now` is the placeholder of
    /// the store's time; the host's figures are bound from `?firstParameter` on.
    static func scopeSQL(_ dialect: SQLDialect, queued q: String, _ scope: ClaimScope,
                         now: String, firstParameter p: Int) -> String {
        let runs = scope.skippedRuns.isEmpty ? ""
            : " AND \(q).run_id NOT IN (\(scope.skippedRuns.sorted().map(String.init).joined(separator: ", ")))"
        guard scope.host != nil else { return "1 = 1" + runs }
        return hostMaySQL(dialect, queued: q, now: now, memory: "?\(p)", labels: "?\(p + 1)",
                          threads: "?\(p + 2)") + runs
    }

    /// True for a queued job `q` whose `resources:` the host offers: at least its memory_mb, all
    /// its labels (the host's as JSON), and its threads — unless no live host has that many
    /// threads, in which case any host may run it with what it has (a pipeline written for a
    /// bigger machine still runs; jobs that ask for memory or labels no host offers wait).
    static func hostMaySQL(_ dialect: SQLDialect, queued q: String, now: String,
                           memory: String, labels: String, threads: String) -> String {
        let neededThreads = dialect == .sqlite
            ? "COALESCE(json_extract(\(q).resources_json, '$.threads'), 1)"
            : "COALESCE((\(q).resources_json::jsonb ->> 'threads')::bigint, 1)"
        let threadsRule = """
            (\(neededThreads) <= \(threads)
             OR \(neededThreads) > (SELECT COALESCE(MAX(d.threads), 0) FROM daemons d
                                    WHERE d.last_heartbeat_at > \(now) - \(hostLostAfterSeconds)))
            """
        switch dialect {
        case .sqlite:
            return """
                (COALESCE(json_extract(\(q).resources_json, '$.memory_mb'), 0) <= \(memory)
                 AND NOT EXISTS (SELECT 1 FROM json_each(\(q).resources_json, '$.labels') AS need
                                 WHERE NOT EXISTS (SELECT 1 FROM json_each(\(labels)) AS have
                                                   WHERE have.key = need.key AND have.value = need.value))
                 AND \(threadsRule))
                """
        case .postgres:
            return """
                (COALESCE((\(q).resources_json::jsonb ->> 'memory_mb')::bigint, 0) <= \(memory)
                 AND ((\(q).resources_json::jsonb -> 'labels') IS NULL
                      OR \(labels)::jsonb @> (\(q).resources_json::jsonb -> 'labels'))
                 AND \(threadsRule))
                """
        }
    }
}
