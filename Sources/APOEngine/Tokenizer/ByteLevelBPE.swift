import Foundation

/// GPT-2 byte-level BPE (`tokenizer.ggml.model = gpt2`): text is split into words by a
/// `PreTokenizer`, each word's UTF-8 bytes become one symbol per byte (the byte's printable stand-in
/// from GPT-2's byte↔unicode table), and adjacent symbols are merged lowest merge rank first,
/// leftmost first on ties, exactly as llama.cpp's `llm_tokenizer_bpe_session`.
/// Invariant: text round-trips through `encode`/`decode` when each of its bytes has a token; a byte
/// with none (SmolLM2 lacks 0x04, 0x06, 0x13, 0x14, 0x16, 0x1D, 0xF1, 0xF2) is dropped, as llama.cpp does.
public final class ByteLevelBPE: Tokenizer, @unchecked Sendable {
    public let data: TokenizerData
    public let preTokenizer: PreTokenizer
    public var vocabularySize: Int { data.tokens.count }
    public var bosID: Int32? { data.bosID }
    public var eosID: Int32 { data.eosID }

    /// Keyed by UTF-8 bytes: Swift String equality is canonical equivalence, which would let two
    /// distinct vocabulary strings ("é" and "e\u{301}") collide.
    private let tokenToID: [[UInt8]: Int32]
    /// Token id of each byte's single-symbol token.
    private let byteTokens: [Int32]
    /// (left id, right id) → (rank, merged id).
    private let mergeTable: [UInt64: (rank: Int32, merged: Int32)]
    /// Decoded bytes of every token.
    private let pieces: [[UInt8]]
    private let specials: SpecialTokenMatcher
    private let cache = WordCache()

    public init(_ data: TokenizerData) throws {
        try validate(data)
        guard data.model == "gpt2" else { throw TokenizerError.unsupportedModel(data.model) }
        self.data = data
        // No name means llama.cpp's "default" regex list, which is not implemented: refuse it.
        self.preTokenizer = try PreTokenizer(name: data.pre ?? "default")

        var tokenToID: [[UInt8]: Int32] = [:]
        tokenToID.reserveCapacity(data.tokens.count)
        for (i, t) in data.tokens.enumerated() where tokenToID[Array(t.utf8)] == nil {
            // llama.cpp keeps the last id for a repeated string; repeated strings only occur in
            // padded vocabularies, where either choice is harmless. Keep the first.
            tokenToID[Array(t.utf8)] = Int32(i)
        }
        self.tokenToID = tokenToID

        // -1 marks a byte the vocabulary cannot spell: it takes part in no merge and is dropped.
        let byteTokens = (0..<256).map { tokenToID[Array(byteToUnicode[$0].utf8)] ?? -1 }
        self.byteTokens = byteTokens

        var mergeTable: [UInt64: (rank: Int32, merged: Int32)] = [:]
        mergeTable.reserveCapacity(data.merges.count)
        for (rank, merge) in data.merges.enumerated() {
            // A merge is "left right"; the left part never contains a space (spaces are "Ġ").
            // Split on bytes: a space followed by a combining mark is one Character in Swift.
            let bytes = Array(merge.utf8)
            guard let sp = bytes.firstIndex(of: 0x20) else { throw TokenizerError.badMerge(index: rank, merge: merge) }
            let left = Array(bytes[..<sp]), right = Array(bytes[(sp + 1)...])
            guard !left.isEmpty, !right.isEmpty else { throw TokenizerError.badMerge(index: rank, merge: merge) }
            // A merge whose parts or result are not tokens can never fire on token symbols.
            guard let l = tokenToID[left], let r = tokenToID[right], let m = tokenToID[left + right] else { continue }
            let key = UInt64(UInt32(bitPattern: l)) << 32 | UInt64(UInt32(bitPattern: r))
            if mergeTable[key] == nil { mergeTable[key] = (Int32(rank), m) }
        }
        self.mergeTable = mergeTable

        self.pieces = data.tokens.enumerated().map { i, t in
            switch TokenType(rawValue: data.tokenTypes[i]) {
            case .normal?: return decodeByteLevel(t)
            case .control?, .unknown?, .userDefined?: return Array(t.utf8)
            default: return []  // unused/byte/undefined tokens print nothing (llama.cpp token_to_piece)
            }
        }
        self.specials = SpecialTokenMatcher(tokens: data.tokens, types: data.tokenTypes)
    }

