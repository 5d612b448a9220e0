/// Every job kind a worker runs, by its `name`. Adding a kind is one line here.
public enum JobKindRegistry {
    public static let standard: [String: any JobKind.Type] = registry([
        PrepareDataKind.self,
        APOPairsKind.self,
        RejectionSampleKind.self,
        TrainRMKind.self,
        ScoreKind.self,
        TrainLLMKind.self,
        DPOKind.self,
        EvaluateKind.self,
        SleepKind.self,
        NoopKind.self,
        GenerateKind.self,
        MergeShardsKind.self,
    ])

    /// Kinds only the expansion writes into a DAG (`ShardExpansion`): workers run them, a pipeline
    /// file may not name them, and "unknown job kind" messages do not list them.
    public static let expansionKinds: Set<String> = [MergeShardsKind.name]

    /// Builds a name → kind map; a duplicate name is a programming error caught by the tests.
    public static func registry(_ kinds: [any JobKind.Type]) -> [String: any JobKind.Type] {
        Dictionary(kinds.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }
}
