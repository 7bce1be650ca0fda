import Foundation
import Testing

/// The deployment pieces a container or a Kubernetes pod needs from the executables.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ContainerReadinessTests {
    /// `--bind-all-interfaces` binds the topology's ports on every interface (reached on another
    /// loopback address than the one the topology names), and `liaison ping` is the health check:
    /// 0 when the instance answers, 3 when nothing does.
    @Test func anInstanceBoundOnEveryInterfaceAnswersItsHealthCheck() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let ports = try distinctLoopbackPorts(2)
        let (requests, events) = (ports[0], ports[1])
        var topo = set.topology
        topo.services["intake"]![0].requests = "tcp://127.0.0.1:\(requests)"
        topo.services["intake"]![0].events = "tcp://127.0.0.1:\(events)"
        try topo.write(to: set.topologyPath)
        var elsewhere = topo
        elsewhere.services["intake"]![0].requests = "tcp://127.0.0.2:\(requests)"
        try elsewhere.write(to: set.dir + "/elsewhere.json")

        let down = try await set.cli(["ping", "intake", "--timeout", "300"])
        #expect(down.status == 3 && down.output.contains("no reply from tcp://127.0.0.1:\(requests)"), "\(down.output)")
        #expect(down.output.contains("the line to it is slow (a long answer over a thin link takes seconds), give it longer: --timeout 10000"), "\(down.output)")
        try set.start("intake", extra: ["--bind-all-interfaces", "--log-level", "info"])
        #expect(await eventually(20) { (try? await set.cli(["ping", "intake", "--timeout", "500"]))?.status == 0 }, "\(set.logs())")
        let up = try await set.cli(["ping", "intake"])
        #expect(up.status == 0 && up.output.hasPrefix("intake-1 up: pid "), "\(up.output)")
        #expect(set.logs().contains("requests=tcp://*:\(requests)"), "\(set.logs())")
        // Plain ZMTP on every interface: the operator is told at start, with what to do.
        let log = try String(contentsOfFile: set.dir + "/intake-0.log", encoding: .utf8)
        #expect(log.contains("warning") && log.contains("serving plain ZMTP on tcp://*:\(requests), tcp://*:\(events), which other machines can reach")
                && log.contains("liaison keygen"), "\(log)")
        let other = try await Self.ping(set, topology: set.dir + "/elsewhere.json")
        #expect(other.status == 0 && other.output.hasPrefix("intake-1 up"), "not reached on 127.0.0.2: \(other.output)")
        let unknown = try await set.cli(["ping", "intake", "--instance", "3"])
        #expect(unknown.status == 1 && unknown.output.contains("services.intake[3]"), "\(unknown.output)")
    }

    /// deploy/'s container image, compose file and Kubernetes manifests pass their validators (the
    /// Compose specification, the Kubernetes API schemas, strictly) and agree with the package, the
    /// topologies and each other (scripts/check-deploy.py); the checks find the mistakes they are for.
    @Test func deployFilesPassTheirValidatorsAndCatchMistakes() async throws {
        func check(_ root: String) async throws -> (status: Int32, output: String) {
            try await LiaisonSet.runProgram("/usr/bin/env", ["python3", LiaisonSet.repoRoot + "/scripts/check-deploy.py", "--root", root])
        }
        let shipped = try await check(LiaisonSet.repoRoot)
        #expect(shipped.status == 0, "\(shipped.output)")
        #expect(shipped.output.contains("ok: deploy/container/compose.yaml: valid against the Compose specification"), "\(shipped.output)")
        #expect(shipped.output.contains("ok: deploy/kubernetes: 13 objects valid against Kubernetes 1.31.0 (strict)"), "\(shipped.output)")
        #expect(shipped.output.contains("ok: deploy/systemd: 7 units verified by systemd-analyze"), "\(shipped.output)")
        #expect(shipped.output.contains("ok: deploy/kubernetes (kubectl kustomize): 20 objects rendered"), "\(shipped.output)")
        #expect(shipped.output.contains("deploy: every check passed"), "\(shipped.output)")

        // A copy with one mistake of each kind.
        let set = try LiaisonSet()
        let copy = set.dir + "/repo"
        let fm = FileManager.default
        try fm.createDirectory(atPath: copy, withIntermediateDirectories: true)
        try fm.copyItem(atPath: LiaisonSet.repoRoot + "/deploy", toPath: copy + "/deploy")
        try fm.copyItem(atPath: LiaisonSet.repoRoot + "/Package.swift", toPath: copy + "/Package.swift")
        for dir in ["Shared", "Services", "Benchmarks", "Tests"] { try fm.createDirectory(atPath: copy + "/" + dir, withIntermediateDirectories: true) }
        func edit(_ file: String, _ change: (String) -> String) throws {
            let path = copy + "/deploy/" + file
            try change(try String(contentsOfFile: path, encoding: .utf8)).write(toFile: path, atomically: true, encoding: .utf8)
        }
        try edit("kubernetes/handler.yaml") { $0.replacingOccurrences(of: "          image: liaison:latest", with: "          image: liaison:latest\n          imagePullPolicyy: Always") }
        try edit("container/compose.yaml") {
            $0.replacingOccurrences(of: "    command: [liaison-scheduler, --bind-all-interfaces, ", with: "    command: [liaison-scheduler, ")
                .replacingOccurrences(of: "\"reporting\", \"--timeout\", \"1000\", \"--curve-key-file\", \"/run/secrets/reporting-1.key\"]", with: "\"reporting\", \"--timeout\", \"1000\"]")
        }
        try edit("kubernetes/scheduler.yaml") { $0.replacingOccurrences(of: "secretName: liaison-scheduler-curve", with: "secretName: liaison-intake-curve") }
        try edit("systemd/liaison-scheduler@.service") { $0.replacingOccurrences(of: "TimeoutStopSec=15", with: "TimeoutStopSecc=15") }
        try edit("kubernetes/kustomization.yaml") { $0.replacingOccurrences(of: "      - curve/reporting-1.key\n", with: "      - curve/reporting-2.key\n") }
        try edit("kubernetes/intake.yaml") {
            $0 + "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: liaison-intake-all\n  namespace: liaison\nspec:\n  type: LoadBalancer\n  selector:\n"
                + "    app.kubernetes.io/name: liaison\n    app.kubernetes.io/component: intake\n  ports:\n    - name: requests\n      port: 7101\n"
        }
        try edit("container/topology.json") { $0.replacingOccurrences(of: "tcp://reporting:7401", with: "tcp://127.0.0.1:7401") }
        let broken = try await check(copy)
        #expect(broken.status == 1, "\(broken.output)")
        for problem in [
            "problem: deploy/kubernetes/handler.yaml StatefulSet/liaison-handler: spec.template.spec.containers.0: Additional properties are not allowed ('imagePullPolicyy' was unexpected)",
            "problem: deploy/container/compose.yaml: services.scheduler.command lacks --bind-all-interfaces",
            "problem: deploy/kubernetes Service/liaison-intake-all: balances over every intake pod",
            "problem: deploy/container/topology.json: services.reporting[0].requests names host 127.0.0.1; the others resolve this instance as reporting",
            "problem: deploy/container/compose.yaml: services.reporting.healthcheck must connect with the instance's key",
            "problem: deploy/kubernetes/scheduler.yaml: args must give --curve-key-dir, the mount of Secret liaison-scheduler-curve",
            "problem: deploy/kubernetes (kubectl kustomize): ",
            "curve/reporting-2.key",
            "problem: deploy/systemd: systemd-analyze verify: /etc/systemd/system/liaison-scheduler@.service:",
            "Unknown key 'TimeoutStopSecc' in section [Service]",
            "problem: deploy/kubernetes/kustomization.yaml: secretGenerator liaison-reporting-curve holds ['curve/reporting-2.key']; the topology's instances of reporting need ['curve/reporting-1.key']",
        ] {
            #expect(broken.output.contains(problem), "\(problem)\n\(broken.output)")
        }
        #expect(broken.output.contains("deploy: 9 problem(s)"), "\(broken.output)")
    }

    static func ping(_ set: LiaisonSet, topology: String) async throws -> (ended: Bool, status: Int32, output: String) {
        try await set.runWithin(20, "liaison", ["ping", "intake", "--topology", topology])
    }
}
