import Foundation
import Testing
@testable import APOPipeline

@Suite struct FormatsTests {
    @Test func preferencePairsRoundTripAndReadReferenceJSON() throws {
        let tmp = try TempDirectory()
        defer { tmp.remove() }
        let pairs = [
            PreferencePair(query: "\n\nHuman: hi\n\nAssistant:", preferred: "hello", other: "go away", queryID: "hh-0"),
            PreferencePair(text: ["q<sep>a", "q<sep>b", "q<sep>c"], scores: [0.5, 1.25, -2], queryID: nil, type: "apo"),
        ]
        let url = tmp.file("pairs.json")
        try PreferencePairsFile.write(pairs, to: url)
        #expect(try PreferencePairsFile.read(url) == pairs)
        // As the Python reference writes it (json.dump with indent, float scores, no query_id).
        let reference = try tmp.write("ref.json", """
            [
              {"text": ["Q<sep>A1", "Q<sep>A2"], "scores": [1.0, 0.0]},
              {"text": ["Q<sep>golden", "Q<sep>sample"], "scores": [1, 0], "type": "apo", "query_id": "x:1"}
            ]
            """)
        let read = try PreferencePairsFile.read(reference)
        #expect(read[0].scores == [1, 0] && read[0].queryID == nil && read[0].type == nil)
        #expect(read[1].type == "apo" && read[1].queryID == "x:1")
        #expect(PreferencePair.split(read[1].text[1])! == ("Q", "sample"))
        // Whole scores are written as ints, like the reference's [1, 0].
        let text = String(decoding: try PreferencePairsFile.encode([pairs[0]]), as: UTF8.self)
        #expect(text.contains(#""scores":[1,0]"#))
    }

