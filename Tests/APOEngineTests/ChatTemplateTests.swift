import Testing
@testable import APOEngine

// Expected prompts written out by hand from the ChatML format in APO.md §4 and SmolLM2's
// `tokenizer.chat_template` (`<|im_start|>role\ncontent<|im_end|>\n`, then `<|im_start|>assistant\n`).

@Test func chatMLRendersMultiTurnHHQuery() {
    let query = "\n\nHuman: Hi there\n\nAssistant: Hello! How can I help?\n\nHuman: Tell me a joke.\n\nAssistant:"
    let expected = "<|im_start|>user\nHi there<|im_end|>\n"
        + "<|im_start|>assistant\nHello! How can I help?<|im_end|>\n"
        + "<|im_start|>user\nTell me a joke.<|im_end|>\n"
        + "<|im_start|>assistant\n"
    #expect(ChatTemplate.chatML.renderHHQuery(query) == expected)
    // The raw template keeps the HH text byte for byte.
    #expect(ChatTemplate.rawHH.renderHHQuery(query) == query)
}

@Test func chatMLKeepsEmptyAnswersAndInnerNewlines() {
    // An earlier assistant turn that is empty stays as an empty turn; only the final, open
    // "Assistant:" becomes the generation prompt. Newlines inside a turn are kept.
    let query = "\n\nHuman: first\n\nAssistant:\n\nHuman: line one\nline two\n\nAssistant:"
    let expected = "<|im_start|>user\nfirst<|im_end|>\n"
        + "<|im_start|>assistant\n<|im_end|>\n"
        + "<|im_start|>user\nline one\nline two<|im_end|>\n"
        + "<|im_start|>assistant\n"
    #expect(ChatTemplate.chatML.renderHHQuery(query) == expected)
}

@Test func chatMLSystemPromptFromModelTemplate() {
    // SmolLM2-135M-Instruct's template (GGUF tokenizer.chat_template), verbatim.
    let template = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        + "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
        + "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
        + "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    #expect(ChatTemplate.detect(chatTemplateString: template) == .chatML)
    #expect(ChatTemplate.detect(chatTemplateString: nil) == .rawHH)
    #expect(ChatTemplate.detect(chatTemplateString: "{{ bos_token }}{{ message['content'] }}") == .rawHH)
    let system = ChatTemplate.defaultSystemPrompt(chatTemplateString: template)
    #expect(system == "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
    #expect(ChatTemplate.chatML.renderHHQuery("\n\nHuman: hi\n\nAssistant:", systemPrompt: system)
        == "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        + "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
    // A template whose system text is an expression has no literal default.
    #expect(ChatTemplate.defaultSystemPrompt(chatTemplateString: "<|im_start|>system\n' + message['content'] + '<|im_end|>") == nil)
}

@Test func trainingTextIsPromptPlusResponse() {
    let query = "\n\nHuman: What is 2+2?\n\nAssistant:"
    #expect(ChatTemplate.chatML.renderTraining(query: query, response: "4.")
        == "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4.<|im_end|>")
    // HH responses are stored with the space after "Assistant:" trimmed (APO.md §2): put it back.
    #expect(ChatTemplate.rawHH.renderTraining(query: query, response: "4.") == query + " 4.")
    #expect(ChatTemplate.rawHH.renderTraining(query: query, response: "") == query)
    #expect(ChatTemplate.chatML.renderTraining(query: query, response: "")
        == "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<|im_end|>")
}

@Test func templatesByName() throws {
    #expect(try ChatTemplate(name: "chatml") == .chatML)
    #expect(try ChatTemplate(name: "raw") == .rawHH)
    #expect(throws: ChatTemplateError.unknownTemplate("llama2")) { try ChatTemplate(name: "llama2") }
}

@Test func hhDialogueParsing() {
    #expect(parseHHDialogue("\n\nHuman: a\n\nAssistant: b") == [ChatTurn(.user, "a"), ChatTurn(.assistant, "b")])
    // Text starting with "Human:" (no blank line) and a colon inside a turn.
    #expect(parseHHDialogue("Human: time: 5pm?\n\nAssistant:") == [ChatTurn(.user, "time: 5pm?"), ChatTurn(.assistant, "")])
    // "Human:" in the middle of a line is not a turn marker.
    #expect(parseHHDialogue("\n\nHuman: say Human: twice") == [ChatTurn(.user, "say Human: twice")])
    #expect(parseHHDialogue("") == [])
    // A bare prompt with no markers is one user turn.
    #expect(ChatTemplate.chatML.renderHHQuery("Tell me a joke.")
        == "<|im_start|>user\nTell me a joke.<|im_end|>\n<|im_start|>assistant\n")
}
