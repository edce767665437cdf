// LiveCommandTests.swift — `condseg live`: a device that never appears ends the run with exit status 3 as its
// help promises, --frames N reports N frames, the help's replay example runs, a simulated camera's --json
// carries the faults it injected beside the pipeline's counts of them, and a simulated size it cannot deliver is
// refused. An output failure is one error line; the final --stats line is a log line like the periodic ones; small
// option problems (a zero timeout, an empty device, a signed capture size) say what is wrong.

import CondSegTestSupport
import Foundation
import XCTest

final class LiveCommandTests: XCTestCase {
    func testAClosedStderrPipeDoesNotCrashTheRun() throws {
        // live ignores SIGPIPE; a log line written to a closed pipe used to end in a Foundation trap (exit 132).
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.currentDirectoryURL = repositoryRoot
        let binary = try condsegBinary()
        // With the fake segmenter, and with the default model (its first log line is written before the run).
        process.arguments = ["-c", "'\(binary)' live --source samples/images --no-pace --fake-segmenter --frames 3 2>&1 >/dev/null | true; echo \"status ${PIPESTATUS[0]}\"; "
                             + "'\(binary)' live --source samples/images --no-pace --size 64 --frames 3 2>&1 >/dev/null | true; echo \"status ${PIPESTATUS[0]}\""]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(text, "status 0\nstatus 0\n", "the runs must end normally with their log pipe closed")

        // Raw video into a closed pipe: the run ends with the output status (5), not the bad-input one (4).
        let raw = Process()
        raw.executableURL = URL(fileURLWithPath: "/bin/bash")
        raw.currentDirectoryURL = repositoryRoot
        raw.arguments = ["-c", "'\(binary)' live --source samples/images --no-pace --fake-segmenter --frames 3 --output - 2>/dev/null | true; echo \"status ${PIPESTATUS[0]}\""]
        let rawOut = Pipe()
        raw.standardOutput = rawOut
        try raw.run()
        raw.waitUntilExit()
        XCTAssertEqual(String(decoding: rawOut.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self), "status 5\n")
    }

