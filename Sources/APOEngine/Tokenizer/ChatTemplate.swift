/// One turn of a dialogue.
public struct ChatTurn: Sendable, Equatable {
    public enum Role: String, Sendable, Equatable {
        case system, user, assistant
    }
    public var role: Role
    public var text: String

    public init(_ role: Role, _ text: String) {
        self.role = role
        self.text = text
    }
}

/// How a dialogue becomes the prompt text a model sees. Encode ChatML prompts with
/// `parseSpecial: true` so `<|im_start|>`/`<|im_end|>` become their control tokens. Invariant: `renderTraining(query:response:)`
/// always starts with `renderHHQuery(query)`, so the response's tokens follow the prompt's exactly
/// (up to BPE merges across the boundary, which ChatML's `\n` after the role prevents).
public enum ChatTemplate: String, Sendable, CaseIterable {
    /// `<|im_start|>role\ncontent<|im_end|>\n` per turn, then `<|im_start|>assistant\n`.
    case chatML = "chatml"
    /// The HH dialogue text as is (`\n\nHuman: …\n\nAssistant:`), for base models.
    case rawHH = "raw"

    public static let imStart = "<|im_start|>"
    public static let imEnd = "<|im_end|>"

    /// By name: "chatml" or "raw".
    public init(name: String) throws {
        guard let t = ChatTemplate(rawValue: name.lowercased()) else { throw ChatTemplateError.unknownTemplate(name) }
        self = t
    }

    /// ChatML when the model's own template (GGUF `tokenizer.chat_template`) uses `<|im_start|>`,
    /// the raw HH text otherwise (no template: a base model).
    public static func detect(chatTemplateString: String?) -> ChatTemplate {
        guard let s = chatTemplateString, s.contains(imStart) else { return .rawHH }
        return .chatML
    }

    /// The system message a ChatML template inserts when the dialogue has none, if it spells one
    /// out literally (SmolLM2: "You are a helpful AI assistant named SmolLM, trained by Hugging
    /// Face"). Found as the text between `<|im_start|>system\n` and the next `<|im_end|>`.
    public static func defaultSystemPrompt(chatTemplateString: String?) -> String? {
        guard let s = chatTemplateString, let open = s.range(of: imStart + "system\n") else { return nil }
        guard let close = s.range(of: imEnd, range: open.upperBound..<s.endIndex) else { return nil }
        let text = String(s[open.upperBound..<close.lowerBound])
        // A Jinja expression (e.g. `' + message['content'] + '`) is not a literal system prompt.
        return text.contains("{{") || text.contains("+ ") || text.contains("'") ? nil : text
    }

    /// Renders turns as a prompt that asks for the next assistant turn.
    /// `systemPrompt` (ChatML only) is prepended as a system turn when the dialogue has none.
    public func render(dialogue: [ChatTurn], systemPrompt: String? = nil) -> String {
        switch self {
        case .chatML:
            var out = ""
            if let systemPrompt, dialogue.first?.role != .system {
                out += ChatTemplate.imStart + "system\n" + systemPrompt + ChatTemplate.imEnd + "\n"
            }
            for turn in dialogue {
                out += ChatTemplate.imStart + turn.role.rawValue + "\n" + turn.text + ChatTemplate.imEnd + "\n"
            }
            return out + ChatTemplate.imStart + "assistant\n"
        case .rawHH:
            var out = ""
            for turn in dialogue {
                switch turn.role {
                case .system: out += turn.text
                case .user: out += "\n\nHuman: " + turn.text
                case .assistant: out += "\n\nAssistant: " + turn.text
                }
            }
            return out + "\n\nAssistant:"
        }
    }

    /// An HH query (`\n\nHuman: …\n\nAssistant: …\n\nHuman: …\n\nAssistant:`) as a prompt. The raw
    /// template returns the query unchanged (byte for byte); ChatML parses it into turns.
    public func renderHHQuery(_ query: String, systemPrompt: String? = nil) -> String {
        switch self {
        case .rawHH:
            return query
        case .chatML:
            var turns = parseHHDialogue(query)
            // The query ends with an empty "Assistant:" turn: that is the turn the model writes.
            if let last = turns.last, last.role == .assistant, last.text.isEmpty { turns.removeLast() }
            return render(dialogue: turns, systemPrompt: systemPrompt)
        }
    }

    /// The text a model is trained on for one (query, response): the prompt, the response, and for
    /// ChatML the `<|im_end|>` that closes the assistant turn (the model must learn to stop).
    /// The raw template joins with the single space HH puts after "Assistant:".
    public func renderTraining(query: String, response: String, systemPrompt: String? = nil) -> String {
        let prompt = renderHHQuery(query, systemPrompt: systemPrompt)
        switch self {
        case .chatML:
            return prompt + response + ChatTemplate.imEnd
        case .rawHH:
            return prompt + (response.hasPrefix(" ") || response.isEmpty ? "" : " ") + response
        }
    }
}

public enum ChatTemplateError: Error, CustomStringConvertible, Equatable {
    case unknownTemplate(String)

    public var description: String {
        switch self {
        case .unknownTemplate(let n):
            return "unknown chat template '\(n)' (expected one of: \(ChatTemplate.allCases.map(\.rawValue).joined(separator: ", ")))"
        }
    }
}

/// Splits HH text into turns at each "\n\nHuman:" / "\n\nAssistant:" marker. The one space after
/// the colon is dropped; other text (leading, trailing) is kept. Text before the first marker
/// becomes a leading user turn only if it is not blank.
public func parseHHDialogue(_ text: String) -> [ChatTurn] {
    let markers: [(String, ChatTurn.Role)] = [("\n\nHuman:", .user), ("\n\nAssistant:", .assistant)]
    var turns: [ChatTurn] = []
    var rest = Substring(text)
    var role: ChatTurn.Role? = nil
    // Some HH texts start with "Human:" without the blank line.
    for (m, r) in markers where rest.hasPrefix(m.dropFirst(2)) {
        role = r
        rest = rest.dropFirst(m.count - 2)
        break
    }
    var body = ""
    func flush() {
        var t = body
        if t.hasPrefix(" ") { t.removeFirst() }
        if let role {
            turns.append(ChatTurn(role, t))
        } else if !t.allSatisfy(\.isWhitespace) {
            turns.append(ChatTurn(.user, t))
        }
        body = ""
    }
    while !rest.isEmpty {
        var matched = false
        if rest.hasPrefix("\n\n") {
            for (m, r) in markers where rest.hasPrefix(m) {
                flush()
                role = r
                rest = rest.dropFirst(m.count)
                matched = true
                break
            }
        }
        if !matched {
            body.append(rest.removeFirst())
        }
    }
    flush()
    return turns
}
