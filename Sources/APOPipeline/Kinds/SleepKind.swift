import Foundation

/// Sleeps for `seconds`, checking for cancellation every 50 ms and reporting progress; for
/// runtime tests (cancel, kill, heartbeat) and benchmarks.
public enum SleepKind: JobKind {
    public static let name = "sleep"
    public static let version = 1
    public static let parameters = [
        ParameterSpec("seconds", .double, help: "how long to sleep"),
    ]
    public static let outputs = ["seconds"]

    public static func run(_ context: any JobContext) throws -> JobOutputs {
        let seconds = try context.doubleParam("seconds")
        guard seconds >= 0, seconds.isFinite else {
            throw JobParameterError.invalid(name: "seconds", message: "must be ≥ 0, got \(seconds)")
        }
        let start = Date()
        let totalMS = Int((seconds * 1000).rounded())
        var lastReport = Date.distantPast
        while true {
            try context.checkCancelled()
            let elapsed = Date().timeIntervalSince(start)
            if elapsed >= seconds { break }
            if Date().timeIntervalSince(lastReport) >= 0.25 {
                context.reportProgress(done: Int(elapsed * 1000), total: totalMS, message: nil)
                lastReport = Date()
            }
            Thread.sleep(forTimeInterval: min(0.05, seconds - elapsed))
        }
        context.reportProgress(done: totalMS, total: totalMS, message: nil)
        return ["seconds": .double(seconds)]
    }
}
