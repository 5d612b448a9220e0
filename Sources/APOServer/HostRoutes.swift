import APOStore
import Foundation
import Hummingbird

/// `GET /api/hosts`: the daemons serving this database, as `apoctl hosts` lists them.
struct HostRoutes {
    let store: StoreAccess

    func register(on table: RouteTable) {
        table.get("/api/hosts") { _, _ in
            let hosts = try await store.call { try $0.hosts(now: Date(), lostAfter: JobStore.hostLostAfterSeconds) }
            return try JSONBody.response(hosts)
        }
    }
}
