import APOStore

/// Which attempts the exporter has already counted, so each claim and each finish is counted
/// once however often `/metrics` is scraped. Attempt ids only grow and a finished attempt never
/// changes, so everything below the oldest attempt still live is done for good: only ids from
/// `floor` on are kept and re-read.
struct AttemptLedger {
    /// The lowest id that may still change (a live attempt) or has not been seen yet.
    private(set) var floor: Int64 = 0
    private var claimed: Set<Int64> = []
    private var finished: Set<Int64> = []

    struct News {
        var claims: [AttemptFacts] = []
        var finishes: [AttemptFacts] = []
    }

    /// Every attempt with id ≥ `floor`, as the store has them now (in id order).
    mutating func absorb(_ attempts: [AttemptFacts]) -> News {
        var news = News()
        for attempt in attempts {
            if claimed.insert(attempt.id).inserted { news.claims.append(attempt) }
            if attempt.finishedAt != nil, finished.insert(attempt.id).inserted { news.finishes.append(attempt) }
        }
        if let oldestLive = attempts.first(where: { $0.finishedAt == nil }) {
            floor = oldestLive.id
        } else if let newest = attempts.last {
            floor = newest.id + 1
        }
        let floor = self.floor
        claimed = claimed.filter { $0 >= floor }
        finished = finished.filter { $0 >= floor }
        return news
    }
}
