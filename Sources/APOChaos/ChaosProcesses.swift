import Foundation

/// The processes a chaos trial disturbs, found through /proc: apod's children (its workers), and
/// any process still using a trial's database once apod has stopped (an orphan).
enum ChaosProcesses {
    /// Pids whose parent is `parent`.
    static func children(of parent: Int32) -> [Int32] {
        allPIDs().filter { parentPID(of: $0) == parent }
    }

    /// Pids of live processes whose command line mentions `text` (the trial's database path).
    static func using(_ text: String) -> [Int32] {
        let me = getpid()
        return allPIDs().filter { pid in
            guard pid != me, isAlive(pid),
                  let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\0", with: " ").contains(text)
        }
    }

    /// Alive and not a zombie (a zombie has exited; only its exit status waits to be read).
    static func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        return state(of: pid) != "Z"
    }

    static func allPIDs() -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
    }

    /// Fields of /proc/PID/stat after the command name (which may itself hold spaces and parentheses).
    static func statFields(_ pid: Int32) -> [Substring]? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }

    static func state(of pid: Int32) -> String? { statFields(pid).flatMap { $0.first.map(String.init) } }

    static func parentPID(of pid: Int32) -> Int32? {
        guard let fields = statFields(pid), fields.count > 1 else { return nil }
        return Int32(fields[1])
    }

    /// The pid in a worker id `w1@host:1234`.
    static func pid(ofWorker workerID: String) -> Int32? {
        workerID.split(separator: ":").last.flatMap { Int32($0) }
    }
}
