/// How an HH query becomes the policy's prompt tokens, and a response its scored tokens: the ONE
/// place both generation and policy training (`train-llm`, `dpo`) take them from, so a fine-tuned
/// model is trained on exactly the prompts it is later sampled with.
/// Invariant: `promptTokens(query)` + `responseTokens(response)` is the tokenization of
/// `template.renderTraining(query:response:)` for ChatML (the prompt ends in a newline, which no
/// BPE merge crosses), plus the end-of-turn token.
public struct PromptFormat: Sendable {
    public let template: ChatTemplate
    /// The system turn ChatML prompts start with (the model template's default, e.g. SmolLM2's).
    public let systemPrompt: String?

    public init(template: ChatTemplate, systemPrompt: String?) {
        self.template = template
        self.systemPrompt = template == .chatML ? systemPrompt : nil
    }

    /// The format a model's own chat template implies: ChatML with its literal default system
    /// prompt when it has one, the raw HH text otherwise; `override` forces a template by name.
    public init(chatTemplateString: String?, override: ChatTemplate? = nil) {
        let t = override ?? ChatTemplate.detect(chatTemplateString: chatTemplateString)
        self.init(template: t, systemPrompt: ChatTemplate.defaultSystemPrompt(chatTemplateString: chatTemplateString))
    }

    /// The rendered prompt text (ends where the assistant's answer begins).
    public func promptText(query: String) -> String {
        template.renderHHQuery(query, systemPrompt: systemPrompt)
    }

    /// Prompt token ids, special-token strings recognised (`<|im_start|>` → one id).
    public func promptTokens(query: String, tokenizer: any Tokenizer) -> [Int32] {
        tokenizer.encode(promptText(query: query), parseSpecial: true)
    }

    /// The token that ends an answer: ChatML's `<|im_end|>` when the vocabulary has it, else EOS.
    public func endOfAnswer(tokenizer: any Tokenizer) -> Int32 {
        if template == .chatML, let id = tokenizer.id(ofToken: ChatTemplate.imEnd) { return id }
        return tokenizer.eosID
    }

    /// Response token ids followed by `endOfAnswer` (the model must learn to stop). The text is
    /// plain (special-token strings in it are NOT parsed); the raw HH template puts back the one
    /// space HH writes after "Assistant:".
    public func responseTokens(response: String, tokenizer: any Tokenizer) -> [Int32] {
        let text: String
        switch template {
        case .chatML: text = response
        case .rawHH: text = response.isEmpty || response.hasPrefix(" ") ? response : " " + response
        }
        return tokenizer.encode(text, parseSpecial: false) + [endOfAnswer(tokenizer: tokenizer)]
    }
}
