import Foundation
import LiaisonCodec
import Logging
import ServiceLifecycle
import Synchronization
import ZeroMQ

/// One service instance as a swift-service-lifecycle `Service`: its request loop, its consumers
/// and any other loops, each on a thread of its own, stopped gracefully on SIGTERM/SIGINT.
public struct ServiceHost: Service {
    public let config: ServiceConfig
    public let log: EventLog
    let loops: [ThreadLoop]
    /// Over CURVE: the ZAP handler, on a thread of its own, bound before any loop binds.
    let zap: ZAPHandler?
    /// Every thread's pulse: the request loop's, then the others' (the ZAP handler's last).
    let pulses: [Pulse]
    /// Seconds any thread may be silent before the process exits (``HangWatch``); 0: never.
    let exitIfHungSeconds: Double
    let logger: Logger

    /// - Parameters:
    ///   - handler: the service's own requests.
    ///   - consumers: its upstream streams.
    ///   - extraLoops: anything else with a thread of its own (timers).
    public init(config: ServiceConfig, log: EventLog, handler: RequestHandling, consumers: [Consumer] = [],
                extraLoops: [ThreadLoop] = [], options: RequestLoopOptions = .init(), logger: Logger) {
        self.config = config
        self.log = log
        self.logger = logger
        let started = Date()
        let service = config.service
        let stats = LoopStats()
        let databaseDirectory = { $0.isEmpty ? "." : $0 }((log.store.path as NSString).deletingLastPathComponent)
        let disk = Self.diskWatch(config: config, log: log, directory: databaseDirectory, logger: logger)
        zap = config.curve.map { ZAPHandler(clients: $0.clients, name: "\(log.stream)-zap", logger: logger) }
        exitIfHungSeconds = options.exitIfHungSeconds
        let others: [ThreadLoop] = consumers + extraLoops + [disk]
        let otherPulses = (others + [zap].compactMap { $0 }).map(\.pulse)
        let request = RequestLoop(config: config, log: log, handler: handler, options: options, logger: logger, stats: stats,
                                  others: otherPulses) {
            var s = Liaison_V1_ServiceStatus()
            s.writeTransactions = log.transactions
            s.requestsShed = stats.shed.load(ordering: .relaxed)
            s.gatherWaits = stats.gatherWaits.load(ordering: .relaxed)
            s.gatherWaitsRunOut = stats.gatherWaitsRunOut.load(ordering: .relaxed)
            s.requestsServed = stats.served.load(ordering: .relaxed)
            s.requestsRefused = stats.answers.refusedTotal.load(ordering: .relaxed)
            let minute = stats.answers.lastMinute()
            s.requestsLastMinute = minute.answered
            s.refusedLastMinute = minute.refused
            s.submissionsAccepted = stats.answers.submissionsAccepted.load(ordering: .relaxed)
            s.submissionsRefused = stats.answers.submissionsRefused.load(ordering: .relaxed)
            s.submissionsLastMinute = minute.submissions
            s.submissionsRefusedLastMinute = minute.submissionsRefused
            s.refusalsLastMinute = minute.refusals.map { k in .with { $0.what = k.what; $0.requests = k.requests } }
            if let refusal = stats.answers.lastRefusal {
                s.lastRefusal = refusal.what
                s.lastRefusalAt = .init(date: refusal.at)
            }
            s.service = service
            s.stream = log.stream
            s.headSeq = log.head
            s.consumers = consumers.map(\.position)
            s.startedAt = .init(date: started)
            s.pid = UInt32(ProcessInfo.processInfo.processIdentifier)
            s.databaseBytes = fileSize(log.store.path)
            s.walBytes = fileSize(log.store.path + "-wal")
            s.walRestarts = log.store.walRestarts
            let commits = log.commitTimes.lastMinute()
            s.commitsLastMinute = commits.count
            s.commitMeanUsLastMinute = commits.meanMicros
            s.commitMaxUsLastMinute = commits.maxMicros
            s.writeFailures = log.failedWrites
            if let failed = log.lastFailedWrite {
                s.lastWriteFailure = String(failed.message.prefix(500))
                s.lastWriteFailureAt = .init(date: failed.at)
            }
            if let space = DiskSpace.of(databaseDirectory) {
                s.diskFreeBytes = space.free
                s.diskTotalBytes = space.total
            }
            s.diskFreeWarningBytes = config.diskFreeWarningBytes
            if let allowList = config.curve?.clients {
                s.curve = true
                s.curveClients = UInt32(allowList.clients.byKey.count)
                s.curveClientsReadAt = .init(date: allowList.lastReadAt)
                s.curveRefused = allowList.refused
            }
            let now = DispatchTime.now().uptimeNanoseconds
            s.threads = otherPulses.compactMap { pulse in
                pulse.silence(now: now).map { silent in .with { $0.thread = pulse.what; $0.silentMs = UInt64(silent * 1000) } }
            }
            return s
        }
        self.loops = [request] + others
        self.pulses = [request.pulse] + otherPulses
    }

