/// A piece of text to encode: either raw bytes still to tokenize, or an already recognised special token.
enum TextFragment {
    case raw(Range<Int>)
    case token(Int32)
}

/// The special-token strings a vocabulary recognises inside text, with llama.cpp's precedence
/// (`tokenizer_st_partition`): longest string first, each carved out everywhere (leftmost,
/// non-overlapping) before the next is looked for. Control and unknown tokens are recognised only
/// when the caller asks (`parseSpecial`); user-defined tokens always are.
struct SpecialTokenMatcher: Sendable {
    struct Entry: Sendable {
        let id: Int32
        let bytes: [UInt8]
        let alwaysRecognised: Bool
    }
    let entries: [Entry]

    init(tokens: [String], types: [Int32]) {
        var entries: [Entry] = []
        for (i, t) in types.enumerated() {
            guard let type = TokenType(rawValue: t) else { continue }
            switch type {
            case .control, .unknown:
                entries.append(Entry(id: Int32(i), bytes: Array(tokens[i].utf8), alwaysRecognised: false))
            case .userDefined:
                entries.append(Entry(id: Int32(i), bytes: Array(tokens[i].utf8), alwaysRecognised: true))
            default:
                break
            }
        }
        // Stable order for equal lengths (llama.cpp's std::sort leaves it unspecified).
        entries.sort { $0.bytes.count != $1.bytes.count ? $0.bytes.count > $1.bytes.count : $0.id < $1.id }
        self.entries = entries.filter { !$0.bytes.isEmpty }
    }

    func split(_ text: [UInt8], parseSpecial: Bool) -> [TextFragment] {
        var fragments: [TextFragment] = text.isEmpty ? [] : [.raw(0..<text.count)]
        for entry in entries where parseSpecial || entry.alwaysRecognised {
            var next: [TextFragment] = []
            next.reserveCapacity(fragments.count + 2)
            var changed = false
            for fragment in fragments {
                guard case .raw(let range) = fragment else { next.append(fragment); continue }
                var start = range.lowerBound
                while let hit = find(entry.bytes, in: text, from: start, to: range.upperBound) {
                    if hit > start { next.append(.raw(start..<hit)) }
                    next.append(.token(entry.id))
                    start = hit + entry.bytes.count
                    changed = true
                }
                if start < range.upperBound { next.append(.raw(start..<range.upperBound)) }
            }
            if changed { fragments = next }
        }
        return fragments
    }
}

/// First index ≥ `from` where `needle` occurs entirely before `to`.
private func find(_ needle: [UInt8], in hay: [UInt8], from: Int, to: Int) -> Int? {
    let n = needle.count
    guard n > 0, to - from >= n else { return nil }
    let first = needle[0]
    var i = from
    let last = to - n
    while i <= last {
        if hay[i] == first {
            var j = 1
            while j < n && hay[i + j] == needle[j] { j += 1 }
            if j == n { return i }
        }
        i += 1
    }
    return nil
}
