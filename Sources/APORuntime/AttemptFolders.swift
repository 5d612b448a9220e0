import APOEngine
import Foundation

/// The folders of one attempt of one job, under its run's artifact root:
///
///     <root>/<key>/                          published outputs: written only by the completion
///     <root>/.attempts/<key>/<attempt id>/   this attempt's staging: artifacts before publication
///     <root>/.checkpoints/<key>/attempt-<id>/ this attempt's checkpoints
///
/// No two attempts share a folder they write, so an attempt that lost its lease (frozen past its
/// lease, then woken) can only write into its own staging and checkpoint folders, which the next
/// attempt has already taken away: its writes fail instead of landing on the newer attempt's files.
/// Checkpoints pass from one attempt to the next only by `prepare`'s explicit adoption.
struct AttemptFolders {
    let output: URL
    let staging: URL
    let checkpoint: URL
    /// Where the earlier attempt's checkpoints were adopted from, for the job's log.
    let adoptedFrom: String?
    /// Leftovers moved aside inside the fenced transaction, removed outside it (`removeTrash`).
    let trash: [URL]

    static let stagingFolder = ".attempts"
    static let checkpointFolder = ".checkpoints"
    static let attemptPrefix = "attempt-"

    /// `<key>` as a single path component (job keys may hold `/`, e.g. `r1/apo_rm`).
    static func safeKey(_ key: String) -> String { key.replacingOccurrences(of: "/", with: "_") }

    /// Lays out this attempt's folders. Run while holding the lease (inside the store's fenced
    /// transaction), since it takes earlier attempts' folders away: every other attempt's staging
    /// is moved to the trash, the newest earlier attempt's checkpoint folder becomes this one's
    /// (the legacy layout, files directly under `.checkpoints/<key>/`, counts as such a folder), and
    /// older ones go to the trash. Folders of attempts newer than this one are never touched.
    /// First of all, `owner` must be the folder's recorded owner (`RunFolderOwner.claim`): attempt
    /// ids are only unique within one database.
    static func prepare(root: String, jobKey: String, attemptID: Int64, owner: RunFolderOwner) throws -> AttemptFolders {
        try owner.claim(root: root)
        let fm = FileManager.default
        let key = safeKey(jobKey)
        let base = URL(fileURLWithPath: root, isDirectory: true)
        let output = base.appendingPathComponent(key, isDirectory: true)
        let stagingParent = base.appendingPathComponent(stagingFolder).appendingPathComponent(key, isDirectory: true)
        let checkpointParent = base.appendingPathComponent(checkpointFolder).appendingPathComponent(key, isDirectory: true)
        let staging = stagingParent.appendingPathComponent(String(attemptID), isDirectory: true)
        let checkpoint = checkpointParent.appendingPathComponent(attemptPrefix + String(attemptID), isDirectory: true)
        var trash: [URL] = []
        func discard(_ url: URL) throws {
            let aside = base.appendingPathComponent(".trash-\(UUID().uuidString)")
            if rename(url.path, aside.path) == 0 { trash.append(aside) }
            else if errno != ENOENT { throw DurabilityError(path: url.path, operation: "rename", code: errno) }
        }

        try fm.createDirectory(at: stagingParent, withIntermediateDirectories: true)
        for name in try fm.contentsOfDirectory(atPath: stagingParent.path) {
            if let id = Int64(name), id > attemptID { continue }
            try discard(stagingParent.appendingPathComponent(name))
        }
        try fm.createDirectory(at: staging, withIntermediateDirectories: false)

        try fm.createDirectory(at: checkpointParent, withIntermediateDirectories: true)
        var earlier: [(id: Int64, name: String)] = []
        var legacy: [String] = []
        for name in try fm.contentsOfDirectory(atPath: checkpointParent.path) {
            if name.hasPrefix(attemptPrefix), let id = Int64(name.dropFirst(attemptPrefix.count)) {
                if id < attemptID { earlier.append((id, name)) }
            } else {
                legacy.append(name)
            }
        }
        earlier.sort { $0.id < $1.id }
        var adoptedFrom: String?
        if let newest = earlier.popLast() {
            if rename(checkpointParent.appendingPathComponent(newest.name).path, checkpoint.path) != 0 {
                throw DurabilityError(path: checkpoint.path, operation: "rename", code: errno)
            }
            adoptedFrom = newest.name
            for name in legacy { try discard(checkpointParent.appendingPathComponent(name)) }
        } else {
            try fm.createDirectory(at: checkpoint, withIntermediateDirectories: false)
            for name in legacy {
                try fm.moveItem(at: checkpointParent.appendingPathComponent(name), to: checkpoint.appendingPathComponent(name))
            }
            if !legacy.isEmpty { adoptedFrom = "the checkpoint folder of an earlier apod version" }
        }
        for old in earlier { try discard(checkpointParent.appendingPathComponent(old.name)) }
        trash += try discardTemporaries(in: checkpoint, base: base)
        try Durability.flush(path: checkpointParent.path)
        return AttemptFolders(output: output, staging: staging, checkpoint: checkpoint, adoptedFrom: adoptedFrom,
                              trash: trash)
    }

    /// Half-written files a killed attempt left in a checkpoint folder (`.step-N.tmp-*`,
    /// `.LATEST.tmp-*`, `.x.json.tmp`, a download's partial file is kept: it resumes).
    static func discardTemporaries(in folder: URL, base: URL) throws -> [URL] {
        var moved: [URL] = []
        let fm = FileManager.default
        guard let walker = fm.enumerator(atPath: folder.path) else { return [] }
        for case let relative as String in walker {
            let name = (relative as NSString).lastPathComponent
            guard isTemporaryName(name) else { continue }
            let aside = base.appendingPathComponent(".trash-\(UUID().uuidString)")
            if rename(folder.appendingPathComponent(relative).path, aside.path) == 0 {
                moved.append(aside)
                walker.skipDescendants()
            }
        }
        return moved
    }

    /// The temporary names apo's writers use: `.NAME.tmp-…`, `.NAME.tmp`, `.NAME.old-…`.
    static func isTemporaryName(_ name: String) -> Bool {
        name.hasPrefix(".") && (name.contains(".tmp-") || name.hasSuffix(".tmp") || name.contains(".old-"))
    }

    /// Removes what `prepare` moved aside (outside the fenced transaction: a tree may be large).
    func removeTrash() {
        for url in trash { try? FileManager.default.removeItem(at: url) }
    }

    /// After the job succeeded: its staging and checkpoints are no longer needed by anyone.
    static func removeScratch(root: String, jobKey: String) {
        let base = URL(fileURLWithPath: root, isDirectory: true)
        let key = safeKey(jobKey)
        for folder in [stagingFolder, checkpointFolder] {
            try? FileManager.default.removeItem(at: base.appendingPathComponent(folder).appendingPathComponent(key))
        }
    }
}
