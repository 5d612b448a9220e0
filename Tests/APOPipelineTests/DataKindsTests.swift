import APOJSON
import Foundation
import Testing
@testable import APOPipeline

private func hhLine(_ chosen: String, _ rejected: String) -> String {
    let o: JSONValue = .object(["chosen": .string(chosen), "rejected": .string(rejected)])
    return try! o.jsonString()
}

private func errorText(_ body: () throws -> Void) -> String {
    do { try body(); return "no error" } catch { return "\(error)" }
}

/// The prepare-data outputs of one run, read back.
private struct PreparedData {
    var rmPairs, llmPairs, trainPairs, testPairs: [PreferencePair]
    var golden: [GoldenAnswer]
    var rmQueries, llmQueries, testQueries: [LLMSample]
    var rawFiles: [String: Data]

    init(_ outputs: JobOutputs) throws {
        func url(_ k: String) throws -> URL { URL(fileURLWithPath: try #require(outputs[k]?.stringValue)) }
        rmPairs = try PreferencePairsFile.read(url("rm_train_pairs"))
        llmPairs = try PreferencePairsFile.read(url("llm_train_pairs"))
        trainPairs = try PreferencePairsFile.read(url("train_pairs"))
        testPairs = try PreferencePairsFile.read(url("test_pairs"))
        golden = try GoldenAnswersFile.read(url("rm_train_golden"))
        rmQueries = try LLMSamplesFile.read(url("rm_train_queries"))
        llmQueries = try LLMSamplesFile.read(url("llm_train_queries"))
        testQueries = try LLMSamplesFile.read(url("test_queries"))
        rawFiles = try Dictionary(uniqueKeysWithValues: PrepareDataKind.outputs.map { ($0, try Data(contentsOf: url($0))) })
    }
}

private func prepare(_ params: [String: JSONValue], in tmp: TempDirectory, _ name: String) throws -> (PreparedData, TestJobContext) {
    var all: [String: JSONValue] = Dictionary(uniqueKeysWithValues: PrepareDataKind.parameters.map { ($0.name, $0.defaultValue ?? .null) })
    all.merge(params) { _, new in new }
    let ctx = try TestJobContext(params: all, root: tmp.file(name))
    let outputs = try PrepareDataKind.run(ctx)
    #expect(Set(outputs.keys) == Set(PrepareDataKind.outputs))
    return (try PreparedData(outputs), ctx)
}

@Suite struct DataKindsTests {
    /// Numbers from an independent Python pass over the same file (split at the last
    /// "\n\nAssistant:", lstrip the response): 2,312 lines, 5 whose chosen and rejected queries differ
    /// (lines 1255, 1689, 1951, 1953, 2037), 2,307 usable pairs, 2,305 distinct queries.
    @Test func prepareDataOnTheSharedHHFile() throws {
        let hh = sharedHHFile()
        try #require(FileManager.default.fileExists(atPath: hh.path),
                     "missing \(hh.path): the shared HH data must sit next to the repository (../shared/data/hh-rlhf)")
        let tmp = try TempDirectory()
        defer { tmp.remove() }
        let sha = "ebfaaed21162a4de120ae85366075b34425e2a6303fac59b99555002f7016f03"  // shared/README.md
        let (a, ctx) = try prepare(["input": .string(hh.path), "sha256": .string(sha)], in: tmp, "a")
        #expect(ctx.logLines.filter { $0.contains("different queries") }.map { $0.split(separator: ":")[2] }
                == ["1255", "1689", "1951", "1953", "2037"].map { Substring($0) })
        // ⌊2305·0.4⌋ = 922 rm-train, 922 llm-train, 461 test queries.
        #expect(a.rmQueries.count == 922 && a.llmQueries.count == 922 && a.testQueries.count == 461)
        #expect(a.rmPairs.count + a.llmPairs.count + a.testPairs.count == 2307)
        #expect(a.trainPairs.count == a.rmPairs.count + a.llmPairs.count)
        #expect(Set(a.trainPairs.map(\.text)) == Set((a.rmPairs + a.llmPairs).map(\.text)))
        let rm = Set(a.rmQueries.map(\.queryID)), llm = Set(a.llmQueries.map(\.queryID)), test = Set(a.testQueries.map(\.queryID))
        #expect(rm.count == 922 && llm.count == 922 && test.count == 461)
        #expect(rm.isDisjoint(with: llm) && rm.isDisjoint(with: test) && llm.isDisjoint(with: test))
        // Disjoint by query TEXT too (lines 251/1484 and 1263/1453 repeat a query).
        #expect(Set(a.rmQueries.map(\.query)).isDisjoint(with: a.testQueries.map(\.query)))
        #expect(Set(a.rmPairs.compactMap(\.queryID)) == rm && Set(a.testPairs.compactMap(\.queryID)) == test)
        #expect(a.golden.map(\.queryID) == a.rmQueries.map(\.queryID))
        // The first line, checked by hand: id hh-0, query up to the last "\n\nAssistant:".
        let all = a.rmQueries + a.llmQueries + a.testQueries
        let first = try #require(all.first { $0.queryID == "hh-0" })
        #expect(first.query.hasPrefix("\n\nHuman: what are some pranks with a pen i can do?\n\nAssistant: Are you looking f"))
        #expect(first.query.hasSuffix("\n\nAssistant:"))
        for pair in a.rmPairs.prefix(50) {
            let (q0, chosen) = PreferencePair.split(pair.text[0])!
            let (q1, _) = PreferencePair.split(pair.text[1])!
            #expect(q0 == q1 && q0.hasSuffix("\n\nAssistant:") && pair.scores == [1, 0] && pair.type == nil)
            #expect(!chosen.hasPrefix(" "))
        }
        // Golden = the chosen response of the query's first pair.
        let firstPair = try #require(a.rmPairs.first { $0.queryID == a.golden[0].queryID })
        #expect(PreferencePair.split(firstPair.text[0])!.response == a.golden[0].golden)
        #expect(ctx.progress.last.map { $0.done == $0.total } == true)

        // Same seed: byte-identical files. Another seed: another split of the same queries.
        let (b, _) = try prepare(["input": .string(hh.path)], in: tmp, "b")
        #expect(a.rawFiles == b.rawFiles)
        let (c, _) = try prepare(["input": .string(hh.path), "seed": .int(7), "max_queries": .int(100)], in: tmp, "c")
        #expect(c.rmQueries.count == 40 && c.llmQueries.count == 40 && c.testQueries.count == 20)
        #expect(Set(c.rmQueries.map(\.queryID)) != Set(a.rmQueries.map(\.queryID).prefix(40)))

        #expect(errorText { _ = try prepare(["input": .string(hh.path), "sha256": .string(String(repeating: "0", count: 64))], in: tmp, "d") }
                .contains("sha256 is \(sha), expected 0000"))
    }

    @Test func splitDependsOnlyOnTheSeed() throws {
        let queries = (0..<1000).map { PrepareDataKind.Query(id: "q\($0)", text: "t\($0)", pairIndices: [$0]) }
        let a = PrepareDataKind.splitQueries(queries, seed: 1, rmFraction: 0.5, llmFraction: 0.3, maxQueries: 0)
        let b = PrepareDataKind.splitQueries(queries, seed: 1, rmFraction: 0.5, llmFraction: 0.3, maxQueries: 0)
        let c = PrepareDataKind.splitQueries(queries, seed: 2, rmFraction: 0.5, llmFraction: 0.3, maxQueries: 0)
        #expect(a == b && a != c)
        #expect(a.rmTrain.count == 500 && a.llmTrain.count == 300 && a.test.count == 200)
        #expect(Set((a.rmTrain + a.llmTrain + a.test).map(\.id)).count == 1000)
        // Pinned: the SplitMix64 stream and this Fisher–Yates must never change, or every stored
        // split silently changes with it. (Values printed by this implementation; SplitMix64's first
        // output for seed 0 is the published 0xE220A8397B1DCDAF.)
        var g = SeededGenerator(seed: 0)
        #expect(g.next() == 0xE220_A839_7B1D_CDAF)
        #expect(a.test.prefix(5).map(\.id) == ["q0", "q2", "q20", "q26", "q30"])
    }

    @Test func prepareDataOnHandMadeLines() throws {
        let tmp = try TempDirectory()
        defer { tmp.remove() }
        let multi = "\n\nHuman: first\n\nAssistant: one\n\nHuman: second\n\nAssistant:"
        let lines = [
            hhLine(multi + " good answer", multi + " bad answer"),
            hhLine("\n\nHuman: empty?\n\nAssistant:", "\n\nHuman: empty?\n\nAssistant: not empty"),
            "",
            hhLine(multi + " again", multi + " worse"),
            hhLine("\n\nHuman: a\n\nAssistant: x", "\n\nHuman: b\n\nAssistant: y"),
        ]
        let input = try tmp.write("hh.jsonl", lines.joined(separator: "\n") + "\n")
        let golden = try tmp.write("golden.json", #"[{"query_id": "hh-0", "golden": "GPT-4 says hi"}]"#)
        let (d, ctx) = try prepare(["input": .string(input.path), "rm_train_fraction": .double(1), "llm_train_fraction": .double(0),
                                    "golden": .string(golden.path)], in: tmp, "hand")
        // Line 5's queries differ: skipped. Lines 1 and 4 share a query: one query, id hh-0.
        #expect(ctx.logLines.contains { $0.hasSuffix("hh.jsonl:5: chosen and rejected have different queries; skipped") })
        #expect(d.rmQueries == [LLMSample(queryID: "hh-0", query: multi), LLMSample(queryID: "hh-1", query: "\n\nHuman: empty?\n\nAssistant:")])
        #expect(d.rmPairs == [
            PreferencePair(query: multi, preferred: "good answer", other: "bad answer", queryID: "hh-0"),
            PreferencePair(query: multi, preferred: "again", other: "worse", queryID: "hh-0"),
            PreferencePair(query: "\n\nHuman: empty?\n\nAssistant:", preferred: "", other: "not empty", queryID: "hh-1"),
        ])
        #expect(d.golden == [GoldenAnswer(queryID: "hh-0", golden: "GPT-4 says hi"), GoldenAnswer(queryID: "hh-1", golden: "")])
        #expect(d.testQueries.isEmpty && d.llmPairs.isEmpty)

        let bad = try tmp.write("bad.jsonl", hhLine("\n\nHuman: a\n\nAssistant: b", "\n\nHuman: a\n\nAssistant: c") + "\n{\"chosen\": 1}\n")
        #expect(errorText { _ = try prepare(["input": .string(bad.path)], in: tmp, "bad") } == "\(bad.path):2, field 'chosen': expected a string, found int")
        let broken = try tmp.write("broken.jsonl", "\n\n{not json\n")
        #expect(errorText { _ = try prepare(["input": .string(broken.path)], in: tmp, "broken") }.hasPrefix("\(broken.path):3: not valid JSON"))
        let noTurn = try tmp.write("noturn.jsonl", hhLine("\n\nHuman: a", "\n\nHuman: a") + "\n")
        #expect(errorText { _ = try prepare(["input": .string(noTurn.path)], in: tmp, "noturn") } == "\(noTurn.path):1, field 'chosen': has no \"\\n\\nAssistant:\" turn")
        #expect(errorText { _ = try prepare(["input": .string("https://example.invalid/hh.jsonl.gz")], in: tmp, "url") }
                == "input https://example.invalid/hh.jsonl.gz is a URL: parameter 'sha256' is required")
        #expect(errorText { _ = try prepare(["input": .string(input.path), "rm_train_fraction": .double(0.7)], in: tmp, "frac") }
                .contains("must be ≥ 0 with a sum ≤ 1"))
    }

    @Test func apoPairsFollowTheSpec() throws {
        let tmp = try TempDirectory()
        defer { tmp.remove() }
        let samples = try tmp.write("samples.json", """
            [{"query_id": "a:1", "query": "QA", "sample_0": " first\\n\\nHuman: go on", "sample_1": "second  ", "sample_2": "\\nHuman: x"},
             {"query_id": "nogold", "query": "QN", "sample_0": "z"},
             {"query_id": "b", "query": "QB", "sample_0": "b0", "sample_1": "b1"}]
            """)
        let golden = try tmp.write("golden.json", #"[{"query_id": "b", "golden": "GB"}, {"query_id": "a:1", "golden": "GA"}]"#)
        let ctx = try TestJobContext(params: ["samples": .string(samples.path), "golden": .string(golden.path),
                                              "sampling": .bool(false), "seed": .int(42)], root: tmp.file("all"))
        let out = try APOPairsKind.run(ctx)
        let pairs = try PreferencePairsFile.read(URL(fileURLWithPath: try #require(out["pairs"]?.stringValue)))
        #expect(pairs == [
            PreferencePair(text: ["QA<sep>GA", "QA<sep>first"], scores: [1, 0], queryID: "a:1", type: "apo"),
            PreferencePair(text: ["QA<sep>GA", "QA<sep>second"], scores: [1, 0], queryID: "a:1", type: "apo"),
            PreferencePair(text: ["QA<sep>GA", "QA<sep>"], scores: [1, 0], queryID: "a:1", type: "apo"),
            PreferencePair(text: ["QB<sep>GB", "QB<sep>b0"], scores: [1, 0], queryID: "b", type: "apo"),
            PreferencePair(text: ["QB<sep>GB", "QB<sep>b1"], scores: [1, 0], queryID: "b", type: "apo"),
        ])
        #expect(ctx.logLines.contains { $0.contains("1 of 3 queries") })

        // sampling: one sample per query, the same one for the same seed.
        func sampled(_ seed: Int) throws -> [PreferencePair] {
            let c = try TestJobContext(params: ["samples": .string(samples.path), "golden": .string(golden.path),
                                                "sampling": .bool(true), "seed": .int(seed)], root: tmp.file("s\(seed)"))
            return try PreferencePairsFile.read(URL(fileURLWithPath: try APOPairsKind.run(c)["pairs"]!.stringValue!))
        }
        let s1 = try sampled(1)
        #expect(s1.map(\.queryID) == ["a:1", "b"])
        #expect(s1.allSatisfy { pairs.contains($0) })
        #expect(try sampled(1) == s1)
        let seen = Set(try (0..<16).flatMap { try sampled($0) }.map(\.text))
        // Deterministic (fixed generator): across these 16 seeds every sample gets picked, so the
        // choice is not stuck on one index.
        #expect(seen.count == 5)
    }

    @Test func rejectionSamplingPicksTheBestUsableAnswer() throws {
        let tmp = try TempDirectory()
        defer { tmp.remove() }
        let samples = try tmp.write("samples.json", """
            [{"query_id": "hh:1", "query": "Q1", "sample_0": "low", "sample_1": "   ", "sample_2": "high", "hh_best": "human"},
             {"query_id": "only-best", "query": "Q2", "sample_0": "", "hh_best": "human answer"},
             {"query_id": "empty", "query": "Q3", "sample_0": " \\n"},
             {"query_id": "tie", "query": "Q4", "sample_0": "x", "sample_1": "y"},
             {"query_id": "unscored", "query": "Q5", "sample_0": "x"}]
            """)
        let scores = try tmp.write("scores.json", """
            [{"hh:1:sample_0": 0.1}, {"hh:1:sample_1": 9.0}, {"hh:1:sample_2": 0.5}, {"hh:1:hh_best": 5.0},
             {"only-best:sample_0": 3.0}, {"only-best:hh_best": -1.0},
             {"empty:sample_0": 1.0},
             {"tie:sample_1": 2.0}, {"tie:sample_0": 2.0}]
            """)
        let ctx = try TestJobContext(params: ["samples": .string(samples.path), "scores": .string(scores.path)], root: tmp.file("rs"))
        let out = try RejectionSampleKind.run(ctx)
        let targets = try RejectionSamplesFile.read(URL(fileURLWithPath: try #require(out["targets"]?.stringValue)))
        #expect(targets.map(\.item.queryID) == ["hh:1", "only-best", "tie"])
        #expect(targets.map(\.target) == ["high", "human answer", "y"])  // ties: earlier in the scores file
        #expect(targets[0].scores == ["sample_0": 0.1, "sample_1": 9.0, "sample_2": 0.5, "hh_best": 5.0])
        #expect(targets[0].item.answer(forKey: "hh_best") == "human")
        #expect(ctx.logLines.filter { $0.contains("no usable scored answer") }.count == 2)
        #expect(ctx.logLines.contains { $0.contains("'empty'") } && ctx.logLines.contains { $0.contains("'unscored'") })

        let stray = try tmp.write("stray.json", #"[{"hh:1:sample_0": 1}, {"ghost:sample_0": 1}]"#)
        #expect(errorText { _ = try RejectionSampleKind.run(try TestJobContext(params: ["samples": .string(samples.path), "scores": .string(stray.path)], root: tmp.file("x"))) }
                == "\(stray.path): item 1, field 'ghost:sample_0': query 'ghost' is not in the samples file")
    }

    @Test func noopFailsThenSucceedsAndTouchesOncePerRun() throws {
        let tmp = try TempDirectory()
        defer { tmp.remove() }
        let touch = tmp.file("ran.txt")
        let ctx = try TestJobContext(params: ["value": .object(["k": .int(1)]), "fail": .bool(false), "fail_times": .int(2),
                                              "crash_times": .int(0), "touch": .string(touch.path), "artifact": .string("v.json")],
                                     root: tmp.file("noop"))
        #expect(throws: NoopFailure.self) { try NoopKind.run(ctx) }
        #expect(throws: NoopFailure.self) { try NoopKind.run(ctx) }
        let out = try NoopKind.run(ctx)
        #expect(out["attempt"] == .int(3) && out["value"] == .object(["k": .int(1)]))
        #expect(try String(contentsOf: URL(fileURLWithPath: out["artifact"]!.stringValue!), encoding: .utf8) == #"{"k":1}"#)
        #expect(try String(contentsOf: touch, encoding: .utf8).split(separator: "\n").count == 3)
    }

    @Test func sleepStopsPromptlyWhenCancelled() throws {
        let tmp = try TempDirectory()
        defer { tmp.remove() }
        let short = try TestJobContext(params: ["seconds": .double(0.3), "log_every": .double(0.1), "ignore_stop": .bool(false)],
                                       root: tmp.file("short"))
        let t0 = Date()
        #expect(try SleepKind.run(short) == ["seconds": .double(0.3)])
        #expect(Date().timeIntervalSince(t0) >= 0.3)
        #expect(short.progress.last.map { $0.done == 300 && $0.total == 300 } == true)
        // A line at the 0.1 s and 0.2 s marks (one may be skipped on a stalled machine), one at the end.
        #expect((1...2).contains(short.logLines.count - 1), "\(short.logLines)")
        #expect(short.logLines.dropLast().allSatisfy { $0.hasPrefix("sleep: slept 0.") && $0.hasSuffix(" of 0.3 s") }, "\(short.logLines)")
        #expect(short.logLines.last == "sleep: done after 0.3 s")

        let bad = try TestJobContext(params: ["seconds": .double(1), "log_every": .double(-1), "ignore_stop": .bool(false)],
                                     root: tmp.file("bad"))
        #expect(throws: JobParameterError.self) { try SleepKind.run(bad) }

        let long = try TestJobContext(params: ["seconds": .double(30), "log_every": .double(0), "ignore_stop": .bool(false)],
                                      root: tmp.file("long"))
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) { long.cancelled = true }
        let t1 = Date()
        #expect(throws: JobCancelled.self) { try SleepKind.run(long) }
        #expect(Date().timeIntervalSince(t1) < 2)

        // ignore_stop: runs to its end although it was cancelled from the start.
        let stubborn = try TestJobContext(params: ["seconds": .double(0.2), "log_every": .double(0), "ignore_stop": .bool(true)],
                                          root: tmp.file("stubborn"))
        stubborn.cancelled = true
        #expect(try SleepKind.run(stubborn) == ["seconds": .double(0.2)])
    }

    @Test func dataOnlyPipelineRunsEndToEnd() throws {
        let root = repositoryRoot()
        try #require(FileManager.default.fileExists(atPath: sharedHHFile().path), "missing shared HH data at \(sharedHHFile().path)")
        let tmp = try TempDirectory()
        defer { tmp.remove() }
        let p = try PipelineSpec.load(path: root.appendingPathComponent("pipelines/data-only.yaml").path,
                                      overrides: ["input": sharedHHFile().path,
                                                  "samples": root.appendingPathComponent("pipelines/data/toy-samples.json").path])
        let outputs = try runInProcess(p, root: tmp.url)
        let pairs = try PreferencePairsFile.read(URL(fileURLWithPath: try #require(outputs["apo_pairs"]?["pairs"]?.stringValue)))
        // Every toy query is an rm-train query of the default split: 3 queries × 2 samples.
        #expect(pairs.count == 6)
        #expect(pairs.allSatisfy { $0.type == "apo" && $0.scores == [1, 0] })
    }

    @Test func noopChainPipelineRunsEndToEnd() throws {
        let tmp = try TempDirectory()
        defer { tmp.remove() }
        let p = try PipelineSpec.load(path: repositoryRoot().appendingPathComponent("pipelines/noop-chain.yaml").path,
                                      overrides: ["rounds": "2"])
        #expect(p.jobs.map(\.id) == ["start", "r1.step", "r2.step", "finish"])
        let outputs = try runInProcess(p, root: tmp.url)
        #expect(outputs["finish"]?["value"] == .string("hello -> round 1 -> round 2 -> done"))
    }
}
