import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The CPU time this process has used so far: user + system, every thread included
/// (`getrusage(RUSAGE_SELF)`). A worker runs one job at a time, so the difference across a job's
/// run is the job's cost, whatever else the machine was doing meanwhile.
enum ProcessCPUTime {
    static func seconds() -> Double {
        var usage = rusage()
        guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 else { return 0 }
        return interval(usage.ru_utime) + interval(usage.ru_stime)
    }

    private static func interval(_ t: timeval) -> Double {
        Double(t.tv_sec) + Double(t.tv_usec) / 1_000_000
    }
}
