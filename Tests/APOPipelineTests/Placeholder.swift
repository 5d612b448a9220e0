import Testing
@testable import APOPipeline
@Test func placeholder() { #expect(true) }