    public func encode(_ text: String, parseSpecial: Bool) -> [Int32] {
        let bytes = Array(text.utf8)
        var out: [Int32] = []
        out.reserveCapacity(bytes.count / 3 + 2)
        if data.addBOS, let bos = data.bosID { out.append(bos) }
        for fragment in specials.split(bytes, parseSpecial: parseSpecial) {
            switch fragment {
            case .token(let id): out.append(id)
            case .raw(let range): encodeRaw(bytes, range, into: &out)
            }
        }
        if data.addEOS == true { out.append(data.eosID) }
        return out
    }

    private func encodeRaw(_ bytes: [UInt8], _ range: Range<Int>, into out: inout [Int32]) {
        // Decode code points once, remembering where each starts in the byte array.
        var scalars: [UInt32] = []
        var starts: [Int] = []
        scalars.reserveCapacity(range.count)
        starts.reserveCapacity(range.count + 1)
        for (offset, s) in decodeScalars(bytes[range]) {
            scalars.append(s)
            starts.append(range.lowerBound + offset)
        }
        starts.append(range.upperBound)
        let classes = scalars.map(CharClass.init)
        var words: [Range<Int>] = []
        words.reserveCapacity(scalars.count / 3 + 1)
        preTokenizer.split(scalars, classes: classes, into: &words)
        for w in words {
            let word = Array(bytes[starts[w.lowerBound]..<starts[w.upperBound]])
            if word.count > 256 {
                out.append(contentsOf: mergeWord(word))  // rare; not worth a cache slot
            } else if let cached = cache.get(word) {
                out.append(contentsOf: cached)
            } else {
                let ids = mergeWord(word)
                cache.put(word, ids)
                out.append(contentsOf: ids)
            }
        }
    }

    /// BPE on one word: repeatedly merge the adjacent pair with the lowest rank (leftmost on ties).
    /// Most words are short, and a linear scan per merge beats a heap there; long words (a run of
    /// 100k identical characters is one word) take the heap path so the cost stays n log n.
    func mergeWord(_ word: [UInt8]) -> [Int32] {
        word.count > ByteLevelBPE.heapThreshold ? mergeLongWord(word) : mergeShortWord(word)
    }

    /// `mergeWord` by linear scans: quadratic, fastest for short words.
    func mergeShortWord(_ word: [UInt8]) -> [Int32] {
        var symbols = word.map { byteTokens[Int($0)] }
        if symbols.count < 2 { return symbols.filter { $0 >= 0 } }
        var ranks = [Int32](repeating: .max, count: symbols.count - 1)
        @inline(__always) func rank(_ i: Int) -> Int32 {
            let key = UInt64(UInt32(bitPattern: symbols[i])) << 32 | UInt64(UInt32(bitPattern: symbols[i + 1]))
            return mergeTable[key]?.rank ?? .max
        }
        for i in 0..<(symbols.count - 1) { ranks[i] = rank(i) }
        while symbols.count > 1 {
            var best = -1
            var bestRank = Int32.max
            for i in 0..<ranks.count where ranks[i] < bestRank {
                bestRank = ranks[i]
                best = i
            }
            if best < 0 { break }
            let key = UInt64(UInt32(bitPattern: symbols[best])) << 32 | UInt64(UInt32(bitPattern: symbols[best + 1]))
            symbols[best] = mergeTable[key]!.merged
            symbols.remove(at: best + 1)
            ranks.remove(at: best)
            if best > 0 { ranks[best - 1] = rank(best - 1) }
            if best < ranks.count { ranks[best] = rank(best) }
        }
        if symbols.contains(-1) { symbols.removeAll { $0 == -1 } }
        return symbols
    }

    static let heapThreshold = 64

    /// The same merges as `mergeWord`, as llama.cpp does them: a doubly linked list of symbols and
    /// a heap of candidate pairs ordered by (rank, left position); stale pairs are skipped on pop.
    func mergeLongWord(_ word: [UInt8]) -> [Int32] {
        var symbols = word.map { byteTokens[Int($0)] }
        let n = symbols.count
        if n < 2 { return symbols.filter { $0 >= 0 } }
        var prev = Array(-1..<(n - 1)), next = Array(1...n)
        next[n - 1] = -1
        struct Pair { var rank: Int32; var left: Int; var right: Int; var leftID: Int32; var rightID: Int32 }
        var heap = BinaryHeap<Pair> { $0.rank != $1.rank ? $0.rank < $1.rank : $0.left < $1.left }
        func push(_ l: Int, _ r: Int) {
            guard l >= 0, r >= 0 else { return }
            let key = UInt64(UInt32(bitPattern: symbols[l])) << 32 | UInt64(UInt32(bitPattern: symbols[r]))
            if let m = mergeTable[key] { heap.push(Pair(rank: m.rank, left: l, right: r, leftID: symbols[l], rightID: symbols[r])) }
        }
        for i in 0..<(n - 1) { push(i, i + 1) }
        let removed: Int32 = -2
        while let p = heap.pop() {
            // Stale: either side already merged into something else, or no longer neighbours.
            guard symbols[p.left] == p.leftID, symbols[p.right] == p.rightID, next[p.left] == p.right else { continue }
            let key = UInt64(UInt32(bitPattern: p.leftID)) << 32 | UInt64(UInt32(bitPattern: p.rightID))
            symbols[p.left] = mergeTable[key]!.merged
            symbols[p.right] = removed
            next[p.left] = next[p.right]
            if next[p.right] >= 0 { prev[next[p.right]] = p.left }
            push(prev[p.left], p.left)
            push(p.left, next[p.left])
        }
        return symbols.filter { $0 >= 0 }
    }

