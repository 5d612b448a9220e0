import Foundation

/// Anthropic HH-RLHF dialogues (`"\n\nHuman: …\n\nAssistant: …"`) split into query and response.
public enum HHDialogue {
    public static let assistantTurn = "\n\nAssistant:"

    /// The query is everything up to and including the LAST `"\n\nAssistant:"`; the response is the
    /// rest with leading whitespace removed. nil when the dialogue has no assistant turn.
    public static func split(_ dialogue: String) -> (query: String, response: String)? {
        guard let r = dialogue.range(of: assistantTurn, options: .backwards) else { return nil }
        let query = String(dialogue[..<r.upperBound])
        let response = String(dialogue[r.upperBound...].drop(while: { $0.isWhitespace }))
        return (query, response)
    }

    /// An LLM sample cut where the model starts a new human turn (first `"\nHuman"`), then trimmed.
    public static func cutAtHumanTurn(_ sample: String) -> String {
        var s = Substring(sample)
        if let r = s.range(of: "\nHuman") { s = s[..<r.lowerBound] }
        return s.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

