import Foundation

/// The store writes its queries with SQLite's placeholders (`?` for the next argument, `?N` for
/// the N-th); PostgreSQL numbers them (`$N`). Translated once per query text. Question marks in
/// quoted strings and comments are left alone.
enum PostgresPlaceholders {
    /// With `casts`, parameter N is written `$N::casts[N-1]` wherever it appears (nil: no cast).
    static func translate(_ sql: String, casts: [String?] = []) -> String {
        var out = ""
        out.reserveCapacity(sql.utf8.count + 16)
        var next = 1
        var chars = Array(sql)
        chars.append("\0")
        var i = 0
        var inString = false
        var inComment = false
        while i < chars.count - 1 {
            let c = chars[i]
            if inComment {
                if c == "\n" { inComment = false }
                out.append(c)
            } else if inString {
                if c == "'" { inString = false }
                out.append(c)
            } else if c == "'" {
                inString = true
                out.append(c)
            } else if c == "-" && chars[i + 1] == "-" {
                inComment = true
                out.append(c)
            } else if c == "?" {
                var digits = ""
                while chars[i + 1].isASCII, chars[i + 1].isNumber {
                    digits.append(chars[i + 1])
                    i += 1
                }
                let number: Int
                if digits.isEmpty {
                    number = next
                    next += 1
                } else {
                    number = Int(digits)!
                }
                out += "$\(number)"
                if number >= 1, number <= casts.count, let cast = casts[number - 1] { out += "::" + cast }
            } else {
                out.append(c)
            }
            i += 1
        }
        return out
    }

    /// A migration file's statements, split at the semicolons that end them (the extended
    /// protocol takes one statement at a time).
    static func statements(_ script: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var inString = false
        var inComment = false
        for c in script {
            if inComment {
                if c == "\n" { inComment = false; current.append(c) }
                continue
            }
            if inString {
                if c == "'" { inString = false }
                current.append(c)
                continue
            }
            if c == "'" { inString = true }
            if c == "-" && current.last == "-" {
                current.removeLast()
                inComment = true
                continue
            }
            if c == ";" {
                let trimmed = current.trimmingCharacters(in: .whitespacesAndNewlines)
                if !trimmed.isEmpty { statements.append(trimmed) }
                current = ""
                continue
            }
            current.append(c)
        }
        let trimmed = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !trimmed.isEmpty { statements.append(trimmed) }
        return statements
    }
}

/// Translated query texts, shared by every connection of the process.
final class PostgresQueryCache: @unchecked Sendable {
    static let shared = PostgresQueryCache()
    private let lock = NSLock()
    private var translations: [String: String] = [:]

    func translated(_ sql: String) -> String {
        lock.lock()
        defer { lock.unlock() }
        if let done = translations[sql] { return done }
        let done = PostgresPlaceholders.translate(sql)
        translations[sql] = done
        return done
    }

    /// The text with each parameter cast to its argument's type (see `PostgresPreparedStatements`).
    func translated(_ sql: String, castingTo casts: [String?]) -> String {
        let key = sql + "\u{0}" + casts.map { $0 ?? "-" }.joined(separator: ",")
        lock.lock()
        defer { lock.unlock() }
        if let done = translations[key] { return done }
        let done = PostgresPlaceholders.translate(sql, casts: casts)
        translations[key] = done
        return done
    }
}
