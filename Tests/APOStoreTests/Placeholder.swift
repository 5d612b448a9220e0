import Testing
@testable import APOStore
@Test func placeholder() { #expect(true) }
