// CondSegCommand.swift — the `condseg` command: one subcommand per job. Each subcommand file parses its
// options and calls the library; no logic lives here that a library test cannot reach. `main` applies the
// error and exit-status contract (CondSegIO's ExitStatus): one "error: FILE: what is wrong" line per problem on
// stderr, and the usage only when the command line itself is wrong.

import ArgumentParser
import CKernels
import COpenBLAS
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
        Set CONDSEG_MODEL to change the default; CONDSEG_KERNELS=generic runs the portable C kernels instead of \
        the vector kernels this CPU selects (a cross-check); CONDSEG_INT8_WINOGRAD=0 runs the int8 3×3 \
        convolutions without the exact int8 Winograd that AVX2 CPUs without VNNI use, CONDSEG_INT8_WINOGRAD=2 \
        with its small 2×2 tiles only, 1 (or unset) as chosen (same results every way; to compare speed).

        Exit status (every problem is one "error: FILE: what is wrong" line on stderr):
        \(ExitStatus.table)
        """,
        version: condsegVersionText,
        subcommands: [Segment.self, Live.self, Capture.self, Eval.self, EvalLive.self, Bench.self, Inspect.self, Calibrate.self, Quantize.self, Compare.self, Train.self, Init.self, Import.self, Export.self]
    )

    /// Parses the command line and runs the subcommand, ending the process with the contract's status.
    static func main() {
        // No command may be killed half-way through writing its files because whatever reads its stdout or stderr
        // went away (`condseg segment … | head -1`): with SIGPIPE ignored a write to a closed pipe fails instead.
        // Diagnostics and progress then give up quietly (writeStandardError), the files are all written, and a
        // result on stdout that could not be written changes the status (`finish`).
        signal(SIGPIPE, SIG_IGN)
        // CONDSEG_KERNELS=generic runs the portable C kernels (int8 and float) instead of the vector ones this CPU
        // selects: the outputs are the same bits for int8 and within the float bounds otherwise (a check, not a mode).
        // Any other value is a mistake the user should hear about once, not a silent fall-back.
        if let kernels = ProcessInfo.processInfo.environment["CONDSEG_KERNELS"], !kernels.isEmpty {
            if kernels == "generic" {
                _ = ck_force_isa(CK_ISA_GENERIC)
                _ = ckf_force_isa(CKF_ISA_GENERIC)
            } else {
                printError("warning: CONDSEG_KERNELS=\"\(kernels)\" is not recognised (the accepted value is generic); using the kernels this CPU selects")
            }
        }
        // CONDSEG_INT8_WINOGRAD=0 turns the int8 Winograd off, 2 keeps it to F(2×2) tiles (FastInt8Executor reads
        // it); 1, empty or unset leaves it as chosen (on where it pays, with the tiles that pay).
        if let winograd = ProcessInfo.processInfo.environment["CONDSEG_INT8_WINOGRAD"], !winograd.isEmpty,
           !["0", "1", "2"].contains(winograd) {
            printError("warning: CONDSEG_INT8_WINOGRAD=\"\(winograd)\" is not recognised (the accepted values are 0, 1 and 2); using the default, 1")
        }
        var command: ParsableCommand
        do {
            command = try parseAsRoot(nil)
        } catch {
            if exitCode(for: error) == .success {
                print(fullMessage(for: error))   // --help, --version
                finish(0)
            }
            printError(lowercasedErrorPrefix(fullMessage(for: error)))
            finish(ExitStatus.usage.rawValue)
        }
        do {
            try command.run()
        } catch let code as ExitCode {
            finish(code.rawValue)
        } catch let error as ValidationError {
            // A problem with the options found while running: the message, then this subcommand's usage.
            let type = Swift.type(of: command)
            printError("error: \(error.message)")
            printError("Usage: " + usageString(for: type).trimmingCharacters(in: .whitespaces))
            printError("  See 'condseg \(type._commandName) --help' for more information.")
            finish(ExitStatus.usage.rawValue)
        } catch where !(error is StatusError) && exitCode(for: error) == .success {
            print(fullMessage(for: error))   // `condseg help`, `--help` after a subcommand
            finish(0)
        } catch where !(error is StatusError) && exitCode(for: error) == .validationFailure {
            printError(lowercasedErrorPrefix(fullMessage(for: error)))
            finish(ExitStatus.usage.rawValue)
        } catch {
            let (status, lines) = ErrorReport.report(error)
            for line in lines { printError(line) }
            finish(status.rawValue)
        }
        finish(ExitStatus.success.rawValue)
    }

    /// Ends the process with `status` once stdout is flushed. When the result printed on stdout (its text, --json,
    /// --help) could not be written whole, e.g. into a closed pipe or a full disk, a run that would have ended with 0
    /// ends with 5 (an output cannot be written), as `live` does when its --output - pipe closes, and says so on
    /// stderr; any other status is kept (the problem it reports came first). The files the command wrote are whole
    /// either way.
    static func finish(_ status: Int32) -> Never {
        if let reason = standardOutputFailure(), status == ExitStatus.success.rawValue {
            printError("error: stdout: the result could not be written (\(reason))")
            Foundation.exit(ExitStatus.output.rawValue)
        }
        Foundation.exit(status)
    }

    /// ArgumentParser's message with its "Error: " prefix in the contract's lowercase form.
    static func lowercasedErrorPrefix(_ text: String) -> String {
        text.hasPrefix("Error: ") ? "error: " + text.dropFirst("Error: ".count) : text
    }
}

/// Version of the tool, written into calibration tables, logs and reports.
let condsegVersion = "0.1.0"

/// What `condseg --version` prints: the version, the git commit of the build (`condsegBuildCommit`, generated by
/// Plugins/BuildCommitPlugin) and the kernels this CPU selects: the int8 GEMM kernel, the float kernel set and
/// the core OpenBLAS chose for the float GEMMs.
var condsegVersionText: String {
    let blasCore = openblas_get_corename().map { String(cString: $0) } ?? "unknown"
    return """
        condseg \(condsegVersion)
        commit \(condsegBuildCommit)
        int8 kernels: \(String(cString: ck_isa_name(ck_active_isa())))
        float kernels: \(String(cString: ckf_isa_name(ckf_active_isa()))) (sgemm: OpenBLAS \(blasCore))
        """
}

/// The kernels this CPU selects, as `--version` names them: the int8 GEMM kernel, the float kernel set and the
/// core OpenBLAS chose for the float GEMMs (JSON of `bench`, and `live`'s /stats).
var activeKernels: [String: String] {
    ["int8": String(cString: ck_isa_name(ck_active_isa())),
     "float": String(cString: ckf_isa_name(ckf_active_isa())),
     "sgemm": "OpenBLAS " + (openblas_get_corename().map { String(cString: $0) } ?? "unknown")]
}