    func testRunTimeOptionsMustBeSensibleNumbers() throws {
        for (option, value, message) in [("--stats-interval", "0", "--stats-interval must be a finite number of seconds, at least 0.1"),
                                         ("--stats-interval", "nan", "--stats-interval must be a finite number of seconds, at least 0.1"),
                                         ("--duration", "-1", "--duration must be a positive, finite number of seconds"),
                                         ("--give-up-after", "inf", "--give-up-after must be a number of seconds, 0 or more"),
                                         ("--max-mask-age-ms", "0", "--max-mask-age-ms must be a positive number of milliseconds"),
                                         ("--threshold", "nan", "--threshold must be a probability in [0, 1)"),
                                         ("--threshold", "1", "--threshold must be a probability in [0, 1)")] {
            let result = try runCondseg(["live", "--source", "samples/images", "--fake-segmenter", "--frames", "1", "\(option)=\(value)"])
            XCTAssertEqual(result.status, 2, "\(option) \(value): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(message), "\(option) \(value): \(result.stderr)")
        }
        let cache = try runCondseg(["compare", "--calibration", "condseg-r18w64-kvasir", "--data", "samples", "--float-cache", ""])
        XCTAssertEqual(cache.status, 2, cache.stderr)
        XCTAssertTrue(cache.stderr.contains("the path is empty"), cache.stderr)
    }

    func testGivingUpOnTheDeviceExits3() throws {
        let device = "/dev/video-condseg-test-missing"
        let result = try runCondseg(["live", "--device", device, "--wait", "--give-up-after", "1", "--fake-segmenter"])
        XCTAssertEqual(result.status, 3, result.stderr)
        let errors = result.errorLines.filter { $0.hasPrefix("error:") }
        XCTAssertEqual(errors.count, 1, result.stderr)
        XCTAssertTrue(errors.first?.hasPrefix("error: \(device): cannot open device: ") ?? false, result.stderr)
        XCTAssertFalse(result.stderr.contains("Usage:"), result.stderr)
    }

    func testFramesLimitIsWhatTheJSONReports() throws {
        let result = try runCondseg(["live", "--source", "samples/images", "--no-pace", "--frames", "1", "--json", "--fake-segmenter"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["segmented"] as? Int, 1, result.stdout)
        // An unpaced replay reads exactly the frames it segments: none captured only to be dropped at the limit.
        let three = try runCondseg(["live", "--source", "samples/images", "--no-pace", "--frames", "3", "--json", "--fake-segmenter"])
        XCTAssertEqual(three.status, 0, three.stderr)
        let counts = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(three.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(["captured", "segmented", "dropped", "discarded"].map { counts[$0] as? Int }, [3, 3, 0, 0], three.stdout)
    }

    func testASimulatedCameraReportsWhatItInjectedBesideWhatWasCounted() throws {
        let result = try runCondseg(["live", "--device", "simulated:64x48", "--simulate-faults", "5", "--simulate-seed", "9",
                                     "--fake-segmenter", "--frames", "200", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let device = try XCTUnwrap(object["simulated_device"] as? [String: Any], result.stdout)
        let injected = try XCTUnwrap(device["injected"] as? [String: Int], result.stdout)
        func counted(_ key: String) -> Int { object[key] as? Int ?? -1 }
        XCTAssertEqual(counted("segmented"), 200)
        XCTAssertGreaterThan(injected["unplugs"] ?? 0, 0, result.stdout)
        XCTAssertEqual(counted("timeouts"), injected["timeouts"])
        XCTAssertEqual(counted("corrupt"), (injected["partial_frames"] ?? 0) + (injected["flagged_frames"] ?? 0))
        XCTAssertEqual(counted("device_faults"),
                       (injected["poll_errors"] ?? 0) + (injected["dequeue_errors"] ?? 0) + (injected["unplugs"] ?? 0))
        XCTAssertEqual(counted("format_changes"), injected["resolution_changes"])
        XCTAssertEqual(counted("captured"), counted("segmented") + counted("dropped") + counted("discarded"))
        XCTAssertEqual(counted("in_flight"), 0)
        XCTAssertEqual(device["protocol_violations"] as? Int, 0)
        // The back-off after each unplug ran on the simulated clock: counted, not slept.
        XCTAssertGreaterThanOrEqual(object["reconnect_wait_s"] as? Double ?? 0, 0.3 * Double((injected["unplugs"] ?? 1) - 1))
        XCTAssertEqual(object["reconnect_wait_simulated"] as? Bool, true, "the JSON says the wait was not slept")
    }

    func testTheStatisticsAreDefinedInTheHelpAndARealWaitIsNotMarkedSimulated() throws {
        let help = try runCondseg(["live", "--help"]).stdout
        let flat = help.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
        for counter in ["captured", "segmented (", "dropped (", "discarded (", "corrupt (", "in_flight", "in_flight_max", "reconnect_wait_s",
                        "reconnect_wait_simulated", "elapsed_s", "timeouts", "device_faults", "displayed"] {
            XCTAssertTrue(flat.contains(counter), "live --help does not define \(counter): \(help)")
        }
        let replay = try runCondseg(["live", "--source", "samples/images", "--no-pace", "--frames", "1", "--json", "--fake-segmenter"])
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(replay.stdout.utf8)) as? [String: Any], replay.stderr)
        XCTAssertEqual(object["reconnect_wait_simulated"] as? Bool, false)
    }

    func testTheFakeSegmentersSizeFollowsTheModelSizeRule() throws {
        let rule = "must be a positive multiple of 16 (the network's stride) and at most 4096"
        let base = ["live", "--source", "samples/images", "--no-pace", "--frames", "1", "--fake-segmenter"]
        for value in ["100", "0", "-16", "4112"] {
            let result = try runCondseg(base + ["--fake-input-size", value])
            XCTAssertEqual(result.status, 2, "--fake-input-size \(value): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains("error: --fake-input-size \(value) \(rule)"), "--fake-input-size \(value): \(result.stderr)")
        }
        let word = try runCondseg(base + ["--fake-input-size", "abc"])
        XCTAssertEqual(word.status, 2, word.stderr)
        XCTAssertTrue(word.stderr.contains("error: --fake-input-size must be a whole number N (the fake segmenter runs at N×N), not \"abc\""), word.stderr)
        XCTAssertEqual(try runCondseg(base + ["--fake-input-size", "32"]).status, 0)
        let withModel = try runCondseg(Array(base.dropLast()) + ["--fake-input-size", "32"])
        XCTAssertEqual(withModel.status, 2, withModel.stderr)
        XCTAssertTrue(withModel.stderr.contains("error: --fake-input-size applies to --fake-segmenter only (a model runs at --size N)"), withModel.stderr)
    }

    func testASimulatedCameraOfOddWidthIsRefusedBeforeItRuns() throws {
        // YUYV has no whole last pixel pair at an odd width: every frame would fail conversion and, with --frames,
        // the run would never end.
        let result = try runCondseg(["live", "--device", "simulated:17x240", "--fake-segmenter", "--frames", "3"])
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.contains("error: --device simulated:17x240: the simulated camera delivers YUYV, whose width must be even (got 17)"),
                      result.stderr)
    }

    func testTheReplayExampleOfTheHelpRuns() throws {
        let help = try runCondseg(["live", "--help"]).stdout
        // The example line, with the continuation lines the help's wrapping made of it (indented deeper).
        let lines = help.split(separator: "\n").map(String.init)
        let start = try XCTUnwrap(lines.firstIndex { $0.contains("condseg live --source") })
        let indent = lines[start].prefix { $0 == " " }.count
        var example = lines[start]
        for line in lines[(start + 1)...] {
            guard line.prefix(while: { $0 == " " }).count > indent else { break }
            example += " " + line.trimmingCharacters(in: .whitespaces)
        }
        let arguments = example.components(separatedBy: "condseg ")[1].split(separator: " ").map(String.init)
        let folder = try temporaryFolder(self)
        try FileManager.default.createSymbolicLink(atPath: folder + "/samples", withDestinationPath: repositoryRoot.path + "/samples")
        let result = try runCondseg(arguments + ["--fake-segmenter"], in: folder)
        XCTAssertEqual(result.status, 0, "\(arguments): \(result.stderr)")
        let overlays = try FileManager.default.contentsOfDirectory(atPath: folder + "/overlays")
        XCTAssertEqual(overlays.count, 6, "\(overlays)")
    }

    func testASourceThatIsNeitherAFolderNorY4MSaysSo() throws {
        let folder = try temporaryFolder(self)
        try writeSmallPNG(to: folder + "/frame.png")
        let result = try runCondseg(["live", "--source", folder + "/frame.png", "--no-pace", "--fake-segmenter"])
        XCTAssertEqual(result.status, 4, result.stderr)
        XCTAssertEqual(result.errorLines, ["error: \(folder)/frame.png: not a folder or a .y4m file (--source takes a folder of images or a YUV4MPEG2 file)"])
    }

    func testAReplayWhoseOnlyFrameIsTruncatedFails() throws {
        let folder = try temporaryFolder(self)
        let path = folder + "/short.y4m"
        try Data(Array("YUV4MPEG2 W16384 H16384 F30:1 C420jpeg\nFRAME\n".utf8) + [UInt8](repeating: 7, count: 100))
            .write(to: URL(fileURLWithPath: path))
        let result = try runCondseg(["live", "--source", path, "--no-pace", "--fake-segmenter"])
        XCTAssertEqual(result.status, 4, result.stderr)
        assertContractLines(result)
        XCTAssertTrue(result.errorLines.contains("error: \(path): truncated frame 1: expected 402653184 bytes, found 100"), result.stderr)
    }

    func testACorruptFrameIsNamedOnce() throws {
        let folder = try temporaryFolder(self)
        try writeSmallPNG(to: folder + "/a.png")
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: folder + "/b.png"))
        let result = try runCondseg(["live", "--source", folder, "--no-pace", "--fake-segmenter", "--masks-out", folder + "/masks"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let warning = try XCTUnwrap(result.errorLines.first { $0.contains("dropped corrupt frame") }, result.stderr)
        XCTAssertEqual(warning.components(separatedBy: folder + "/b.png").count, 2, "the path once: \(warning)")
        XCTAssertTrue(warning.hasSuffix("\(folder)/b.png: not a PNG or JPEG image (unrecognised first bytes)"), warning)
    }

    func testMaskAndOverlayFoldersMustDiffer() throws {
        let folder = try temporaryFolder(self)
        let result = try runCondseg(["live", "--source", "samples/images", "--no-pace", "--fake-segmenter",
                                     "--overlay-out", folder + "/o", "--masks-out", folder + "/o/"])
        XCTAssertEqual(result.status, 5)
        assertContractLines(result)
    }

    func testAnOutputFailureIsReportedOnce() throws {
        // Raw video into a closed stdout: one "error:" line, no log line repeating it.
        let result = try runCondsegIntoClosedPipe(["live", "--source", "samples/images", "--no-pace", "--fake-segmenter",
                                                   "--frames", "3", "--output", "-"], closeStdout: true, closeStderr: false)
        XCTAssertEqual(result.status, 5, result.stderr)
        let mentions = result.errorLines.filter { $0.contains("output failed") }
        XCTAssertEqual(mentions.count, 1, result.stderr)
        XCTAssertTrue(mentions.first?.hasPrefix("error: output failed: ") ?? false, result.stderr)
    }

    func testTheFinalStatisticsLineHasTheShapeOfThePeriodicOnes() throws {
        // The periodic lines are log lines, "PREFIX SECONDS info stats: ..."; the final --stats line is one too.
        let result = try runCondseg(["live", "--source", "samples/images", "--no-pace", "--fake-segmenter", "--frames", "2", "--stats"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let stats = result.errorLines.filter { $0.contains(" stats: ") }
        XCTAssertEqual(stats.count, 1, result.stderr)
        XCTAssertNotNil(stats.first?.range(of: #"^\[condseg [^\]]+\] [0-9]+\.[0-9]{3} info stats: captured 2 "#, options: .regularExpression),
                        result.stderr)
    }

    func testSmallOptionProblemsSayWhatIsWrong() throws {
        let base = ["live", "--source", "samples/images", "--fake-segmenter"]
        let timeout = try runCondseg(base + ["--timeout-ms", "0"])
        XCTAssertEqual(timeout.status, 2, timeout.stderr)
        XCTAssertTrue(timeout.stderr.hasPrefix("error: --timeout-ms must be at least 10 (got 0)\n"), timeout.stderr)
        for option in ["--device", "--v4l2-out"] {
            let empty = try runCondseg(["live", "--fake-segmenter", option, ""])
            XCTAssertEqual(empty.status, 2, empty.stderr)
            XCTAssertTrue(empty.stderr.hasPrefix("error: The value '' is invalid for '\(option) <"), empty.stderr)
            XCTAssertTrue(empty.stderr.contains(">': the device path is empty: give a video device such as /dev/video0"), empty.stderr)
            XCTAssertFalse(empty.stderr.contains("file or folder"), empty.stderr)
        }
        let captureDevice = try runCondseg(["capture", "--device", "", "--frames", "0"])
        XCTAssertEqual(captureDevice.status, 2, captureDevice.stderr)
        XCTAssertTrue(captureDevice.stderr.contains("'--device <device>': the device path is empty: give a video device"), captureDevice.stderr)
        for size in ["+640x480", "640x+480", " 640x480", "640x480x2", "x480"] {
            for command in [["live", "--device", "/dev/video0", "--fake-segmenter"], ["capture", "--device", "/dev/video0"]] {
                let signed = try runCondseg(command + ["--capture-size", size])
                XCTAssertEqual(signed.status, 2, "\(size): \(signed.stderr)")
                XCTAssertTrue(signed.stderr.hasPrefix("error: --capture-size must look like 1280x720 (two whole numbers, no sign), not \"\(size)\""),
                              "\(size): \(signed.stderr)")
            }
        }
        let help = try runCondseg(["live", "--help"]).stdout
        let flat = help.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
        XCTAssertTrue(flat.contains("Also log the statistics every this many seconds (at least 0.1)."), help)
        XCTAssertTrue(flat.contains("0 gives up at the first failed (re)open, without retrying"), help)
        XCTAssertTrue(flat.contains("Frame timeout in milliseconds, at least 10"), help)
    }
}
