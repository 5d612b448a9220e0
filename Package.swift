// swift-tools-version:6.0
import PackageDescription

// Dependencies point one way:
//   APOEngine (kernels, model, tokenizer, training)      — no SQLite, no jobs
//   APOStore  (SQLite schema, migrations, job queue)      — no engine
//   APOPipeline (YAML → DAG, job kinds, data formats)     — uses APOEngine
//   APORuntime (scheduler, worker loop, supervisor)       — uses APOPipeline + APOStore
//   APOReport (a finished run's report, text for people) — uses APOStore + APOPipeline; nothing a job links
//   apod, apoctl                                          — thin executables over APORuntime
let engineSettings: [SwiftSetting] = [
    // The engine's loops are the product's hot path; keep them optimised even in debug
    // builds so the test suite runs real models in seconds, not minutes. Checked (-O, not
    // -Ounchecked): the engine also parses GGUF, safetensors, tokenizer and checkpoint files, and
    // there a bad index must trap, not corrupt memory. Only APOKernels is unchecked.
    .unsafeFlags(["-O"]),
]

// The int8 decode kernels are compiled for AVX2 + FMA on x86-64 (every x86 server CPU since
// 2015); the engine checks the CPU at run time and keeps the fp32 path where they are missing.
// Only this small module gets the flag, so the rest of the build runs on any x86-64.
#if arch(x86_64)
let kernelSettings: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-target-cpu", "haswell"])]
// The block-quantised decode kernels (C: 16-bit integer multiply-adds Swift's SIMD types do not
// lower to) for the same CPUs; a portable loop where the flags are absent.
let decodeKernelSettings: [CSetting] = [.unsafeFlags(["-O3", "-mavx2", "-mfma", "-mf16c"])]
#else
let kernelSettings: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"])]
let decodeKernelSettings: [CSetting] = [.unsafeFlags(["-O3"])]
#endif

