import APORuntime
import APOStore
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging

/// apod's HTTP server: the JSON API over the job store. One `register` per resource; the web
/// page, `/metrics` and static assets are further registrations on the same `RouteTable`.
public struct APIServer: Sendable {
    public struct Configuration: Sendable {
        public var address: ListenAddress
        public var writeAccess: WriteAccess
        /// Where runs submitted over HTTP put their artifacts when the request does not say
        /// (`$APO_ARTIFACTS`); nil: next to an SQLite database, required for PostgreSQL.
        public var defaultArtifacts: String?
        /// HTTPS with these files; nil: plain HTTP.
        public var tls: ServerTLS?

        public init(address: ListenAddress, writeAccess: WriteAccess, defaultArtifacts: String? = nil, tls: ServerTLS? = nil) {
            self.address = address
            self.writeAccess = writeAccess
            self.defaultArtifacts = defaultArtifacts
            self.tls = tls
        }

        /// The scheme clients reach it by.
        public var scheme: String { tls == nil ? "http" : "https" }
    }

    let configuration: Configuration
    let store: StoreAccess
    let logger: Logger
    /// Ends open log streams when apod stops.
    let stopping = ShutdownFlag()
    /// `/metrics`' counters, kept across scrapes.
    let metrics = StoreMetrics()

    public init(configuration: Configuration, store: JobStore, logger: Logger) {
        self.configuration = configuration
        self.store = StoreAccess(store: store, databasePath: store.path)
        self.logger = logger
    }

    /// The router with every route, and the list of them (for the OpenAPI check).
    func makeRouter() -> (Router<BasicRequestContext>, [APIRoute]) {
        let router = Router(context: BasicRequestContext.self)
        // First: middleware applies to the routes added after it (and to unknown paths).
        router.add(middleware: ErrorBodyMiddleware(logger: logger))
        let table = RouteTable(router: router)
        let access = configuration.writeAccess
        RunRoutes(store: store, writeAccess: access).register(on: table)
        SubmitRoute(store: store, writeAccess: access, defaultArtifacts: configuration.defaultArtifacts).register(on: table)
        JobRoutes(store: store, writeAccess: access).register(on: table)
        LogRoutes(store: store, stopping: stopping).register(on: table)
        ArtifactRoutes(store: store).register(on: table)
        HostRoutes(store: store).register(on: table)
        MetricsRoute(store: store, metrics: metrics).register(on: table)
        WebPageRoutes().register(on: table)
        return (router, table.routes)
    }

    /// Every route the server answers, as the OpenAPI document names them.
    public var routes: [APIRoute] { makeRouter().1 }

    func application(onListening: @escaping @Sendable (String) async -> Void) throws -> some ApplicationProtocol {
        let (router, _) = makeRouter()
        let address = configuration.address
        let server: HTTPServerBuilder = try configuration.tls.map { try .tls(.http1(), tlsConfiguration: $0.configuration()) } ?? .http1()
        return Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: "apod"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? address.port
                await onListening(ListenAddress(host: address.host, port: port).description)
            },
            logger: logger)
    }
}
