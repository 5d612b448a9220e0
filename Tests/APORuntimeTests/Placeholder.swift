import Testing
@testable import APORuntime
@Test func placeholder() { #expect(true) }
