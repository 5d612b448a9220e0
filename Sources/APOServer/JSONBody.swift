import APOStore
import Foundation
import HTTPTypes
import Hummingbird

/// The API's one JSON encoding: sorted keys, ISO 8601 dates (UTC, with nanoseconds: see
/// `PreciseTimestamp`), unescaped slashes.
enum JSONBody {
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = PreciseTimestamp.encoding
        return encoder
    }

    static func response<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try encoder().encode(value)
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
