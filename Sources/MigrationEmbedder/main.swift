import Foundation

// Usage: MigrationEmbedder <Migrations directory> <output .swift file>
// Writes `EmbeddedMigrations.all`: (name, sql) pairs in file-name order.
let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: MigrationEmbedder MIGRATIONS_DIR OUTPUT\n".utf8))
    exit(2)
}
let directory = URL(fileURLWithPath: arguments[1])
let files = try FileManager.default
    .contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
    .filter { $0.pathExtension == "sql" }
    .sorted { $0.lastPathComponent < $1.lastPathComponent }

var source = """
// Generated from Migrations/*.sql by the EmbedMigrations plugin. Do not edit.
enum EmbeddedMigrations {
    /// Every migration as (file name without extension, SQL text), in apply order.
    static let all: [(name: String, sql: String)] = [

"""
for file in files {
    let sql = try String(contentsOf: file, encoding: .utf8)
    // A raw string with enough #s that no SQL text can end it early.
    var hashes = "#"
    while sql.contains("\"" + hashes) { hashes += "#" }
    let name = file.deletingPathExtension().lastPathComponent
    source += "        (\(String(reflecting: name)), \(hashes)\"\"\"\n\(sql)\n\"\"\"\(hashes)),\n"
}
source += "    ]\n}\n"
try source.write(to: URL(fileURLWithPath: arguments[2]), atomically: true, encoding: .utf8)
