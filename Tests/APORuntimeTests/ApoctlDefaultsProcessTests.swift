import Foundation
import Testing

/// How `apoctl` finds its database and options, through the real executable: global options
/// before the command, the user's config file, and shell completions.
struct ApoctlDefaultsProcessTests {
    @Test func globalOptionsMayComeBeforeTheCommand() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let file = try sandbox.write("p.yaml", "name: early\njobs:\n  - {id: one, kind: noop}\n")
        let submitted = try sandbox.run("apoctl", ["--db", sandbox.databasePath, "submit", file])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let listed = try sandbox.run("apoctl", ["--json", "--db=\(sandbox.databasePath)", "runs"])
        #expect(listed.status == 0, "\(listed.stderr)")
        let runs = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]]
        #expect(runs?.first?["pipeline"] as? String == "early", "\(listed.stdout)")
        // A command that takes no --db says so, naming the option.
        let model = try sandbox.run("apoctl", ["--db", sandbox.databasePath, "cache", "stats"])
        #expect(model.status == 2 && model.stderr.contains("--db"), "\(model.stderr)")
    }

    @Test func theConfigFileNamesTheDatabaseAndItsErrorsNameTheLine() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let config = sandbox.directory.appendingPathComponent("config")
        try FileManager.default.createDirectory(at: config.appendingPathComponent("apo"), withIntermediateDirectories: true)
        let configFile = config.appendingPathComponent("apo/config.yaml")
        try "db: \(sandbox.databasePath)\n".write(to: configFile, atomically: true, encoding: .utf8)
        let environment = ["XDG_CONFIG_HOME": config.path]
        let file = try sandbox.write("p.yaml", "name: configured\njobs:\n  - {id: one, kind: noop}\n")
        let submitted = try sandbox.run("apoctl", ["submit", file], currentDirectory: config, environment: environment)
        #expect(submitted.status == 0, "\(submitted.stderr)")
        #expect(FileManager.default.fileExists(atPath: sandbox.databasePath), "the configured database was used")
        #expect(!FileManager.default.fileExists(atPath: config.appendingPathComponent("apo.db").path))
        // --db and $APO_DB come first.
        let other = sandbox.directory.appendingPathComponent("other.db").path
        let viaEnv = try sandbox.run("apoctl", ["runs"], environment: environment.merging(["APO_DB": other]) { a, _ in a })
        #expect(viaEnv.status == 6, "no database at $APO_DB: \(viaEnv.stderr)")

        try "db: \(sandbox.databasePath)\ndatabse: typo.db\n".write(to: configFile, atomically: true, encoding: .utf8)
        let bad = try sandbox.run("apoctl", ["runs"], environment: environment)
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("\(configFile.path):2:1: unknown setting 'databse'"), "\(bad.stderr)")
    }

    @Test func completionScriptsAreGenerated() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        for shell in ["bash", "zsh", "fish"] {
            let script = try sandbox.run("apoctl", ["--generate-completion-script", shell])
            #expect(script.status == 0 && script.stdout.contains("apoctl") && script.stdout.contains("submit"), "\(shell)")
        }
    }
}
