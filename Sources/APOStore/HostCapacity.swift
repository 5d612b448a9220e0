import Foundation

/// What one host offers its workers' jobs: recorded by its `apod` with every heartbeat, and
/// checked by its workers' claims against each job's `resources:`.
public struct HostCapacity: Sendable, Equatable {
    /// `apod --host`; the machine's name by default.
    public var name: String
    public var threads: Int
    public var memoryMB: Int
    /// `apod --label k=v`: a job that asks for labels is claimed only by hosts that have them all.
    public var labels: [String: String]

    public init(name: String, threads: Int, memoryMB: Int, labels: [String: String] = [:]) {
        self.name = name
        self.threads = threads
        self.memoryMB = memoryMB
        self.labels = labels
    }

    /// This machine as it is: its name, CPU threads and physical memory.
    public static func thisMachine(name: String? = nil, labels: [String: String] = [:]) -> HostCapacity {
        HostCapacity(name: name ?? ProcessInfo.processInfo.hostName,
                     threads: ProcessInfo.processInfo.activeProcessorCount,
                     memoryMB: Int(ProcessInfo.processInfo.physicalMemory / (1 << 20)), labels: labels)
    }

    /// The labels as compact JSON with sorted keys (what the store keeps and the claim compares).
    public var labelsJSON: String { Self.encode(labels) }

    static func encode(_ labels: [String: String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(labels)) ?? Data("{}".utf8), as: UTF8.self)
    }

    static func decode(_ json: String) -> [String: String] {
        (try? JSONDecoder().decode([String: String].self, from: Data(json.utf8))) ?? [:]
    }
}

/// One host as `apoctl hosts` shows it: its daemons' latest heartbeat and what they offer.
public struct HostRecord: Sendable, Equatable {
    public var name: String
    public var daemons: Int
    public var workers: Int
    public var threads: Int?
    public var memoryMB: Int?
    public var labels: [String: String]
    public var lastHeartbeatAt: Date
    /// Jobs whose lease a worker of this host holds.
    public var runningJobs: Int
    /// No heartbeat for longer than the threshold `hosts(now:lostAfter:)` was given: the daemon
    /// was killed, its machine is down or cut off. Its leases expire and other hosts take its jobs.
    public var isLost: Bool
    /// Public: apoctl rebuilds records from apod's HTTP API answers.
    public init(name: String, daemons: Int, workers: Int, threads: Int?, memoryMB: Int?,
                labels: [String: String], lastHeartbeatAt: Date, runningJobs: Int, isLost: Bool) {
        self.name = name
        self.daemons = daemons
        self.workers = workers
        self.threads = threads
        self.memoryMB = memoryMB
        self.labels = labels
        self.lastHeartbeatAt = lastHeartbeatAt
        self.runningJobs = runningJobs
        self.isLost = isLost
    }
}

/// Which queued jobs a worker's claim may take.
public struct ClaimScope: Sendable, Equatable {
    /// The worker's host: only jobs whose `resources:` it offers. nil: any job (one-machine tools).
    public var host: HostCapacity?
    /// Runs the worker leaves to other hosts (their artifact folder is not mounted on its host).
    public var skippedRuns: Set<Int64>

    public init(host: HostCapacity? = nil, skippedRuns: Set<Int64> = []) {
        self.host = host
        self.skippedRuns = skippedRuns
    }

    public static let anyJob = ClaimScope()
}

/// What a job's stored `resources` ask of a host: the Swift twin of the claim's SQL filter
/// (`JobStore.hostMaySQL`), for telling people why a job waits.
public struct ResourceNeeds: Sendable, Equatable {
    public var memoryMB: Int?
    public var labels: [String: String]

    /// nil when the job asks nothing of its host beyond threads.
    public init?(resourcesJSON: String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(resourcesJSON.utf8)) as? [String: Any] else {
            return nil
        }
        memoryMB = (object["memory_mb"] as? NSNumber)?.intValue
        labels = (object["labels"] as? [String: Any])?.compactMapValues { $0 as? String } ?? [:]
        if memoryMB == nil && labels.isEmpty { return nil }
    }

    /// The `threads` a job's `resources:` ask for, nil when they name none. It places the job
    /// (`JobStore+Placement`) and caps the threads the worker gives it.
    public static func threads(resourcesJSON: String) -> Int? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(resourcesJSON.utf8)) as? [String: Any],
              let threads = (object["threads"] as? NSNumber)?.intValue, threads >= 1
        else { return nil }
        return threads
    }

    /// Whether `host` offers all of it (a host that recorded no memory figure is given the benefit).
    public func isOffered(by host: HostRecord) -> Bool {
        if let memoryMB, let offered = host.memoryMB, offered < memoryMB { return false }
        return labels.allSatisfy { host.labels[$0.key] == $0.value }
    }

    /// "gpu=a100, memory_mb ≥ 4096"
    public var description: String {
        (labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            + (memoryMB.map { ["memory_mb ≥ \($0)"] } ?? [])).joined(separator: ", ")
    }
}

/// A host as `apoctl hosts --json` and `GET /api/hosts` list it: `isLost` as `"state": "alive" | "lost"`.
/// `apoctl --server` reads the API's list back with the same keys.
extension HostRecord: Codable {
    public var state: String { isLost ? "lost" : "alive" }

    enum CodingKeys: String, CodingKey {
        case name, state, daemons, workers, threads, memoryMB, labels, lastHeartbeatAt, runningJobs
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try c.decode(String.self, forKey: .name), daemons: try c.decode(Int.self, forKey: .daemons),
                  workers: try c.decode(Int.self, forKey: .workers), threads: try c.decodeIfPresent(Int.self, forKey: .threads),
                  memoryMB: try c.decodeIfPresent(Int.self, forKey: .memoryMB),
                  labels: try c.decode([String: String].self, forKey: .labels),
                  lastHeartbeatAt: try c.decode(Date.self, forKey: .lastHeartbeatAt),
                  runningJobs: try c.decode(Int.self, forKey: .runningJobs),
                  isLost: try c.decode(String.self, forKey: .state) == "lost")
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(state, forKey: .state)
        try c.encode(daemons, forKey: .daemons)
        try c.encode(workers, forKey: .workers)
        try c.encodeIfPresent(threads, forKey: .threads)
        try c.encodeIfPresent(memoryMB, forKey: .memoryMB)
        try c.encode(labels, forKey: .labels)
        try c.encode(lastHeartbeatAt, forKey: .lastHeartbeatAt)
        try c.encode(runningJobs, forKey: .runningJobs)
    }
}
