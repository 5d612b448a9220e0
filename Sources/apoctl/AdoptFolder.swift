import APORuntime
import APOStore
import ArgumentParser
import Foundation

extension Apoctl {
    /// `apoctl adopt-folder RUN`: make this database the owner of a run's folder.
    struct AdoptFolder: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "adopt-folder",
            abstract: "Make this database the owner of a run's artifact folder.",
            discussion: """
            Each run folder records which database and run it belongs to (.apo-owner.json), and a \
            worker writes only into its own database's folders: a copy of a database must not take \
            over the original's attempts. An SQLite file that was moved keeps its identity; one that \
            was copied gets a new one. Adopt a folder when the database that owned it will never run \
            it again — a PostgreSQL dump restored elsewhere, or a copy that now carries on alone.
            """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("Run id.", valueName: "run"))
        var runID: Int64

        func run() throws {
            let store = try global.openStore()
            let adopted = try global.storeCall { try RunFolderOwner.adopt(runID: runID, store: store) }
            let before = adopted.replaced.map { "run \($0.run) of the database at \($0.location)" } ?? "nobody"
            print("run \(runID)'s folder \(adopted.root) now belongs to this database (it belonged to \(before))")
        }
    }
}
