/// Input the statistics cannot be computed on. Every function in this folder throws one of these
/// instead of trapping, so a bad evaluation file or an empty matrix cell becomes a message.
public enum StatisticsError: Error, Equatable, CustomStringConvertible {
    /// No observation where at least one is needed (`what` names the sample).
    case empty(what: String)
    /// Two samples that must be paired one to one have different lengths.
    case unpaired(what: String, left: Int, right: Int)
    /// A confidence level outside (0, 1).
    case level(Double)
    /// Fewer than one bootstrap resample.
    case resamples(Int)
    /// A count or probability out of range (`what` says which and why).
    case outOfRange(what: String)
    /// A value that is NaN or infinite.
    case notFinite(what: String)

    public var description: String {
        switch self {
        case .empty(let what): return "\(what): no observations, so no estimate or interval"
        case .unpaired(let what, let l, let r):
            return "\(what): paired samples must have the same length, got \(l) and \(r)"
        case .level(let level): return "confidence level \(level) is not between 0 and 1"
        case .resamples(let n): return "bootstrap needs at least one resample, got \(n)"
        case .outOfRange(let what): return what
        case .notFinite(let what): return "\(what): a value is NaN or infinite"
        }
    }
}
