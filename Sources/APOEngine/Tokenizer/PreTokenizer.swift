/// Splits text into the words that byte-level BPE merges within (merges never cross a word
/// boundary). Hand-written scanners reproduce llama.cpp's `unicode_regex_split` for the named
/// regex lists exactly (`src/unicode.cpp`, `src/llama-vocab.cpp` at c392e50), using Unicode general
/// categories from `Unicode.Scalar.Properties` and llama.cpp's explicit whitespace set.
public enum PreTokenizer: Sendable, Equatable {
    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    case gpt2
    /// llama.cpp's `LLAMA_VOCAB_PRE_TYPE_SMOLLM` (shared with starcoder, refact, command-r, …):
    /// every `\p{N}` code point is split off on its own first, then the GPT-2 regex runs on the rest.
    case digitsThenGPT2

    /// `tokenizer.ggml.pre` values accepted, and the scanner each selects (names from
    /// llama.cpp's `llama_vocab::impl::load`).
    static let byName: [String: PreTokenizer] = [
        "gpt2": .gpt2, "gpt-2": .gpt2, "phi-2": .gpt2, "roberta-bpe": .gpt2, "gigachat": .gpt2,
        "jina-es": .gpt2, "jina-de": .gpt2, "jina-v1-en": .gpt2, "jina-v2-es": .gpt2, "jina-v2-de": .gpt2,
        "jina-v2-code": .gpt2, "mpt": .gpt2, "olmo": .gpt2, "jais": .gpt2,
        "smollm": .digitsThenGPT2, "starcoder": .digitsThenGPT2, "refact": .digitsThenGPT2,
        "command-r": .digitsThenGPT2, "codeshell": .digitsThenGPT2, "exaone": .digitsThenGPT2,
        "minerva-7b": .digitsThenGPT2,
    ]

    public static var supportedNames: [String] { byName.keys.sorted() }

    public init(name: String) throws {
        guard let p = PreTokenizer.byName[name] else { throw TokenizerError.unsupportedPreTokenizer(name) }
        self = p
    }

    /// The words of `text`, as strings (for tests and `apoctl model tokenize`).
    public func words(_ text: String) -> [String] {
        let scalars = text.unicodeScalars.map(\.value)
        var ranges: [Range<Int>] = []
        split(scalars, classes: scalars.map(CharClass.init), into: &ranges)
        return ranges.map { r in
            var s = String.UnicodeScalarView()
            for cp in scalars[r] { s.append(Unicode.Scalar(cp)!) }
            return String(s)
        }
    }

    /// Appends the words of `scalars[range]` to `words` as code-point ranges, in order, covering
    /// the whole range.
    func split(_ scalars: [UInt32], classes: [CharClass], into words: inout [Range<Int>]) {
        switch self {
        case .gpt2:
            splitGPT2(scalars, classes, 0..<scalars.count, into: &words)
        case .digitsThenGPT2:
            var start = 0
            for i in 0..<scalars.count where classes[i] == .number {
                if start < i { splitGPT2(scalars, classes, start..<i, into: &words) }
                words.append(i..<(i + 1))
                start = i + 1
            }
            if start < scalars.count { splitGPT2(scalars, classes, start..<scalars.count, into: &words) }
        }
    }
}

/// The only distinctions the GPT-2 regex makes between code points.
enum CharClass: UInt8 {
    case letter, number, whitespace, other

    init(_ cp: UInt32) {
        if cp < 128 {
            self = asciiClasses[Int(cp)]
            return
        }
        if isWhitespace(cp) { self = .whitespace; return }
        guard let scalar = Unicode.Scalar(cp) else { self = .other; return }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            self = .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            self = .number
        default:
            self = .other
        }
    }
}

private let asciiClasses: [CharClass] = (0..<128).map { (cp: UInt32) -> CharClass in
    switch cp {
    case 0x09...0x0D, 0x20: return .whitespace
    case 0x30...0x39: return .number
    case 0x41...0x5A, 0x61...0x7A: return .letter
    default: return .other
    }
}

/// llama.cpp's `\s`: Unicode White_Space (PropList.txt), fixed list in `gen-unicode-data.py`.
@inline(__always)
private func isWhitespace(_ cp: UInt32) -> Bool {
    switch cp {
    case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
        return true
    default:
        return false
    }
}

/// llama.cpp's `unicode_regex_split_custom_gpt2`, including its reading of `\s+(?!\S)` at the end of
/// a range: trailing whitespace is one word, and a run followed by a non-space keeps its last
/// character for the next word (" world" after "\n\n  " gives "\n\n ", " world").
private func splitGPT2(_ cps: [UInt32], _ cls: [CharClass], _ range: Range<Int>, into words: inout [Range<Int>]) {
    let end = range.upperBound
    var pos = range.lowerBound
    @inline(__always) func cp(_ i: Int) -> UInt32 { i < end ? cps[i] : 0xFFFF_FFFF }
    @inline(__always) func cl(_ i: Int) -> CharClass? { i < end ? cls[i] : nil }
    let apostrophe: UInt32 = 0x27, space: UInt32 = 0x20
    while pos < end {
        let start = pos
        let c = cps[pos]
        // 's|'t|'re|'ve|'m|'ll|'d
        if c == apostrophe && pos + 1 < end {
            let n1 = cps[pos + 1]
            if n1 == 0x73 || n1 == 0x74 || n1 == 0x6D || n1 == 0x64 {  // s t m d
                pos += 2
                words.append(start..<pos)
                continue
            }
            if pos + 2 < end {
                let n2 = cps[pos + 2]
                if (n1 == 0x72 && n2 == 0x65) || (n1 == 0x76 && n2 == 0x65) || (n1 == 0x6C && n2 == 0x6C) {  // re ve ll
                    pos += 3
                    words.append(start..<pos)
                    continue
                }
            }
        }
        let class2 = c == space ? cl(pos + 1) : cls[pos]
        if let class2, class2 != .whitespace {
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
            if c == space { pos += 1 }
            while pos < end && cls[pos] == class2 { pos += 1 }
            words.append(start..<pos)
            continue
        }
        var spaces = 0
        while cl(pos + spaces) == .whitespace { spaces += 1 }
        if spaces > 1 && cp(pos + spaces) != 0xFFFF_FFFF {
            // \s+(?!\S): leave the last space to prefix the next word
            pos += spaces - 1
        } else {
            // \s+ (spaces ≥ 1 here: a lone space before the end of the range, or any whitespace)
            pos += max(spaces, 1)
        }
        words.append(start..<pos)
    }
}
