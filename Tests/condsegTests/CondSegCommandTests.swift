// CondSegCommandTests.swift — the root command's contract: the exit-status table in --help, usage errors (exit 2,
// lowercase "error:", with the usage of the right subcommand), help text without doubled defaults, negative
// numbers read as values (and refused by their own rule), and commands whose stdout or stderr is a closed pipe:
// they write every file, and end with their own status, or 5 when the result they print was lost.

import CondSegTestSupport
import Foundation
import XCTest

final class CondSegCommandTests: XCTestCase {
    func testAnUnknownKernelChoiceIsWarnedAboutOnce() throws {
        let bogus = try runCondseg(["--version"], environment: ["CONDSEG_KERNELS": "bogus"])
        XCTAssertEqual(bogus.status, 0, bogus.stderr)
        XCTAssertEqual(bogus.errorLines, ["warning: CONDSEG_KERNELS=\"bogus\" is not recognised (the accepted value is generic); using the kernels this CPU selects"])
        let generic = try runCondseg(["--version"], environment: ["CONDSEG_KERNELS": "generic"])
        XCTAssertEqual(generic.status, 0, generic.stderr)
        XCTAssertEqual(generic.errorLines, [])
        XCTAssertTrue(generic.stdout.contains("generic"), generic.stdout)
    }

