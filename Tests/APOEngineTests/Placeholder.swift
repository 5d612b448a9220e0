import Testing
@testable import APOEngine
@Test func placeholder() { #expect(true) }
