import Foundation
import Hummingbird

/// `GET /metrics`: Prometheus' text exposition format (version 0.0.4), read like the JSON routes:
/// open to anyone who can connect.
struct MetricsRoute {
    let store: StoreAccess
    let metrics: StoreMetrics

    func register(on table: RouteTable) {
        table.get("/metrics") { _, _ in
            let metrics = self.metrics
            let text = try await store.call { try metrics.scrape($0, now: Date()) }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
    }
}
