import APOEngine
import APOStore
import Foundation

/// `<run folder>/.apo-owner.json`: the database and run a run folder belongs to. Written when the
/// run is submitted (or by the first attempt, for folders made before owners were recorded) and
/// checked before any attempt lays out its folders there, and before apod's leftover sweep: a copy
/// of the database hands out the same attempt ids as the original, and an attempt takes over the
/// staging and checkpoints of earlier ids, so a copy's worker must not touch the original's folder.
public struct RunFolderOwner: Codable, Equatable, Sendable {
    /// `DatabaseIdentity.id` of the owning database.
    public var database: String
    public var run: Int64
    /// Where the owning database was when it claimed the folder (for messages only).
    public var location: String

    public static let fileName = ".apo-owner.json"

    init(database: String, run: Int64, location: String) {
        self.database = database
        self.run = run
        self.location = location
    }

    init(_ identity: DatabaseIdentity, run: Int64) {
        self.init(database: identity.id, run: run, location: identity.location)
    }

    static func file(in root: String) -> URL {
        URL(fileURLWithPath: root, isDirectory: true).appendingPathComponent(fileName)
    }

    /// The folder's recorded owner; nil when none is recorded yet.
    static func read(root: String) throws -> RunFolderOwner? {
        let url = file(in: root)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do {
            return try JSONDecoder().decode(RunFolderOwner.self, from: Data(contentsOf: url))
        } catch {
            throw RunFolderOwnerUnreadable(path: url.path, reason: "\(error)")
        }
    }

    /// Records `self` as the owner of `root` unless one is recorded (made with link(2), so of two
    /// databases claiming a fresh folder at once exactly one wins), then checks that the recorded
    /// owner is `self`; throws `RunFolderOwnedElsewhere` when it is not.
    func claim(root: String) throws {
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        if try Self.read(root: root) == nil {
            try write(root: root, replacing: false)
        }
        guard let recorded = try Self.read(root: root) else {
            throw RunFolderOwnerUnreadable(path: Self.file(in: root).path, reason: "missing after it was written")
        }
        if recorded.database != database || recorded.run != run {
            throw RunFolderOwnedElsewhere(root: root, owner: recorded, claimant: self)
        }
    }

    /// Writes the owner file through a temporary name: replacing, by rename; otherwise by link,
    /// which leaves an existing owner file in place.
    func write(root: String, replacing: Bool) throws {
        let target = Self.file(in: root)
        let temporary = URL(fileURLWithPath: root).appendingPathComponent(".apo-owner.json.tmp-\(UUID().uuidString.prefix(8))")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: temporary)
        defer { unlink(temporary.path) }
        try Durability.flush(path: temporary.path)
        let status = replacing ? rename(temporary.path, target.path) : link(temporary.path, target.path)
        if status != 0 && !(errno == EEXIST && !replacing) {
            throw DurabilityError(path: target.path, operation: replacing ? "rename" : "link", code: errno)
        }
        try Durability.flush(path: root)
    }
}

extension RunFolderOwner {
    /// Makes `store`'s database the owner of run `runID`'s folder, whoever owned it (`apoctl
    /// adopt-folder`): for a database moved by a means its identity check cannot see (a PostgreSQL
    /// dump restored elsewhere), or a copy that is to carry on alone. Returns the folder and the
    /// owner it replaced.
    public static func adopt(runID: Int64, store: JobStore) throws -> (root: String, replaced: RunFolderOwner?) {
        guard let run = try store.run(runID) else { throw StoreError.notFound(what: "run", id: runID) }
        let previous = try? read(root: run.artifactRoot)
        try FileManager.default.createDirectory(atPath: run.artifactRoot, withIntermediateDirectories: true)
        try RunFolderOwner(store.databaseIdentity(), run: runID).write(root: run.artifactRoot, replacing: true)
        return (run.artifactRoot, previous ?? nil)
    }

    /// Records `store`'s run `runID` as the owner of its new folder `root` (at submission).
    public static func claimNewFolder(root: String, runID: Int64, store: JobStore) throws {
        try RunFolderOwner(store.databaseIdentity(), run: runID).claim(root: root)
    }
}

/// A worker of one database found a run folder that another database (or another run) owns.
struct RunFolderOwnedElsewhere: Error, CustomStringConvertible {
    let root: String
    let owner: RunFolderOwner
    let claimant: RunFolderOwner

    var description: String {
        let whose = owner.database == claimant.database
            ? "run \(owner.run) of this database"
            : "run \(owner.run) of another apo database (\(owner.location), identity \(owner.database.prefix(8)))"
        return """
            run \(claimant.run)'s folder \(root) belongs to \(whose); this database \
            (\(claimant.location), identity \(claimant.database.prefix(8))) must not write there — \
            a copy of a database shares its run folders with the original. If the other database \
            will never run it again (it was moved by a means apo cannot see, or deleted), make this \
            one the owner: apoctl adopt-folder \(claimant.run)
            """
    }
}

struct RunFolderOwnerUnreadable: Error, CustomStringConvertible {
    let path: String
    let reason: String
    var description: String { "cannot read the run folder's owner file \(path): \(reason)" }
}
