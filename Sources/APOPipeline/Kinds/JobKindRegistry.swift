/// Every job kind a pipeline may name, by its `name`. Adding a kind is one line here.
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
    ])

    /// Builds a name → kind map; a duplicate name is a programming error caught by the tests.
    public static func registry(_ kinds: [any JobKind.Type]) -> [String: any JobKind.Type] {
        Dictionary(kinds.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }
}
