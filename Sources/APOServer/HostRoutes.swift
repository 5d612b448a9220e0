import APOStore
import Foundation
import Hummingbird

/// `GET /api/hosts`: the daemons serving this database, as `apoctl hosts` lists them.
struct HostRoutes {
    let store: StoreAccess

    struct HostBody: Encodable {
        let name: String
        /// "alive", or "lost" when its daemon has not heartbeaten for `JobStore.hostLostAfterSeconds`.
        let state: String
        let daemons: Int
        let workers: Int
        let threads: Int?
        let memoryMB: Int?
        let labels: [String: String]
        let lastHeartbeatAt: Date
        let runningJobs: Int
    }

    func register(on table: RouteTable) {
        table.get("/api/hosts") { _, _ in
            let hosts = try await store.call { try $0.hosts(now: Date(), lostAfter: JobStore.hostLostAfterSeconds) }
            return try JSONBody.response(hosts.map {
                HostBody(name: $0.name, state: $0.isLost ? "lost" : "alive", daemons: $0.daemons, workers: $0.workers,
                         threads: $0.threads, memoryMB: $0.memoryMB, labels: $0.labels,
                         lastHeartbeatAt: $0.lastHeartbeatAt, runningJobs: $0.runningJobs)
            })
        }
    }
}
