// CondSegCommand.swift — the `condseg` command: one subcommand per job. Each subcommand file parses its
// options and calls the library; no logic lives here that a library test cannot reach. `main` applies the
// error and exit-status contract (CondSegIO's ExitStatus): one "error: FILE: what is wrong" line per problem on
// stderr, and the usage only when the command line itself is wrong.

import ArgumentParser
import CondSegIO
import Foundation

@main
struct CondSeg: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "condseg",
        abstract: "Segment polyps (and other structures) in endoscopy images with ConDSeg, on the CPU.",
        discussion: """
        Without --model every command uses the bundled default model \
        (models/condseg-r18w64-kvasir.safetensors, ResNet-18 encoder, trained on Kvasir-SEG). \
        Set CONDSEG_MODEL to change the default.

        Exit status (every problem is one "error: FILE: what is wrong" line on stderr):
        \(ExitStatus.table)
        """,
        version: condsegVersion,
        subcommands: [Segment.self, Live.self, Capture.self, Eval.self, Bench.self, Inspect.self, Calibrate.self, Quantize.self, Compare.self, Train.self, Init.self]
    )

    /// Parses the command line and runs the subcommand, ending the process with the contract's status.
    static func main() {
        var command: ParsableCommand
        do {
            command = try parseAsRoot(nil)
        } catch {
            if exitCode(for: error) == .success {
                print(fullMessage(for: error))   // --help, --version
                Foundation.exit(0)
            }
            printError(lowercasedErrorPrefix(fullMessage(for: error)))
            Foundation.exit(ExitStatus.usage.rawValue)
        }
        do {
            try command.run()
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch let error as ValidationError {
            // A problem with the options found while running: the message, then this subcommand's usage.
            let type = Swift.type(of: command)
            printError("error: \(error.message)")
            printError("Usage: " + usageString(for: type).trimmingCharacters(in: .whitespaces))
            printError("  See 'condseg \(type._commandName) --help' for more information.")
            Foundation.exit(ExitStatus.usage.rawValue)
        } catch where !(error is StatusError) && exitCode(for: error) == .success {
            print(fullMessage(for: error))   // `condseg help`, `--help` after a subcommand
            Foundation.exit(0)
        } catch where !(error is StatusError) && exitCode(for: error) == .validationFailure {
            printError(lowercasedErrorPrefix(fullMessage(for: error)))
            Foundation.exit(ExitStatus.usage.rawValue)
        } catch {
            let (status, lines) = ErrorReport.report(error)
            for line in lines { printError(line) }
            Foundation.exit(status.rawValue)
        }
        Foundation.exit(ExitStatus.success.rawValue)
    }

    /// ArgumentParser's message with its "Error: " prefix in the contract's lowercase form.
    static func lowercasedErrorPrefix(_ text: String) -> String {
        text.hasPrefix("Error: ") ? "error: " + text.dropFirst("Error: ".count) : text
    }
}

/// Version of the tool, written into calibration tables, logs and reports.
let condsegVersion = "0.1.0"
