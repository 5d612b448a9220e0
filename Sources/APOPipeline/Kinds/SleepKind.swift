import Foundation

/// Sleeps for `seconds`, checking for cancellation every 50 ms and reporting progress; for
/// runtime tests (cancel, kill, heartbeat, following logs) and benchmarks. With `ignore_stop` it
/// plays a kind that never checks for cancellation, which the worker must hard-stop.
public enum SleepKind: JobKind {
    public static let name = "sleep"
    public static let version = 1
    public static let parameters = [
        ParameterSpec("seconds", .double, help: "how long to sleep"),
        ParameterSpec("log_every", .double, default: .double(0),
                      help: "log a line 'sleep: slept X of Y s' this often (0: never), e.g. to follow with apoctl logs -f"),
        ParameterSpec("ignore_stop", .bool, default: .bool(false),
                      help: "never check for cancellation, like a misbehaving kind: tests apod's hard stop (--stop-grace)"),
    ]
    public static let outputs = ["seconds"]

    public static func run(_ context: any JobContext) throws -> JobOutputs {
        let seconds = try context.doubleParam("seconds")
        guard seconds >= 0, seconds.isFinite else {
            throw JobParameterError.invalid(name: "seconds", message: "must be ≥ 0, got \(seconds)")
        }
        let logEvery = try context.doubleParam("log_every")
        guard logEvery >= 0, logEvery.isFinite else {
            throw JobParameterError.invalid(name: "log_every", message: "must be ≥ 0 (0: never), got \(logEvery)")
        }
        let ignoreStop = try context.boolParam("ignore_stop")
        let start = Date()
        let totalMS = Int((seconds * 1000).rounded())
        var lastReport = Date.distantPast
        var linesLogged = 0
        while true {
            if !ignoreStop { try context.checkCancelled() }
            let elapsed = Date().timeIntervalSince(start)
            if elapsed >= seconds { break }
            if Date().timeIntervalSince(lastReport) >= 0.25 {
                context.reportProgress(done: Int(elapsed * 1000), total: totalMS, message: nil)
                lastReport = Date()
            }
            if logEvery > 0, elapsed >= Double(linesLogged + 1) * logEvery {
                // One line per crossing, no burst to catch up after a stall.
                linesLogged = Int(elapsed / logEvery)
                context.log(String(format: "sleep: slept %.1f of %.1f s", elapsed, seconds))
            }
            Thread.sleep(forTimeInterval: min(0.05, seconds - elapsed))
        }
        if logEvery > 0 { context.log(String(format: "sleep: done after %.1f s", seconds)) }
        context.reportProgress(done: totalMS, total: totalMS, message: nil)
        return ["seconds": .double(seconds)]
    }
}
