import APORuntime
import APOStore
import ArgumentParser
import Foundation

extension Apoctl {
    struct Logs: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a run's log lines, or one job's.",
            discussion: "JOB is the job's key in the run (r1.train_rm) or its id. With -f, keep printing new lines (checked every 0.3 s) until the run ends, then print the last ones and exit 0, whether the run succeeded, failed or was cancelled (`apoctl watch` exits with the run's status). While following, warns once on stderr when no apod has heartbeated on the database for 10 s.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("Run id, or RUN/KEY for one job (3/r1.train_rm, as cancel and retry take it).",
                                     valueName: "run"))
        var target: String

        @Argument(help: "Job key or id (default: every job of the run).")
        var job: String?

        /// The run, and the job named either as RUN/KEY or as the second argument.
        var runAndJob: (run: Int64, job: String?) {
            get throws {
                guard let slash = target.firstIndex(of: "/") else {
                    guard let run = Int64(target) else { throw ValidationError("'\(target)' is neither a run id nor RUN/KEY") }
                    return (run, job)
                }
                guard let run = Int64(target[..<slash]), target.index(after: slash) < target.endIndex else {
                    throw ValidationError("'\(target)' is not RUN/KEY")
                }
                if job != nil { throw ValidationError("give the job once: RUN/KEY, or RUN and JOB") }
                return (run, String(target[target.index(after: slash)...]))
            }
        }

        func validate() throws { _ = try runAndJob }

        @Flag(name: [.customShort("f"), .long], help: "Follow: wait for new lines until the run ends.")
        var follow = false

        struct Line: Encodable {
            let id: Int64
            let job: String
            let stream: String
            let line: String
            let at: Date
        }

        func run() throws {
            let (runID, job) = try runAndJob
            let store = try global.runService()
            _ = try store.requireRun(runID)
            var keys = Dictionary(uniqueKeysWithValues: try store.jobs(runID: runID).map { ($0.id, $0.key) })
            var jobID: Int64?
            if let job {
                if let match = keys.first(where: { $0.value == job }) {
                    jobID = match.key
                } else if let id = Int64(job), keys[id] != nil {
                    jobID = id
                } else {
                    throw CommandFailure.notFound("job '\(job)' in run \(runID)")
                }
            }
            var after: Int64 = 0
            var liveness = DaemonLivenessWarning(store: store)
            while true {
                let batch = try store.logs(runID: runID, jobID: jobID, afterID: after, limit: 1000)
                for record in batch {
                    after = max(after, record.id)
                    if keys[record.jobID] == nil {
                        keys = Dictionary(uniqueKeysWithValues: try store.jobs(runID: runID).map { ($0.id, $0.key) })
                    }
                    let key = keys[record.jobID] ?? String(record.jobID)
                    if global.json {
                        let encoder = JSONEncoder()
                        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                        encoder.dateEncodingStrategy = .iso8601
                        let line = Line(id: record.id, job: key, stream: record.stream, line: record.line, at: record.loggedAt)
                        print(String(decoding: try encoder.encode(line), as: UTF8.self))
                    } else if jobID != nil {
                        print(record.line)
                    } else {
                        print("[\(key)] \(record.line)")
                    }
                }
                if batch.count == 1000 { continue }
                fflush(stdout)
                guard follow else { return }
                if try store.requireRun(runID).state != .running {
                    // One more read: lines written just before the run ended.
                    if try store.logs(runID: runID, jobID: jobID, afterID: after, limit: 1).isEmpty { return }
                    continue
                }
                liveness.check(now: Date())
                Thread.sleep(forTimeInterval: 0.3)
            }
        }
    }
}
