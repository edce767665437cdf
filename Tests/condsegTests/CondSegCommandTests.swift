// CondSegCommandTests.swift — the root command's contract: the exit-status table in --help, usage errors (exit 2,
// lowercase "error:", with the usage of the right subcommand), and help text without doubled defaults.

import CondSegTestSupport
import Foundation
import XCTest

final class CondSegCommandTests: XCTestCase {
    func testAnUnknownKernelChoiceIsWarnedAboutOnce() throws {
        let bogus = try runCondseg(["--version"], environment: ["CONDSEG_KERNELS": "bogus"])
        XCTAssertEqual(bogus.status, 0, bogus.stderr)
        XCTAssertEqual(bogus.errorLines, ["warning: CONDSEG_KERNELS=bogus is not recognised (the accepted value is generic); using the kernels this CPU selects"])
        let generic = try runCondseg(["--version"], environment: ["CONDSEG_KERNELS": "generic"])
        XCTAssertEqual(generic.status, 0, generic.stderr)
        XCTAssertEqual(generic.errorLines, [])
        XCTAssertTrue(generic.stdout.contains("generic"), generic.stdout)
    }

    func testHelpListsEveryExitStatus() throws {
        let result = try runCondseg(["--help"])
        XCTAssertEqual(result.status, 0)
        for (code, words) in [(0, "success"), (1, "a gate or threshold failed"), (2, "usage error"),
                              (3, "the video device was given up on"), (4, "an input file is missing"),
                              (5, "an output cannot be written")] {
            XCTAssertNotNil(result.stdout.range(of: "\n +\(code) +\(words)", options: .regularExpression),
                            "status \(code) missing from --help:\n\(result.stdout)")
        }
    }

    func testUnknownOptionIsAUsageErrorWithTheSubcommandsUsage() throws {
        let result = try runCondseg(["segment", "--no-such-option", "--out", "x", "y.png"])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.hasPrefix("error: "), result.stderr)
        XCTAssertTrue(result.stderr.contains("Usage: condseg segment"), result.stderr)
    }

    func testNegativeThreadsIsReportedAsARangeNotAMissingValue() throws {
        for command in [["segment", "--out", "x", "y.png"], ["train", "--data", "d", "--out", "o.safetensors"]] {
            let result = try runCondseg(command + ["--threads", "-1"])
            XCTAssertEqual(result.status, 2, result.stderr)
            XCTAssertTrue(result.stderr.hasPrefix("error: --threads must be between 1 and 256"), result.stderr)
            XCTAssertFalse(result.stderr.contains("Missing value"), result.stderr)
        }
    }

    func testValueProblemFoundWhileRunningShowsTheRightUsage() throws {
        let result = try runCondseg(["bench", "--iterations", "0"])
        XCTAssertEqual(result.status, 2)
        XCTAssertEqual(result.errorLines.first, "error: --iterations must be at least 1")
        XCTAssertTrue(result.stderr.contains("Usage: condseg bench"), result.stderr)
    }

    func testNoHelpLineStatesItsDefaultTwice() throws {
        let commands = ["segment", "live", "capture", "eval", "eval-live", "bench", "inspect", "calibrate", "quantize", "compare", "train", "init", "import", "export"]
        for command in commands {
            let help = try runCondseg([command, "--help"]).stdout
            // One entry per option: a line starting with "-" (after indentation) and its continuation lines.
            var entries: [String] = []
            for line in help.split(separator: "\n", omittingEmptySubsequences: false) {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.hasPrefix("-") || trimmed.hasPrefix("<") { entries.append(trimmed) }
                else if !entries.isEmpty, line.hasPrefix("      ") { entries[entries.count - 1] += " " + trimmed }
                else if trimmed.isEmpty { entries.append("") }
            }
            for entry in entries {
                let count = entry.lowercased().components(separatedBy: "default").count - 1
                XCTAssertLessThanOrEqual(count, 1, "condseg \(command): \(entry)")
            }
        }
    }
}
