import Foundation
import PackagePlugin

/// Compiles the top-level `Migrations/*.sql` files (SQLite) and `Migrations/postgres/*.sql`
/// (PostgreSQL) into the APOStore module, so the daemon carries its schema history inside the
/// binary and works from any directory.
@main
struct EmbedMigrations: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let directory = context.package.directoryURL.appending(path: "Migrations")
        func sqlFiles(_ directory: URL) throws -> [URL] {
            try FileManager.default
                .contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
                .filter { $0.pathExtension == "sql" }
                .sorted { $0.lastPathComponent < $1.lastPathComponent }
        }
        let files = try sqlFiles(directory) + sqlFiles(directory.appending(path: "postgres"))
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedMigrations.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(files.count) migrations",
                executable: try context.tool(named: "MigrationEmbedder").url,
                arguments: [directory.path, output.path],
                inputFiles: files,
                outputFiles: [output]
            )
        ]
    }
}
