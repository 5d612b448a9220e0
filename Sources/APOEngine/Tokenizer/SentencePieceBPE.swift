/// LLaMA SentencePiece-style BPE (`tokenizer.ggml.model = llama`), as llama.cpp's
/// `llm_tokenizer_spm_session`: spaces become "▁", a "▁" is prefixed to the text (and after each
/// special token) when `addSpacePrefix` (where `TokenizerData.metaspacePrepend` says, for a
/// Hugging Face Metaspace tokenizer), characters are merged highest-score pair first (leftmost
/// on ties) when the joined string is a token, and a character with no token is spelled with
/// `<0xNN>` byte tokens. Invariant: every byte has a `<0xNN>` token.
///
/// When the vocabulary has merges (one read from Hugging Face's `tokenizer.json`), pairs are merged
/// as Hugging Face's BPE does instead: only pairs listed, lowest rank first (leftmost on ties).
/// For merges generated from SentencePiece scores that is the same except where one token has two
/// overlapping splits ("a"+"aa" / "aa"+"a"), which transformers ranks by length and SentencePiece by
/// position; the merges are the file's own word, so they decide.
public final class SentencePieceBPE: Tokenizer, @unchecked Sendable {
    public let data: TokenizerData
    public var vocabularySize: Int { data.tokens.count }
    public var bosID: Int32? { data.bosID }
    public var eosID: Int32 { data.eosID }

    /// Keyed by UTF-8 bytes: Swift String equality is canonical equivalence, and "e\u{301}" must
    /// not find the token "é".
    private let tokenToID: [[UInt8]: Int32]
    private let scores: [Float]
    private let byteTokens: [Int32]
    private let pieces: [[UInt8]]
    private let specials: SpecialTokenMatcher
    private let addSpacePrefix: Bool
    /// (left id, right id) → rank, from `data.merges`; empty: merge by `scores`.
    private let pairRanks: [Int64: Int]

