import APOStore
import Foundation

/// The PostgreSQL server the suite creates its databases in: `$APO_TEST_POSTGRES_URL`, which
/// `deploy/test.sh` sets after starting a throwaway cluster. Without it the PostgreSQL half of
/// the suite fails, saying so; it is never skipped.
public enum TestPostgres {
    public static var serverURL: String {
        get throws {
            guard let url = ProcessInfo.processInfo.environment["APO_TEST_POSTGRES_URL"], !url.isEmpty else {
                throw TestPostgresMissing()
            }
            return url
        }
    }

    /// A new, empty database on the test server; its URL.
    public static func createDatabase() throws -> String {
        try PostgresScratchDatabase.create(onServer: try serverURL, prefix: "apo_test")
    }

    public static func dropDatabase(_ url: String) {
        PostgresScratchDatabase.drop(url)
    }
}

public struct TestPostgresMissing: Error, CustomStringConvertible {
    public var description: String {
        "APO_TEST_POSTGRES_URL is not set: the PostgreSQL half of the store suite needs a server. "
            + "Run the tests with deploy/test.sh, which starts a throwaway cluster, or start one with "
            + "`deploy/postgres-cluster.sh start DIR` and export the URL it prints."
    }
}
