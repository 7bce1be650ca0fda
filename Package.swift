// swift-tools-version:6.2
import PackageDescription

// Liaison: the software of a police public-relations office.
// See README.md for the two commands and ../shared/DESIGN.md (mirrored in docs/) for the contract.

let swiftSettings: [SwiftSetting] = []

let package = Package(
    name: "Liaison",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "liaison-intake", targets: ["IntakeMain"]),
        .executable(name: "liaison-handler", targets: ["HandlerMain"]),
        .executable(name: "liaison-scheduler", targets: ["SchedulerMain"]),
        .executable(name: "liaison-reporting", targets: ["ReportingMain"]),
        .executable(name: "liaison", targets: ["LiaisonCLI"]),
        .executable(name: "liaison-bench", targets: ["LiaisonBench"]),
        .executable(name: "liaison-fuzz-requests", targets: ["FuzzRequests"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        // Personal data at rest: AES-GCM (Shared/Sealing: intake and the scheduler).
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        // MARK: Shared
        .systemLibrary(
            name: "CZeroMQ",
            path: "Shared/CZeroMQ",
            pkgConfig: "libzmq",
            providers: [.apt(["libzmq3-dev"])]
        ),
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"], path: "Shared/ZeroMQ"),
        .target(
            name: "LiaisonCodec",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Shared/Codec",
            exclude: ["Proto", "regenerate.sh"]
        ),
        // The client library: Lazy Pirate requests and submissions; no database, no server code.
        .target(
            name: "LiaisonClient",
            dependencies: ["ZeroMQ", "LiaisonCodec", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Shared/Client"
        ),
        .target(
            name: "LiaisonRuntime",
            dependencies: [
                "ZeroMQ", "LiaisonCodec", "LiaisonClient",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Shared/Runtime"
        ),

        // Personal data sealed at rest (AES-256-GCM, keys with ids that rotate): intake's contacts,
        // the scheduler's registrants and households. Imports swift-crypto's BoringSSL module
        // (`CCryptoBoringSSL`, built for Crypto but not a product) where it can, to seal with a key
        // set up once; without it, Crypto's API (Shared/Sealing/GCMSealers.swift).
        .target(
            name: "LiaisonSealing",
            dependencies: ["LiaisonCodec", "LiaisonRuntime", .product(name: "Crypto", package: "swift-crypto")],
            path: "Shared/Sealing"
        ),

        // MARK: Services (logic library + thin executable each)
        // Intake also imports swift-crypto's BoringSSL module where it can, to fingerprint contacts
        // with keys set up once; without it, it uses Crypto's API (Services/Intake/Lib/KeyedCrypto.swift).
        .target(name: "Intake", dependencies: ["LiaisonRuntime", "LiaisonSealing", .product(name: "Crypto", package: "swift-crypto")], path: "Services/Intake/Lib"),
        .executableTarget(name: "IntakeMain", dependencies: ["Intake", "LiaisonSealing", .product(name: "ArgumentParser", package: "swift-argument-parser")], path: "Services/Intake/Main"),
        .target(name: "Handler", dependencies: ["LiaisonRuntime"], path: "Services/Handler/Lib"),
        .executableTarget(name: "HandlerMain", dependencies: ["Handler", .product(name: "ArgumentParser", package: "swift-argument-parser")], path: "Services/Handler/Main"),
        .target(name: "Scheduler", dependencies: ["LiaisonRuntime", "LiaisonSealing"], path: "Services/Scheduler/Lib"),
        .executableTarget(name: "SchedulerMain", dependencies: ["Scheduler", "LiaisonSealing", .product(name: "ArgumentParser", package: "swift-argument-parser")], path: "Services/Scheduler/Main"),
        .target(name: "Reporting", dependencies: ["LiaisonRuntime"], path: "Services/Reporting/Lib"),
        .executableTarget(name: "ReportingMain", dependencies: ["Reporting", .product(name: "ArgumentParser", package: "swift-argument-parser")], path: "Services/Reporting/Main"),
        .executableTarget(
            name: "LiaisonCLI",
            dependencies: ["LiaisonRuntime", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Services/CLI"
        ),

        // MARK: Benchmarks
        .executableTarget(
            name: "LiaisonBench",
            dependencies: [
                "LiaisonRuntime",
                "Intake",
                "Handler",
                "Reporting",
                "LiaisonSealing",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Benchmarks/LiaisonBench"
        ),

        // MARK: Tests
        // Replays inputs; built with -D FUZZING -sanitize=fuzzer by scripts/fuzz-requests.sh, a
        // libFuzzer target over what the services do with a request's bytes before their databases.
        .executableTarget(name: "FuzzRequests", dependencies: ["Intake", "Handler", "Scheduler", "LiaisonClient", "LiaisonCodec", "LiaisonSealing"], path: "Tests/Fuzz"),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ"], path: "Tests/ZeroMQTests"),
        .testTarget(name: "CodecTests", dependencies: ["LiaisonCodec"], path: "Tests/CodecTests", exclude: ["Fixtures"]),
        .testTarget(name: "RuntimeTests", dependencies: ["LiaisonRuntime", "LiaisonClient"], path: "Tests/RuntimeTests"),
        .testTarget(
            name: "ServiceTests",
            dependencies: ["Intake", "Handler", "Scheduler", "Reporting", "LiaisonSealing", .product(name: "Crypto", package: "swift-crypto")],
            path: "Tests/ServiceTests"
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["LiaisonRuntime", "IntakeMain", "HandlerMain", "SchedulerMain", "ReportingMain", "LiaisonCLI",
                           .product(name: "GRDB", package: "GRDB.swift")],
            path: "Tests/EndToEndTests"
        ),
    ]
)