    @Test func badItemsNameFileIndexAndField() throws {
        let tmp = try TempDirectory()
        defer { tmp.remove() }
        func error(_ body: () throws -> Void) -> String {
            do { try body(); return "no error" } catch { return "\(error)" }
        }
        let f = try tmp.write("bad.json", #"[{"text": ["q<sep>a"], "scores": [1]}, {"text": ["q<sep>a", "no separator"], "scores": [1, 0]}]"#)
        #expect(error { _ = try PreferencePairsFile.read(f) } == "\(f.path): item 1, field 'text[1]': has no <sep> between query and response")
        let g = try tmp.write("g.json", #"[{"text": ["q<sep>a"], "scores": ["high"]}]"#)
        #expect(error { _ = try PreferencePairsFile.read(g) } == "\(g.path): item 0, field 'scores[0]': expected a number, found string")
        let s = try tmp.write("s.json", #"[{"query_id": "a", "query": "q", "sample_0": "x", "sample_2": "z"}]"#)
        #expect(error { _ = try LLMSamplesFile.read(s) }.hasPrefix("\(s.path): item 0, field 'sample_1': missing"))
        let q = try tmp.write("q.json", #"[{"query": "q"}]"#)
        #expect(error { _ = try LLMSamplesFile.read(q) } == "\(q.path): item 0, field 'query_id': missing")
        let notList = try tmp.write("o.json", #"{"a": 1}"#)
        #expect(error { _ = try GoldenAnswersFile.read(notList) } == "\(notList.path): expected a JSON list at the top level, found map")
        let broken = try tmp.write("b.json", #"[{"a": 1"#)
        #expect(error { _ = try RMScoresFile.read(broken) }.hasPrefix("\(broken.path): not valid JSON"))
        let dup = try tmp.write("d.json", #"[{"query_id": "a", "golden": "x"}, {"query_id": "a", "golden": "y"}]"#)
        #expect(error { _ = try GoldenAnswersFile.read(dup) } == "\(dup.path): item 1, field 'query_id': duplicate query id 'a' (first at item 0)")
        let twoKeys = try tmp.write("k.json", #"[{"a:sample_0": 1, "a:sample_1": 2}]"#)
        #expect(error { _ = try RMScoresFile.read(twoKeys) }.hasPrefix("\(twoKeys.path): item 0: expected an object with exactly one key"))
        let noColon = try tmp.write("n.json", #"[{"nocolon": 1}]"#)
        #expect(error { _ = try RMScoresFile.read(noColon) } == "\(noColon.path): item 0, field 'nocolon': key has no ':<answer_key>' suffix")
    }

    @Test func samplesKeepDynamicKeysAndExtras() throws {
        let tmp = try TempDirectory()
        defer { tmp.remove() }
        let url = try tmp.write("samples.json", """
            [{"query_id": "q:1", "query": "Q", "sample_1": "b", "sample_0": "a", "sample_10": "k",
              "sample_2": "c", "sample_3": "d", "sample_4": "e", "sample_5": "f", "sample_6": "g",
              "sample_7": "h", "sample_8": "i", "sample_9": "j", "hh_best": "best", "meta": {"n": 1}}]
            """)
        let items = try LLMSamplesFile.read(url)
        #expect(items[0].samples == ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"])
        #expect(items[0].answer(forKey: "hh_best") == "best" && items[0].answer(forKey: "sample_10") == "k")
        #expect(items[0].answer(forKey: "sample_01") == nil && items[0].answer(forKey: "meta") == nil)
        #expect(items[0].answerKeys.last == "hh_best")
        let out = tmp.file("out.json")
        try LLMSamplesFile.write(items, to: out)
        #expect(try LLMSamplesFile.read(out) == items)
        #expect(try LLMSamplesFile.read(out)[0].extra["meta"] == .object(["n": .int(1)]))
    }

    @Test func scoreKeysSplitAtTheLastColon() throws {
        let tmp = try TempDirectory()
        defer { tmp.remove() }
        let url = try tmp.write("scores.json", #"[{"hh:12:a:sample_0": 0.25}, {"plain:hh_best": -1}, {"x::sample_3": 2.5e-3}]"#)
        let scores = try RMScoresFile.read(url)
        #expect(scores == [RMScore(queryID: "hh:12:a", answerKey: "sample_0", score: 0.25),
                           RMScore(queryID: "plain", answerKey: "hh_best", score: -1),
                           RMScore(queryID: "x:", answerKey: "sample_3", score: 0.0025)])
        let out = tmp.file("out.json")
        try RMScoresFile.write(scores, to: out)
        #expect(try RMScoresFile.read(out) == scores)
    }

    @Test func goldenAndRejectionSamplesRoundTrip() throws {
        let tmp = try TempDirectory()
        defer { tmp.remove() }
        let golden = [GoldenAnswer(queryID: "a", golden: "G"), GoldenAnswer(queryID: "b:c", golden: "")]
        let g = tmp.file("g.json")
        try GoldenAnswersFile.write(golden, to: g)
        #expect(try GoldenAnswersFile.read(g) == golden)
        let rs = [RejectionSample(item: LLMSample(queryID: "a", query: "Q", samples: ["x", "y"], extra: ["hh_best": .string("h")]),
                                  target: "y", scores: ["sample_0": 0.5, "sample_1": 1.5, "hh_best": -0.25])]
        let r = tmp.file("r.json")
        try RejectionSamplesFile.write(rs, to: r)
        #expect(try RejectionSamplesFile.read(r) == rs)
    }

    @Test func hhDialogueSplitsAtTheLastAssistantTurn() {
        let d = "\n\nHuman: one\n\nAssistant: two\n\nHuman: three\n\nAssistant:  four\n\nfive"
        let (q, r) = HHDialogue.split(d)!
        #expect(q == "\n\nHuman: one\n\nAssistant: two\n\nHuman: three\n\nAssistant:")
        #expect(r == "four\n\nfive")
        #expect(HHDialogue.split("\n\nHuman: no answer") == nil)
        #expect(HHDialogue.split("\n\nHuman: hi\n\nAssistant:")! == ("\n\nHuman: hi\n\nAssistant:", ""))
        #expect(HHDialogue.cutAtHumanTurn("  Sure!\n\nHuman: more\n\nAssistant: x") == "Sure!")
        #expect(HHDialogue.cutAtHumanTurn("\nHuman: at once") == "")
        #expect(HHDialogue.cutAtHumanTurn(" fine \n") == "fine")
    }

    @Test func gzipDecodesTheSharedFileAndRejectsTruncation() throws {
        let url = sharedHHFile()
        guard FileManager.default.fileExists(atPath: url.path) else {
            Issue.record("missing \(url.path): the shared HH data must sit next to the repository (../shared/data/hh-rlhf)")
            return
        }
        let raw = try Data(contentsOf: url)
        #expect(Gzip.isGzip(raw))
        let text = try Gzip.decompress(raw, file: url.path)
        // 2,312 pairs, one per line (shared/README.md).
        #expect(text.filter { $0 == 0x0A }.count == 2312)
        #expect(throws: GzipError.self) { try Gzip.decompress(raw.prefix(raw.count / 2), file: "half.gz") }
        // Two concatenated members decode as one stream, as gzip(1) does.
        let twice = try Gzip.decompress(raw + raw, file: "twice.gz")
        #expect(twice == text + text)
    }
}
