import APOEngine
import ArgumentParser
import Foundation

/// `apoctl`: submit pipelines to the database `apod` serves, and inspect or steer their runs.
struct Apoctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apoctl",
        abstract: "Submit APO pipelines and inspect, steer and benchmark their runs.",
        discussion: """
        The database is --db PATH, else $APO_DB, else `db:` in $XDG_CONFIG_HOME/apo/config.yaml
        (~/.config/apo/config.yaml), else ./apo.db; start `apod` on the same file to run the jobs.
        With --server URL (or `server:` in the config, `token_file:` for --token-file and `ca_file:`
        for --ca-file, an https server's CA when the system does not trust it), the run
        commands (submit, runs, history, show, watch, logs, cancel, retry, resume, artifacts,
        hosts) drive a remote `apod --http` through its API and print what they print locally;
        commands that read the database or run the engine here have no remote mode and say so.
        Options every command takes (--db, --server, --token-file, --ca-file, --json) may also come before the command:
        `apoctl --db X submit FILE`. Shell completions: `apoctl --generate-completion-script bash`
        (or zsh, fish). A job is named by its id (`17`) or by RUN/KEY (`3/r1.train_rm`).

        EXIT CODES
          0  success; for `watch`, the run succeeded; for `logs -f`, the run ended (any outcome)
          1  the run failed (`watch`), or the command could not do its work
          2  usage error (unknown option, bad argument)
          3  the pipeline file is invalid (every error is printed as FILE:LINE:COLUMN: error: …)
          4  no such run or job
          5  the run was cancelled (`watch`)
          6  the database cannot be used: missing (only `submit` creates one), read-only, locked
             by another process, not an apo database, on a network file system, or written by
             a newer apo; with --server: apod cannot be reached or refused the token (401/403)
        """,
        subcommands: Apoctl.commands
    )

    /// Every top-level command; engine commands join `Model` (see ModelCommands).
    static let commands: [ParsableCommand.Type] = [
        Submit.self, Runs.self, Show.self, Watch.self, Logs.self, Cancel.self, Retry.self,
        Resume.self, Artifacts.self, History.self, Hosts.self, Bench.self, Model.self, Report.self,
        SampleCommand.self, RMCommand.self, Cache.self, AdoptFolder.self,
    ]
}

// Before anything loads work onto OpenMP's threads (see OpenMPWaitPolicy).
OpenMPWaitPolicy.ensurePassive()

do {
    GlobalOptions.configured = try ApoctlConfig.load(path: ApoctlConfig.path())
    var command = try Apoctl.parseAsRoot(GlobalOptionOrder.reordered(Array(CommandLine.arguments.dropFirst())))
    try command.run()
} catch let failure as CommandFailure {
    FileHandle.standardError.write(Data((failure.message + "\n").utf8))
    exit(failure.code.rawValue)
} catch {
    // ArgumentParser reports usage errors as 64 (EX_USAGE); apoctl documents 2.
    if Apoctl.exitCode(for: error) == .validationFailure {
        FileHandle.standardError.write(Data((Apoctl.fullMessage(for: error) + "\n").utf8))
        exit(ApoctlExit.usage.rawValue)
    }
    Apoctl.exit(withError: error)
}
