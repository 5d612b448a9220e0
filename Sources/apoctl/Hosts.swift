import APOReport
import APOStore
import ArgumentParser
import Foundation

extension Apoctl {
    struct Hosts: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The hosts whose daemons serve this database: capacity, workers, heartbeat, running jobs.",
            discussion: "A host whose daemon has not heartbeaten for --lost-after seconds is shown as lost: it was killed, its machine is down or cut off; its leases expire and other hosts take its jobs. A daemon stopped cleanly removes itself from the list.")

        @OptionGroup var global: GlobalOptions

        @Option(name: .customLong("lost-after"), help: "Seconds without a heartbeat after which a host is lost (daemons heartbeat every 2 s).")
        var lostAfter: Double = JobStore.hostLostAfterSeconds

        func run() throws {
            let store = try global.runService()
            let entries = try store.hosts(now: Date(), lostAfter: lostAfter)
            if global.json { return try global.printJSON(entries) }
            if entries.isEmpty { return print("no daemon serves \(StoreLocation.display(store.location))") }
            print([Formatting.column("HOST", 16), Formatting.column("STATE", 6), Formatting.column("WORKERS", 8),
                   Formatting.column("THREADS", 8), Formatting.column("MEMORY", 9), Formatting.column("RUNNING", 8),
                   Formatting.column("HEARTBEAT", 10), "LABELS"].joined(separator: " "))
            let now = Date()
            for e in entries {
                let memory = e.memoryMB.map { Formatting.bytes(Int64($0) << 20) } ?? "-"
                let labels = e.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
                print([Formatting.column(e.name, 16), Formatting.column(e.state, 6), Formatting.column(String(e.workers), 8),
                       Formatting.column(e.threads.map(String.init) ?? "-", 8), Formatting.column(memory, 9),
                       Formatting.column(String(e.runningJobs), 8),
                       Formatting.column(Formatting.duration(max(0, now.timeIntervalSince(e.lastHeartbeatAt))) + " ago", 10),
                       labels.isEmpty ? "-" : labels].joined(separator: " "))
            }
        }
    }
}
