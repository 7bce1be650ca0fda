import ArgumentParser

/// `liaison`: the command line for intake clients and operators.
@main
struct Liaison: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "liaison",
        abstract: "Liaison: the software of a police public-relations office.",
        discussion: """
            Start everything on this machine:
              liaison up --data-dir ./data
            Take a complaint at a hotline desk (or fill it in as a form: liaison submit --ask):
              liaison submit --kind complaint --unit STN-EAST-01 --text "..."
            Let a citizen check a case:
              liaison status L1-0000001 ABCD-EFGH-...
            See the work:
              liaison cases --overdue ; liaison report
            Work a case:
              liaison case show L1-0000001
              liaison case assign L1-0000001 --officer PC-1
            Call citizens back once their cases are resolved:
              liaison followups --due
            Watch a stream:
              liaison events tail --stream handler-1 --from 0
            Check every consumer is keeping up, or that one service answers (health checks):
              liaison streams
              liaison ping intake
            Read a citizen's contact data (operators; every disclosure is recorded), and list who read what:
              liaison contact L1-0000001 --reason "follow-up call"
              liaison disclosures --case L1-0000001
            Back up every database while the set runs, and restore a stopped set:
              liaison backup --data-dir ./data --to /srv/backup/liaison-2026-12-05
              liaison restore --from /srv/backup/liaison-2026-12-05 --data-dir ./data

            Every command reads the same topology as the services (--topology, else \
            $LIAISON_TOPOLOGY, else the local defaults on ports 7101-7402).
            """,
        subcommands: [Up.self, Submit.self, Status.self, Cases.self, CaseGroup.self, Followups.self, OpenWeekGroup.self, ProgrammeGroup.self, Report.self, Events.self, Streams.self, Ping.self, Keygen.self, Contact.self, Disclosures.self, Backup.self, Restore.self])
}