    func testAnUnknownInt8WinogradSettingIsWarnedAbout() throws {
        for value in ["00", "off", " 1"] {
            let result = try runCondseg(["--version"], environment: ["CONDSEG_INT8_WINOGRAD": value])
            XCTAssertEqual(result.status, 0, result.stderr)
            XCTAssertEqual(result.errorLines, ["warning: CONDSEG_INT8_WINOGRAD=\"\(value)\" is not recognised (the accepted values are 0, 1 and 2); using the default, 1"])
        }
        for value in ["0", "1", "2", ""] {   // empty is unset, as for CONDSEG_KERNELS
            let result = try runCondseg(["--version"], environment: ["CONDSEG_INT8_WINOGRAD": value])
            XCTAssertEqual(result.errorLines, [], value)
        }
        let help = try runCondseg(["--help"]).stdout
        XCTAssertTrue(help.contains("CONDSEG_INT8_WINOGRAD=0") && help.contains("CONDSEG_INT8_WINOGRAD=2"), help)
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

    func testAClosedStdoutOrStderrPipeLosesNoFile() throws {
        let folder = try temporaryFolder(self)
        let masks = { (dir: String) in
            ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".png") }.count
        }
        // stderr (progress) closed: every mask is written and the run succeeds.
        let quiet = try runCondsegIntoClosedPipe(["segment", "--size", "64", "--out", folder + "/a", "samples/images"],
                                                 closeStdout: false, closeStderr: true)
        XCTAssertEqual(quiet.status, 0, quiet.stdout)
        XCTAssertEqual(masks(folder + "/a"), 6)
        XCTAssertTrue(quiet.stdout.contains("segmented 6 of 6 images"), quiet.stdout)
        // stdout (the result) closed: every mask is still written; the lost result is an output failure (5).
        let lost = try runCondsegIntoClosedPipe(["segment", "--size", "64", "--out", folder + "/b", "samples/images"],
                                                closeStdout: true, closeStderr: false)
        XCTAssertEqual(lost.status, 5, lost.stderr)
        XCTAssertEqual(masks(folder + "/b"), 6)
        XCTAssertEqual(lost.errorLines.filter { $0.hasPrefix("error:") }, ["error: stdout: the result could not be written (Broken pipe)"])
        // Both closed (`2>&1 | head -1`): the table is written, and the status says the result was lost.
        let table = folder + "/t.txt"
        let both = try runCondsegIntoClosedPipe(["calibrate", "--data", "samples", "--count", "2", "--size", "64", "--out", table],
                                                closeStdout: true, closeStderr: true)
        XCTAssertEqual(both.status, 5)
        let text = try String(contentsOfFile: table, encoding: .utf8)
        XCTAssertTrue(text.hasPrefix("# condseg calibration table\n") && text.contains("\n# input_size: 64\n"), text)
        let calibrated = try runCondsegIntoClosedPipe(["calibrate", "--data", "samples", "--count", "2", "--size", "64", "--out", folder + "/u.txt"],
                                                      closeStdout: false, closeStderr: true)
        XCTAssertEqual(calibrated.status, 0, calibrated.stdout)
        XCTAssertTrue(calibrated.stdout.hasPrefix("wrote \(folder)/u.txt: "), calibrated.stdout)
        // The trainer's progress lines into a closed pipe (they used to trap): the trace is written whole.
        let trace = folder + "/trace"
        let trained = try runCondsegIntoClosedPipe(["train", "--data", "samples", "--encoder", "resnet18", "--width", "16", "--mid", "16",
                                                    "--size", "32", "--batch", "2", "--trace", trace, "--trace-steps", "1"],
                                                   closeStdout: false, closeStderr: true)
        XCTAssertEqual(trained.status, 0, trained.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: trace + "/end.safetensors"), trained.stdout)
        // Only the result's loss changes the status: a failure keeps its own (4 for a missing image).
        let missing = try runCondsegIntoClosedPipe(["segment", "--size", "64", "--out", folder + "/c", "samples/images", "nosuch.png"],
                                                   closeStdout: true, closeStderr: false)
        XCTAssertEqual(missing.status, 4, missing.stderr)
        // --help into a closed pipe is the same: the text was the result.
        let help = try runCondsegIntoClosedPipe(["--help"], closeStdout: true, closeStderr: false)
        XCTAssertEqual(help.status, 5, help.stderr)
    }

    func testANegativeNumberIsTheOptionsValueAndGetsItsRangeMessage() throws {
        // ArgumentParser takes "-1" for an option unless the option reads its value unconditionally: each of these
        // said "missing value" instead of its rule.
        let cases: [([String], String)] = [
            (["live", "--source", "samples/images", "--fake-segmenter", "--duration", "-1"], "error: --duration must be a positive, finite number of seconds (got -1.0)"),
            (["live", "--source", "samples/images", "--fake-segmenter", "--stats-interval", "-1"], "error: --stats-interval must be a finite number of seconds, at least 0.1 (got -1.0)"),
            (["live", "--source", "samples/images", "--fake-segmenter", "--threshold", "-3"], "error: --threshold must be a probability in [0, 1) (got -3.0)"),
            (["live", "--source", "samples/images", "--fake-segmenter", "--give-up-after", "-2"], "error: --give-up-after must be a number of seconds, 0 or more (got -2.0)"),
            (["live", "--source", "samples/images", "--fake-segmenter", "--timeout-ms", "-5"], "error: --timeout-ms must be at least 10 (got -5)"),
            (["live", "--source", "samples/images", "--fake-segmenter", "--contour-thickness", "-1"], "error: --contour-thickness must be 0-64 pixels (got -1)"),
            (["live", "--source", "samples/images", "--fake-segmenter", "--every", "-1"], "error: --every must be at least 1"),
            (["live", "--device", "/dev/video0", "--fake-segmenter", "--capture-size", "-1x5"], "error: --capture-size -1x5: width and height must be at least 1 pixel"),
            (["capture", "--device", "/dev/video0", "--capture-size", "-1x5"], "error: --capture-size -1x5: width and height must be at least 1 pixel"),
            (["capture", "--device", "/dev/video0", "--frames", "-1"], "error: --frames must be 0 or more (got -1)"),
            (["capture", "--device", "/dev/video0", "--out", "x", "--timeout-ms", "-1"], "error: --timeout-ms must be at least 10 (got -1)"),
            (["eval-live", "--data", "samples", "--camera-fps", "-30"], "error: --camera-fps must be in (0, 1000]"),
            (["eval-live", "--data", "samples", "--frame-size", "-640x480"], "error: --frame-size -640x480: width and height must be at least 1 pixel"),
            (["compare", "--calibration", "x", "--data", "samples", "--min-agreement", "-0.5"], "error: --min-agreement must be within 0...1"),
            (["compare", "--calibration", "x", "--data", "samples", "--count", "-2"], "error: --count must be at least 1"),
            (["bench", "--iterations", "-3"], "error: --iterations must be at least 1"),
            (["calibrate", "--data", "samples", "--out", "t.txt", "--max-dice-drop", "-0.1"], "error: --max-dice-drop must be between 0 and 1"),
            (["import", "x.pth", "--out", "y.safetensors", "--input-size", "-256"], "error: --input-size must be a multiple of 16"),
            (["init", "--out", "m.safetensors", "--width", "-64"], "error: --width must be a positive multiple of 16"),
            (["train", "--data", "samples", "--out", "m.safetensors", "--epochs", "-1"], "error: --epochs must be at least 1 (got -1)"),
            (["train", "--data", "samples", "--out", "m.safetensors", "--lr", "-0.001"], "error: --lr must be a positive number (got -0.001)"),
            (["train", "--data", "samples", "--out", "m.safetensors", "--batch", "-8"], "error: --batch must be at least 1 (got -8)"),
            (["train", "--data", "samples", "--out", "m.safetensors", "--width", "-64"], "error: --width must be a positive number (got -64)"),
        ]
        for (arguments, message) in cases {
            let result = try runCondseg(arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.hasPrefix(message), "\(arguments): \(result.stderr)")
            XCTAssertFalse(result.stderr.lowercased().contains("missing value"), "\(arguments): \(result.stderr)")
        }
    }

    func testAnEmptyPathArgumentIsAUsageErrorNamingIt() throws {
        // An unset shell variable as a positional path used to be "error: : no such file" with status 4.
        let folder = try temporaryFolder(self)
        let cases: [([String], String)] = [
            (["import", "", "--out", folder + "/m.safetensors"], "'<checkpoint>'"),
            (["segment", "--out", folder + "/x", ""], "'<inputs>'"),
            (["segment", "--out", folder + "/x", "samples/images", ""], "'<inputs>'"),
            (["train", "--data", "samples", "--init", "", "--out", folder + "/m.safetensors"], "'--init <init>'"),
        ]
        for (arguments, name) in cases {
            let result = try runCondseg(arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.hasPrefix("error: The value '' is invalid for \(name): the path is empty: give a file or folder\n"),
                          "\(arguments): \(result.stderr)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), [], "nothing written")
    }
}