let package = Package(
    name: "apo",
    platforms: [.macOS(.v15)],  // v15: the Synchronization module's atomics
    products: [
        .executable(name: "apod", targets: ["apod"]),
        .executable(name: "apoctl", targets: ["apoctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        // Already in the graph through Hummingbird; named because APOServer uses them directly.
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        // `GET /metrics`: the Prometheus text format.
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS",
            path: "Sources/COpenBLAS",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // oneDNN for the bf16 matrix products (fp32 accumulation), on AMX or AVX512-BF16.
        .systemLibrary(
            name: "CDNNL",
            path: "Sources/CDNNL",
            providers: [.apt(["libdnnl-dev"])]
        ),
        // cpuid, XCR0 and the Linux AMX permission request: the engine's own CPU probe.
        .systemLibrary(name: "CCPU", path: "Sources/CCPU"),
        // zlib for prepare-data's .jsonl.gz input (Foundation on Linux has no gzip decoder).
        .systemLibrary(
            name: "CZlib",
            path: "Sources/CZlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // statfs(2) for APOStore's network file system check (not exported by Swift's Glibc).
        .systemLibrary(name: "CStatfs", path: "Sources/CStatfs"),
        // libcurl (libcurl4-openssl-dev) for `apoctl --server`: it can trust a CA of its own (--ca-file).
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl"),
        .target(name: "APOKernels", swiftSettings: kernelSettings),
        .target(name: "CDecodeKernels", cSettings: decodeKernelSettings),
        .target(
            name: "APOEngine",
            dependencies: ["COpenBLAS", "CDNNL", "CCPU", "APOKernels", "CDecodeKernels"],
            swiftSettings: engineSettings
        ),
        .target(
            name: "APOStore",
            dependencies: [
                "CStatfs",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            plugins: ["EmbedMigrations"]
        ),
        .executableTarget(name: "MigrationEmbedder"),
        .plugin(
            name: "EmbedMigrations",
            capability: .buildTool(),
            dependencies: ["MigrationEmbedder"]
        ),
        // The one JSON value type: job parameters and outputs in the pipeline, the same values in
        // the API's bodies. Depends on nothing, so both can use it without depending on each other.
        .target(name: "APOJSON"),
        .target(
            name: "APOPipeline",
            dependencies: [
                "APOEngine", "APOJSON", "CZlib",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "APORuntime",
            dependencies: [
                "APOPipeline", "APOStore", "APOJSON",
                .product(name: "Logging", package: "swift-log"),
                // sha256 of artifacts and memo keys.
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // `apoctl bench queue|e2e|inference|rm`: measurements of the store, the runtime and the
        // engine, kept out of the modules a job links.
        // Optimised like the engine: its own probes (memory bandwidth) are loops that must run at speed.
        .target(name: "APOBenchmarks", dependencies: ["APORuntime", "APOStore", "APOEngine", "COpenBLAS"],
                swiftSettings: engineSettings),
        // `apoctl report`: a run's page (Markdown, or HTML with SVG charts) from the store and the
        // run's artifacts. Kept out of the modules a job links; APORuntime only for `Formatting`.
        .target(name: "APOReport", dependencies: ["APOStore", "APOPipeline", "APOJSON"]),
        // `apoctl bench chaos`: runs apod under kills and freezes and checks each run against an
        // undisturbed one. Not a dependency of anything a job needs.
        .target(name: "APOChaos", dependencies: ["APORuntime", "APOStore", "APOPipeline"]),
        // The web page `apod --http` serves at `/`: its HTML, CSS and JavaScript as string
        // constants, so the binary carries them (no files to install, no CDN). Depends on nothing.
        .target(name: "APOWebPage"),
        // The HTTP API's JSON bodies, Codable both ways: apod encodes them from the store's
        // records and `apoctl --server` decodes them back, so the wire format is written once.
        .target(name: "APOAPIBodies", dependencies: ["APOStore", "APOJSON"]),
        // `apod --http`: the JSON API (and later the web page and /metrics) over the store.
        // Reads and controls runs through APOStore and APORuntime only; links no engine code of
        // its own.
        .target(
            name: "APOServer",
            dependencies: [
                "APORuntime", "APOStore", "APOPipeline", "APOWebPage", "APOAPIBodies",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                // `apod --http … --tls-cert/--tls-key`: HTTPS, over swift-nio-ssl (already in the graph).
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
            ]
        ),
        .executableTarget(
            name: "apod",
            dependencies: [
                "APORuntime", "APOPipeline", "APOStore", "APOServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "apoctl",
            dependencies: [
                "APORuntime", "APOChaos", "APOBenchmarks", "APOReport", "APOAPIBodies", "APOJSON", "CCurl",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .testTarget(name: "APOEngineTests", dependencies: ["APOEngine", .product(name: "Crypto", package: "swift-crypto")],
                    resources: [.copy("Fixtures")]),
        // What the store and runtime tests share: a fresh PostgreSQL database per test.
        .target(name: "APOTestSupport", dependencies: ["APOStore"], path: "Tests/APOTestSupport"),
        .testTarget(name: "APOStoreTests", dependencies: ["APOStore", "APOBenchmarks", "APOTestSupport"]),
        .testTarget(name: "APOPipelineTests", dependencies: ["APOPipeline", "APOJSON"], resources: [.copy("Fixtures")]),
        .testTarget(name: "APORuntimeTests", dependencies: ["APORuntime", "APOStore", "APOPipeline", "APOJSON", "APOChaos", "APOTestSupport"]),
        .testTarget(name: "APOServerTests", dependencies: [
            "APOServer", "APOStore", "APORuntime", "APOTestSupport",
            .product(name: "Yams", package: "Yams"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "APOReportTests", dependencies: ["APOReport", "APOStore", "APOPipeline"]),
    ],
    // Swift 5 mode: the engine passes raw buffers between threads by design (disjoint ranges),
    // which Swift 6's strict checking cannot express without copies.
    swiftLanguageModes: [.v5]
)