    /// The disk, looked at every ten seconds: the operator hears of it before it is full.
    static func diskWatch(config: ServiceConfig, log: EventLog, directory: String, logger: Logger) -> TimerLoop {
        let watch = Mutex((watch: DiskWatch(threshold: config.diskFreeWarningBytes), cadence: Cadence(every: 10)))
        return TimerLoop(name: "\(log.stream)-disk", intervalMs: 200, logger: logger) {
            let now = SuspendingClock.now
            try watch.withLock { w in
                guard w.cadence.isDue(now) else { return }
                guard let space = DiskSpace.of(directory) else {
                    throw DiskSpaceUnknown(path: directory, reason: String(cString: strerror(errno)))
                }
                w.watch.check(space, path: directory, now: now, logger: logger)
            }
            return false
        }
    }

    public func run() async throws {
        OpenFiles.raiseLimit(logger: logger)
        for warning in SecretFiles.warnings([("the CURVE key pair", config.curveKeyFilePath)]) { logger.warning("\(warning)") }
        let stop = StopFlag()
        // The process's key pair connects to CURVE services upstream and serves its own.
        let context = try Context(curve: config.curveKeys)
        let loops = self.loops
        let zap = self.zap
        if let curve = config.curve {
            logger.notice("serving over CURVE", metadata: ["public_key": "\(curve.keys.publicKey)", "clients": "\(curve.clients.clients.byKey.count)"])
        } else if let warning = PlainExposure.warning(bound: [config.bindEndpoint(config.instance.requests), config.bindEndpoint(config.instance.events)]) {
            logger.warning("\(warning)")
        }
        let logger = self.logger
        defer { context.terminate() }
        var hangWatch: HangWatch?
        if exitIfHungSeconds > 0 {
            let watch = HangWatch(limit: exitIfHungSeconds, pulses: pulses)
            watch.start(name: "\(log.stream)-hangs", logger: logger)
            logger.notice("every thread of the service is watched (\(watch.pulses.count): its requests, consumers and timers): this process exits with status \(HangWatch.exitStatus) if one is silent for \(String(format: "%g", watch.limit)) s (--exit-if-hung-seconds)")
            hangWatch = watch
        }
        defer { hangWatch?.stop() }
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    if let zap {
                        // Bound before any loop binds a CURVE socket: without a handler libzmq lets every client in.
                        group.addTask { try await Self.runLoop(zap, context: context, stop: stop) }
                        try await zap.waitUntilBound()
                    }
                    for loop in loops {
                        group.addTask { try await Self.runLoop(loop, context: context, stop: stop) }
                    }
                    var firstError: Error?
                    while let result = await group.nextResult() {
                        if case .failure(let e) = result, firstError == nil {
                            logger.error("loop failed; stopping the service", metadata: ["error": "\(e)"])
                            firstError = e
                        }
                        stop.set()   // one loop ended: end them all
                    }
                    if let e = firstError { throw e }
                }
            } onGracefulShutdown: {
                logger.info("graceful shutdown requested")
                stop.set()
            }
        } onCancel: {
            stop.set()
        }
    }

    /// Runs `loop` on a thread of its own; once it has ended, its silence is not a hang.
    private static func runLoop(_ loop: ThreadLoop, context: Context, stop: StopFlag) async throws {
        try await Threads.run(name: loop.name) {
            defer { loop.pulse.end() }
            try loop.run(context: context, stop: stop)
        }
    }

    /// Runs the host under a `ServiceGroup` that shuts down gracefully on SIGTERM and SIGINT.
    /// A hang-up (SIGHUP) runs `reload` when the service has one (intake and the handler read their
    /// files again; work in flight is untouched). Without one it stops the service, as a closed
    /// terminal means, unless `liaison up` supervises it: then `up` takes the hang-up and stops the
    /// set in order, and the service stops by itself if `up` is gone (``Supervision``).
    public func runUntilSignalled(onHangUp serviceReload: (@Sendable () -> Void)? = nil) async throws {
        // A service does not die because whatever reads its log went away (a `| logger` that
        // exited, a collector restarted): the log line is lost, the service goes on. libzmq's
        // sockets never raise SIGPIPE; only a write to a closed standard error did.
        signal(SIGPIPE, SIG_IGN)
        let supervised = Supervision.supervisor != nil
        // Over CURVE every service reads its allow-list again on a hang-up, besides its own files.
        var reload = serviceReload
        if let allowList = config.curve?.clients {
            let logger = self.logger
            reload = {
                serviceReload?()
                do { try allowList.reload(logger: logger) } catch {
                    logger.error("CURVE clients not reloaded; the previous ones stay", metadata: ["error": "\(error)"])
                }
            }
        }
        var hangUps: DispatchSourceSignal?
        if let reload {
            signal(SIGHUP, SIG_IGN)   // delivered to the source below instead
            let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
            source.setEventHandler(handler: reload)
            source.resume()
            hangUps = source
        } else if supervised {
            signal(SIGHUP, SIG_IGN)
        }
        defer { hangUps?.cancel() }
        Supervision.stopWithSupervisor(logger: logger)
        let services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: self)]
        let group = ServiceGroup(configuration: reload != nil || supervised
            ? .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            : .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint, .sighup], logger: logger))
        try await group.run()
    }
}

/// `statvfs` could not tell the free space of the database's directory.
struct DiskSpaceUnknown: Error, CustomStringConvertible {
    let path: String
    let reason: String
    var description: String { "cannot read the free space of \(path): \(reason)" }
}

/// The size of the file at `path` in bytes (0 when it does not exist).
func fileSize(_ path: String) -> UInt64 {
    var st = stat()
    return stat(path, &st) == 0 ? UInt64(st.st_size) : 0
}