    public init(_ data: TokenizerData) throws {
        try validate(data)
        guard data.model == "llama" else { throw TokenizerError.unsupportedModel(data.model) }
        guard let scores = data.scores else {
            throw TokenizerError.lengthMismatch(field: "tokenizer.ggml.scores", expected: data.tokens.count, found: 0)
        }
        self.data = data
        self.scores = scores
        self.addSpacePrefix = data.addSpacePrefix ?? true
        var tokenToID: [[UInt8]: Int32] = [:]
        tokenToID.reserveCapacity(data.tokens.count)
        for (i, t) in data.tokens.enumerated() where tokenToID[Array(t.utf8)] == nil { tokenToID[Array(t.utf8)] = Int32(i) }
        self.tokenToID = tokenToID
        var byteTokens = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            let name = "<0x" + hex2(UInt8(b)) + ">"
            if let id = tokenToID[Array(name.utf8)] {
                byteTokens[b] = id
            } else if b < 0x80, let id = tokenToID[[UInt8(b)]] {
                byteTokens[b] = id  // llama.cpp's byte_to_token falls back to the character itself
            } else {
                throw TokenizerError.missingByteToken(byte: UInt8(b))
            }
        }
        self.byteTokens = byteTokens
        self.pieces = data.tokens.enumerated().map { i, t in
            switch TokenType(rawValue: data.tokenTypes[i]) {
            case .normal?: return Array(t.replacingOccurrences(of: "\u{2581}", with: " ").utf8)
            case .byte?: return parseByteToken(t).map { [$0] } ?? []
            case .control?, .unknown?, .userDefined?: return Array(t.utf8)
            default: return []
            }
        }
        self.specials = SpecialTokenMatcher(tokens: data.tokens, types: data.tokenTypes)
        var pairRanks: [Int64: Int] = [:]
        for (rank, merge) in data.merges.enumerated() {
            let parts = merge.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, let l = tokenToID[Array(parts[0].utf8)], let r = tokenToID[Array(parts[1].utf8)],
                  tokenToID[Array((parts[0] + parts[1]).utf8)] != nil else { throw TokenizerError.badMerge(index: rank, merge: merge) }
            let key = pairKey(l, r)
            if pairRanks[key] == nil { pairRanks[key] = rank }
        }
        self.pairRanks = pairRanks
    }

    public func encode(_ text: String, parseSpecial: Bool) -> [Int32] {
        let bytes = Array(text.utf8)
        var out: [Int32] = []
        if data.addBOS, let bos = data.bosID { out.append(bos) }
        var previousWasSpecial = true  // the start of the text counts as after a special token
        for fragment in specials.split(bytes, parseSpecial: parseSpecial) {
            switch fragment {
            case .token(let id):
                out.append(id)
                previousWasSpecial = true
            case .raw(let range):
                var piece: [UInt8] = []
                piece.reserveCapacity(range.count + 3)
                if wantsSpacePrefix(bytes[range], atTextStart: range.lowerBound == 0, afterSpecial: previousWasSpecial) {
                    piece.append(contentsOf: [0xE2, 0x96, 0x81])
                }
                for b in bytes[range] {
                    if b == 0x20 { piece.append(contentsOf: [0xE2, 0x96, 0x81]) } else { piece.append(b) }
                }
                encodePiece(piece, into: &out)
                previousWasSpecial = false
            }
        }
        if data.addEOS == true { out.append(data.eosID) }
        return out
    }

    /// Whether a raw fragment gets the "▁" prefix: after a special token or at the start, and for
    /// Metaspace only when it does not start with a space or "▁" (with `first`, only at the start).
    private func wantsSpacePrefix(_ fragment: ArraySlice<UInt8>, atTextStart: Bool, afterSpecial: Bool) -> Bool {
        guard addSpacePrefix, afterSpecial else { return false }
        guard let metaspace = data.metaspacePrepend else { return true }
        if metaspace == .first && !atTextStart { return false }
        return !(fragment.first == 0x20 || fragment.starts(with: [0xE2, 0x96, 0x81]))
    }

    private struct Symbol {
        var start: Int
        var length: Int
        var prev: Int
        var next: Int
    }

    private struct Bigram {
        var left: Int
        var right: Int
        /// The token's score, or minus the merge's rank.
        var priority: Double
        var size: Int
        /// Heap order: higher priority first, then the leftmost pair.
        func before(_ o: Bigram) -> Bool { priority != o.priority ? priority > o.priority : left < o.left }
    }

    private func encodePiece(_ text: [UInt8], into out: inout [Int32]) {
        var symbols: [Symbol] = []
        var offset = 0
        while offset < text.count {
            let len = min(utf8Length(text[offset]), text.count - offset)
            symbols.append(Symbol(start: offset, length: len, prev: symbols.count - 1,
                                  next: offset + len == text.count ? -1 : symbols.count + 1))
            offset += len
        }
        var heap = BinaryHeap<Bigram> { $0.before($1) }
        func lookup(_ start: Int, _ length: Int) -> Int32? {
            tokenToID[Array(text[start..<(start + length)])]
        }
        func tryAdd(_ left: Int, _ right: Int) {
            guard left >= 0, right >= 0 else { return }
            let size = symbols[left].length + symbols[right].length
            guard let id = lookup(symbols[left].start, size) else { return }
            var priority = Double(scores[Int(id)])
            if !pairRanks.isEmpty {
                guard let l = lookup(symbols[left].start, symbols[left].length),
                      let r = lookup(symbols[right].start, symbols[right].length),
                      let rank = pairRanks[pairKey(l, r)] else { return }
                priority = -Double(rank)
            }
            heap.push(Bigram(left: left, right: right, priority: priority, size: size))
        }
        for i in 1..<max(symbols.count, 1) { tryAdd(i - 1, i) }
        while let bigram = heap.pop() {
            let l = symbols[bigram.left], r = symbols[bigram.right]
            if l.length == 0 || r.length == 0 || l.length + r.length != bigram.size { continue }
            symbols[bigram.left].length += r.length
            symbols[bigram.right].length = 0
            symbols[bigram.left].next = r.next
            if r.next >= 0 { symbols[r.next].prev = bigram.left }
            tryAdd(symbols[bigram.left].prev, bigram.left)
            tryAdd(bigram.left, symbols[bigram.left].next)
        }
        var i = symbols.isEmpty ? -1 : 0
        while i != -1 {
            let s = symbols[i]
            if let id = lookup(s.start, s.length) {
                out.append(id)
            } else {
                for b in text[s.start..<(s.start + s.length)] { out.append(byteTokens[Int(b)]) }
            }
            i = s.next
        }
    }

    public func tokenBytes(_ id: Int32) -> [UInt8] {
        guard id >= 0 && Int(id) < pieces.count else { return [] }
        return pieces[Int(id)]
    }

    /// As llama.cpp's detokenize: the space the encoder prefixed is removed from the first token.
    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        for (n, id) in ids.enumerated() {
            var p = tokenBytes(id)
            if n == 0 && addSpacePrefix && p.first == 0x20 { p.removeFirst() }
            bytes.append(contentsOf: p)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func id(ofToken token: String) -> Int32? { tokenToID[Array(token.utf8)] }
}

private func pairKey(_ l: Int32, _ r: Int32) -> Int64 { Int64(l) << 32 | Int64(UInt32(bitPattern: r)) }

private func hex2(_ b: UInt8) -> String {
    let digits = Array("0123456789ABCDEF")
    return String([digits[Int(b >> 4)], digits[Int(b & 15)]])
}

/// "<0x41>" → 0x41.
private func parseByteToken(_ t: String) -> UInt8? {
    guard t.count == 6, t.hasPrefix("<0x"), t.hasSuffix(">") else { return nil }
    return UInt8(t.dropFirst(3).dropLast(), radix: 16)
}

/// llama.cpp's `unicode_len_utf8`: length announced by a lead byte (1 for a stray continuation byte).
@inline(__always)
func utf8Length(_ b: UInt8) -> Int {
    switch b >> 4 {
    case 0xC, 0xD: return 2
    case 0xE: return 3
    case 0xF: return 4
    default: return 1
    }
}

/// A min-heap under `before` (the element for which `before` holds against all others pops first).
struct BinaryHeap<Element> {
    private var items: [Element] = []
    private let before: (Element, Element) -> Bool

    init(before: @escaping (Element, Element) -> Bool) { self.before = before }

    mutating func push(_ x: Element) {
        items.append(x)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if !before(items[i], items[p]) { break }
            items.swapAt(i, p)
            i = p
        }
    }

    mutating func pop() -> Element? {
        guard !items.isEmpty else { return nil }
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count && before(items[l], items[m]) { m = l }
                if r < items.count && before(items[r], items[m]) { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}
