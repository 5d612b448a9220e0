import Foundation

/// ISO 8601 in UTC with nanoseconds (`2026-12-03T13:47:43.123456789Z`): the HTTP API's times.
/// The store keeps times as doubles; whole seconds would turn a 0.84 s job into 0 s or 1 s for
/// anything that computes a duration from the API (the web page, `apoctl --server`), so the
/// fraction is kept, and `apoctl --server` prints the durations `apoctl --db` prints.
public enum PreciseTimestamp {
    public static func string(from date: Date) -> String {
        let t = date.timeIntervalSince1970
        var seconds = t.rounded(.down)
        var nanos = ((t - seconds) * 1e9).rounded()
        if nanos >= 1e9 { seconds += 1; nanos = 0 }
        let whole = Date(timeIntervalSince1970: seconds).formatted(.iso8601)  // "…T13:47:43Z"
        return String(whole.dropLast()) + "." + String(format: "%09d", Int(nanos)) + "Z"
    }

    /// Also reads whole seconds (`…T13:47:43Z`); nil for anything else.
    public static func date(from text: String) -> Date? {
        guard text.hasSuffix("Z") else { return nil }
        var whole = String(text.dropLast())
        var fraction = 0.0
        if let dot = whole.lastIndex(of: ".") {
            let digits = whole[whole.index(after: dot)...]
            guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
                  let value = Double("0." + digits) else { return nil }
            fraction = value
            whole = String(whole[..<dot])
        }
        guard let base = try? Date.ISO8601FormatStyle().parse(whole + "Z") else { return nil }
        return Date(timeIntervalSince1970: base.timeIntervalSince1970 + fraction)
    }

    public static let encoding = JSONEncoder.DateEncodingStrategy.custom { date, encoder in
        var container = encoder.singleValueContainer()
        try container.encode(PreciseTimestamp.string(from: date))
    }

    public static let decoding = JSONDecoder.DateDecodingStrategy.custom { decoder in
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let parsed = PreciseTimestamp.date(from: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not an ISO 8601 time")
        }
        return parsed
    }
}