    public func tokenBytes(_ id: Int32) -> [UInt8] {
        guard id >= 0 && Int(id) < pieces.count else { return [] }
        return pieces[Int(id)]
    }

    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for id in ids where id >= 0 && Int(id) < pieces.count { bytes.append(contentsOf: pieces[Int(id)]) }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func id(ofToken token: String) -> Int32? { tokenToID[Array(token.utf8)] }
}

/// GPT-2's printable stand-in for every byte: printable Latin-1 maps to itself, the rest to U+0100…
let byteToUnicode: [String] = {
    var table = [String](repeating: "", count: 256)
    var n: UInt32 = 0
    for b in 0..<256 {
        let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
        let cp = printable ? UInt32(b) : 256 + n
        if !printable { n += 1 }
        table[b] = String(Character(Unicode.Scalar(cp)!))
    }
    return table
}()

/// Inverse of `byteToUnicode`, indexed by code point (all stand-ins are below U+0144).
private let unicodeToByte: [Int16] = {
    var table = [Int16](repeating: -1, count: 512)
    for b in 0..<256 { table[Int(byteToUnicode[b].unicodeScalars.first!.value)] = Int16(b) }
    return table
}()

/// A byte-level token's bytes. Code points that are no byte's stand-in keep their own UTF-8
/// (llama.cpp prints an `[UNK_BYTE_…]` marker there instead; it never happens in real vocabularies).
func decodeByteLevel(_ token: String) -> [UInt8] {
    var out: [UInt8] = []
    for s in token.unicodeScalars {
        if s.value < 512, unicodeToByte[Int(s.value)] >= 0 {
            out.append(UInt8(unicodeToByte[Int(s.value)]))
        } else {
            out.append(contentsOf: Array(String(s).utf8))
        }
    }
    return out
}

/// Code points of valid UTF-8 with their byte offsets from the start of the slice.
func decodeScalars(_ bytes: ArraySlice<UInt8>) -> [(Int, UInt32)] {
    var result: [(Int, UInt32)] = []
    result.reserveCapacity(bytes.count)
    var i = bytes.startIndex
    let end = bytes.endIndex
    while i < end {
        let b0 = UInt32(bytes[i])
        let start = i - bytes.startIndex
        if b0 < 0x80 {
            result.append((start, b0)); i += 1
        } else if b0 < 0xE0 {
            result.append((start, (b0 & 0x1F) << 6 | UInt32(bytes[i + 1] & 0x3F))); i += 2
        } else if b0 < 0xF0 {
            result.append((start, (b0 & 0x0F) << 12 | UInt32(bytes[i + 1] & 0x3F) << 6 | UInt32(bytes[i + 2] & 0x3F))); i += 3
        } else {
            result.append((start, (b0 & 0x07) << 18 | UInt32(bytes[i + 1] & 0x3F) << 12
                | UInt32(bytes[i + 2] & 0x3F) << 6 | UInt32(bytes[i + 3] & 0x3F))); i += 4
        }
    }
    return result
}

/// Word → ids memo shared by all threads; bounded so a long-running process does not grow forever.
final class WordCache: @unchecked Sendable {
    private var table: [[UInt8]: [Int32]] = [:]
    private let lock = NSLock()
    private let capacity = 200_000

    func get(_ word: [UInt8]) -> [Int32]? {
        lock.lock(); defer { lock.unlock() }
        return table[word]
    }

    func put(_ word: [UInt8], _ ids: [Int32]) {
        lock.lock(); defer { lock.unlock() }
        if table.count >= capacity { table.removeAll(keepingCapacity: true) }
        table[word] = ids
    }
}
