import Foundation

// Usage: MigrationEmbedder <Migrations directory> <output .swift file>
// Writes `EmbeddedMigrations.sqlite` and `.postgres`: (name, sql) pairs in file-name order.
let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: MigrationEmbedder MIGRATIONS_DIR OUTPUT\n".utf8))
    exit(2)
}
let directory = URL(fileURLWithPath: arguments[1])
func sqlFiles(_ directory: URL) throws -> [URL] {
    guard FileManager.default.fileExists(atPath: directory.path) else { return [] }
    return try FileManager.default
        .contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
        .filter { $0.pathExtension == "sql" }
        .sorted { $0.lastPathComponent < $1.lastPathComponent }
}

/// `static let NAME = [...]`: the files as (name, SQL) pairs.
func list(_ name: String, _ files: [URL]) throws -> String {
    var source = "    static let \(name): [(name: String, sql: String)] = [\n"
    for file in files {
        let sql = try String(contentsOf: file, encoding: .utf8)
        // A raw string with enough #s that no SQL text can end it early.
        var hashes = "#"
        while sql.contains("\"" + hashes) { hashes += "#" }
        let name = file.deletingPathExtension().lastPathComponent
        source += "        (\(String(reflecting: name)), \(hashes)\"\"\"\n\(sql)\n\"\"\"\(hashes)),\n"
    }
    return source + "    ]\n"
}

var source = """
// Generated from Migrations/*.sql and Migrations/postgres/*.sql by the EmbedMigrations plugin.
// Do not edit.
enum EmbeddedMigrations {
    /// Every migration of each dialect as (file name without extension, SQL text), in apply order.

"""
source += try list("sqlite", sqlFiles(directory))
source += try list("postgres", sqlFiles(directory.appendingPathComponent("postgres")))
source += "}\n"
try source.write(to: URL(fileURLWithPath: arguments[2]), atomically: true, encoding: .utf8)
