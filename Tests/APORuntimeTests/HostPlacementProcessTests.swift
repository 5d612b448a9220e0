import APOStore
import Foundation
import Testing

/// Labels through the real executables: `apod --label`, a pipeline's `resources: {labels}`, and
/// what `apoctl show` and `apoctl hosts` say about a job no live host may take.
@Suite(.serialized)
struct HostPlacementProcessTests {
    @Test func labelledJobsRunOnlyWhereTheLabelsAreAndShowSaysWhyOneWaits() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let file = try sandbox.write("p.yaml", """
            name: placed
            jobs:
              - {id: anywhere, kind: noop}
              - {id: on-a100, kind: noop, resources: {labels: {gpu: a100}}, params: {value: 1}}
              - {id: on-h100, kind: noop, resources: {labels: {gpu: h100}}, params: {value: 2}}
            """)
        #expect(try sandbox.apoctl(["submit", file]).status == 0)
        try sandbox.spawn("apod", ["--db", sandbox.databasePath, "--workers", "1", "--host", "box",
                                   "--label", "gpu=a100", "--log-level", "info"], stderrName: "apod-1.log")
        let store = try sandbox.store()
        try sandbox.waitUntil("the a100 job to finish", timeout: 30) {
            try store.job(runID: 1, key: "on-a100")?.state == .succeeded
        }
        #expect(try store.job(runID: 1, key: "anywhere")?.state == .succeeded)
        Thread.sleep(forTimeInterval: 0.5)
        #expect(try store.job(runID: 1, key: "on-h100")?.state == .queued)

        let show = try sandbox.apoctl(["show", "1"])
        #expect(show.stdout.contains("waiting for a host with gpu=h100: no live host offers it"), "\(show.stdout)")
        #expect(!show.stdout.contains("waiting for a host with gpu=a100"))
        let hosts = try sandbox.apoctl(["hosts"])
        #expect(hosts.stdout.contains("box") && hosts.stdout.contains("alive") && hosts.stdout.contains("gpu=a100"),
                "\(hosts.stdout)")
        let bad = try sandbox.run("apod", ["--db", sandbox.databasePath, "--label", "gpu"])
        #expect(bad.status != 0 && bad.stderr.contains("--label 'gpu' must be name=value"), "\(bad.stderr)")
    }
}
