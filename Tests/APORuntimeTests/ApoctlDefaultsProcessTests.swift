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

/// `apoctl model export --format hf` through the real executable: the directory it writes loads
/// back in apo with the GGUF's weights, and a format it cannot write is a usage error.
struct ModelExportProcessTests {
    @Test func theExportedDirectoryDescribesAndLoadsAsTheGGUF() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        var root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) { root.deleteLastPathComponent() }
        let gguf = root.appendingPathComponent("data/models/SmolLM2-135M-Instruct.Q4_1.gguf").path
        let out = sandbox.directory.appendingPathComponent("smol-hf").path
        let exported = try sandbox.run("apoctl", ["model", "export", gguf, "--format", "hf", "--out", out], timeout: 120)
        #expect(exported.status == 0, "\(exported.stderr)")
        for name in ["model.safetensors", "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + name), "\(name)")
        }
        let info = try sandbox.run("apoctl", ["model", "info", out, "--json"])
        #expect(info.status == 0, "\(info.stderr)")
        #expect(info.stdout.contains("49152") && info.stdout.contains("smollm"), "\(info.stdout)")
        let bad = try sandbox.run("apoctl", ["model", "export", gguf, "--format", "onnx", "--out", out])
        #expect(bad.status == 2 && bad.stderr.contains("--format onnx"), "\(bad.stderr)")
    }
}
