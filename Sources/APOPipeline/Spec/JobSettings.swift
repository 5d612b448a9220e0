import APOJSON
import Yams

/// A job's run settings (retries, timeout, resources, priority, memoize, shards): each value substituted
/// with params and the copy's matrix values, then checked against its bounds; a bad value keeps the default and is reported.
extension JobTemplateReader {
    func readRetries(_ value: Node, into t: inout JobTemplate) {
        guard let rm = value.mapping else {
            diagnostics.report(value.mark, "'retries' must be a mapping {max_attempts, backoff_seconds, max_backoff_seconds}"); return
        }
        for (rk, rv) in rm {
            let name = rk.scalar?.string ?? ""
            let v = setting(rv)
            switch name {
            case "max_attempts":
                if let i = v?.intValue, i >= 1 { t.maxAttempts = i } else if v != nil { diagnostics.report(rv.mark, "'max_attempts' must be an integer ≥ 1") }
            case "backoff_seconds":
                if let d = v?.doubleValue, d >= 0 { t.backoffBase = d } else if v != nil { diagnostics.report(rv.mark, "'backoff_seconds' must be a number ≥ 0") }
            case "max_backoff_seconds":
                if let d = v?.doubleValue, d >= 0 { t.backoffMax = d } else if v != nil { diagnostics.report(rv.mark, "'max_backoff_seconds' must be a number ≥ 0") }
            default:
                diagnostics.report(rk.mark, "unknown key '\(name)' in 'retries' (expected max_attempts, backoff_seconds, max_backoff_seconds)")
            }
        }
    }

    /// null means no timeout.
    func readTimeout(_ value: Node, into t: inout JobTemplate) {
        let v = setting(value)
        if let d = v?.doubleValue, d > 0 { t.timeout = d } else if v != nil && v != .null { diagnostics.report(value.mark, "'timeout' must be a number of seconds > 0") }
    }

    func readResources(_ value: Node, into t: inout JobTemplate) {
        guard let rm = value.mapping else { diagnostics.report(value.mark, "'resources' must be a mapping {threads, memory_mb, labels}"); return }
        for (rk, rv) in rm {
            let name = rk.scalar?.string ?? ""
            let v = setting(rv)
            switch name {
            case "threads":
                if let i = v?.intValue, i >= 1 { t.threads = i } else if v != nil { diagnostics.report(rv.mark, "'threads' must be an integer ≥ 1") }
            case "memory_mb":
                if let i = v?.intValue, i >= 1 { t.memoryMB = i } else if v != nil { diagnostics.report(rv.mark, "'memory_mb' must be an integer ≥ 1") }
            case "labels":
                readLabels(rv, into: &t)
            default:
                diagnostics.report(rk.mark, "unknown key '\(name)' in 'resources' (expected threads, memory_mb, labels)")
            }
        }
    }

    /// `labels: {gpu: a100, zone: b}`: only hosts started with every one of them (`apod --label`)
    /// claim the job.
    func readLabels(_ value: Node, into t: inout JobTemplate) {
        guard let mapping = value.mapping else {
            diagnostics.report(value.mark, "'labels' must be a mapping of label names to values, e.g. {gpu: a100}")
            return
        }
        var labels: [String: String] = [:]
        for (key, labelValue) in mapping {
            let name = key.scalar?.string ?? ""
            guard HostLabel.isValidName(name) else {
                diagnostics.report(key.mark, "label name '\(name)' must be letters, digits, '.', '_' or '-'")
                continue
            }
            guard let text = setting(labelValue)?.labelText else {
                diagnostics.report(labelValue.mark, "label '\(name)' must have a text, number or boolean value")
                continue
            }
            labels[name] = text
        }
        t.labels = labels.isEmpty ? nil : labels
    }

    func readPriority(_ value: Node, into t: inout JobTemplate) {
        let v = setting(value)
        if let i = v?.intValue { t.priority = i } else if v != nil { diagnostics.report(value.mark, "'priority' must be an integer") }
    }

    func readMemoize(_ value: Node, into t: inout JobTemplate) {
        let v = setting(value)
        if let b = v?.boolValue { t.memoize = b } else if v != nil { diagnostics.report(value.mark, "'memoize' must be true or false") }
    }

    /// `shards: K`, 1 ≤ K ≤ `ShardExpansion.maxShards`; whether the kind takes it is checked once
    /// the kind is known (`checkShardable`).
    func readShards(_ value: Node, into t: inout JobTemplate) {
        t.shardsMark = value.mark
        let v = setting(value)
        if let i = v?.intValue, i >= 1, i <= ShardExpansion.maxShards { t.shards = i }
        else if let v { diagnostics.report(value.mark, "'shards' must be an integer from 1 to \(ShardExpansion.maxShards), found \(v.interpolatedText)") }
    }

    /// Only kinds that can split their input take `shards` (even 1, which would say nothing).
    func checkShardable(_ t: JobTemplate) {
        guard !(registry[t.kind] is any ShardableKind.Type) else { return }
        let shardable = registry.values.compactMap { $0 as? any ShardableKind.Type }.map { $0.name }.sorted()
        let hint = t.kind == EvaluateKind.name ? ": its answers come from a generate job and their scores from a score job; shard those" : ""
        diagnostics.report(t.shardsMark, "kind '\(t.kind)' cannot be sharded (kinds that take 'shards': \(shardable.joined(separator: ", ")))\(hint)")
    }

    /// nil after a substitution problem, which is already reported.
    private func setting(_ node: Node) -> JSONValue? {
        settings.value(of: node, scope: SubstitutionScope(section: nil, cell: cell))
    }
}
