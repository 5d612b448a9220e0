import APOStore
import Foundation
import Testing

/// The API's times carry the store's times exactly, so durations computed from them (the web
/// page, `apoctl --server`) are the ones computed from the store.
struct PreciseTimestampTests {
    @Test func storeTimesSurviveTheRoundTrip() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let stored = Double.random(in: 1.6e9...2.0e9, using: &generator)
            let date = Date(timeIntervalSince1970: stored)  // as the store decodes a row
            let text = PreciseTimestamp.string(from: date)
            #expect(text.count == "2026-12-03T13:47:43.123456789Z".count, "\(text)")
            #expect(PreciseTimestamp.date(from: text) == date, "\(stored) → \(text)")
        }
        #expect(PreciseTimestamp.string(from: Date(timeIntervalSince1970: 1_796_305_663.5)) == "2026-12-03T13:47:43.500000000Z")
        #expect(PreciseTimestamp.date(from: "2026-12-03T13:47:43Z") == Date(timeIntervalSince1970: 1_796_305_663))
        #expect(PreciseTimestamp.date(from: "2026-12-03T13:47:43.5") == nil)
        #expect(PreciseTimestamp.date(from: "2026-12-03T13:47:43.x5Z") == nil)
    }
}
