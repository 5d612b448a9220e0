import APORuntime
import APOStore
import ArgumentParser
import Foundation

extension Apoctl {
    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel a run (`cancel 3`) or one job (`cancel 3/r1.train_rm`, `cancel --job 17`).",
            discussion: "Waiting jobs are cancelled at once; running ones stop at their next heartbeat (within about a second). Jobs that need a cancelled job become upstream_failed.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "RUN (a run id) or RUN/KEY (one job of that run).")
        var target: String?

        @Option(name: .long, help: "Cancel the job with this id.")
        var job: Int64?

        func validate() throws {
            if (target == nil) == (job == nil) {
                throw ValidationError("give either RUN, RUN/KEY or --job ID")
            }
        }

        func run() throws {
            let store = try global.runService()
            if let job {
                guard try store.job(job) != nil else { throw CommandFailure.notFound("job \(job)") }
                try store.cancelJob(job)
                return print("cancel requested for job \(job)")
            }
            let target = target!
            if target.contains("/") {
                guard let reference = JobReference(argument: target) else {
                    throw CommandFailure(code: .usage, message: "error: '\(target)' is not RUN/KEY")
                }
                let record = try reference.resolve(in: store)
                try store.cancelJob(record.id)
                return print("cancel requested for job \(record.id) (\(record.key))")
            }
            guard let runID = Int64(target) else {
                throw CommandFailure(code: .usage, message: "error: '\(target)' is neither a run id nor RUN/KEY")
            }
            _ = try store.requireRun(runID)
            try store.cancelRun(runID)
            print("cancel requested for run \(runID)")
        }
    }

    struct Retry: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Queue a failed, cancelled or upstream-failed job again with a fresh attempt budget.",
            discussion: "Its dependents go back to waiting for it.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "Job id (17) or RUN/KEY (3/r1.train_rm).")
        var job: JobReference

        func run() throws {
            let store = try global.runService()
            let record = try job.resolve(in: store)
            try store.retryJob(record.id)
            print("job \(record.id) (\(record.key)) queued again")
        }
    }

    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make every failed, cancelled or upstream-failed job of a run runnable again.",
            discussion: "Succeeded jobs are kept, never recomputed.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("Run id.", valueName: "run"))
        var runID: Int64

        func run() throws {
            let store = try global.runService()
            _ = try store.requireRun(runID)
            try store.resumeRun(runID)
            print("run \(runID) resumed")
        }
    }
}
