// VividVMTests.swift: runs scripts/vivid/run-vivid-tests.sh, which boots a QEMU VM with the kernel's vivid
// driver and runs `condseg capture` / `condseg live` against a real V4L2 device (two formats and sizes, a
// DQBUF error-flagged buffer, a fatal EIO, unplug/replug, SIGTERM, the V4L2 output node), and judges the
// results it brings back here, in Swift, reading the frames with CondSegImage (nothing beyond what
// `scripts/install-deps.sh --tests` installs: qemu-system-x86 busybox-static cpio kmod).
// Without those tools the test fails and says so. When a release condseg with the `live` subcommand exists
// in the same build folder (`swift test -c release`, as CI runs), the VM uses it (the script copies its
// shared libraries); otherwise the script builds one (.build-vivid, minutes the first time). The VM part
// takes about 1.5 minutes.
import CondSegImage
import Foundation
import XCTest

final class VividVMTests: XCTestCase {
    func testCaptureAndFaultsAgainstVividInQEMU() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/vivid/run-vivid-tests.sh")
        guard FileManager.default.isExecutableFile(atPath: script.path) else {
            return XCTFail("missing or not executable: \(script.path)")
        }
        let results = try makeTemporaryFolder(self) + "/results"
        let process = Process()
        process.executableURL = script
        process.arguments = [results]
        var environment = ProcessInfo.processInfo.environment
        if environment["CONDSEG_BINARY"] == nil, let built = builtCondseg() { environment["CONDSEG_BINARY"] = built }
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        print(text)
        guard process.terminationStatus == 0 else {
            return XCTFail("vivid VM tests could not run (exit \(process.terminationStatus); see the setup message "
                           + "above; scripts/install-deps.sh --tests installs qemu-system-x86 busybox-static cpio kmod)")
        }
        let judge = VividResultsJudge(folder: results)
        judge.judgeAll()
        print(judge.lines.joined(separator: "\n"))
        print(judge.failures.isEmpty ? "vivid: all checks passed" : "vivid: \(judge.failures.count) check(s) failed")
        XCTAssertEqual(judge.failures, [], "vivid VM checks failed")
    }

    /// The colour-bar judgement itself, on synthetic frames: vivid's eight bars in order pass, a frame with two
    /// bars swapped or a washed-out bar does not, and the overlay check tells a tinted bright bar from an untinted one.
    func testJudgeOnSyntheticFrames() throws {
        let folder = try makeTemporaryFolder(self)
        let colours: [(UInt8, UInt8, UInt8)] = [(191, 191, 191), (191, 191, 0), (0, 191, 191), (0, 191, 0),
                                                (191, 0, 191), (191, 0, 0), (0, 0, 191), (0, 0, 0)]
        func bars(_ order: [Int], width: Int = 320, height: Int = 180) -> Image8 {
            var image = Image8(width: width, height: height, channels: 3)
            for y in 0..<height {
                for x in 0..<width {
                    let c = colours[order[x * 8 / width]]
                    let i = (y * width + x) * 3
                    // Text-like noise in the top half must not matter: only the bottom tenth is judged.
                    let noisy = y < height / 2 && (x + y) % 3 == 0
                    image.pixels[i] = noisy ? 255 - c.0 : c.0
                    image.pixels[i + 1] = noisy ? 255 - c.1 : c.1
                    image.pixels[i + 2] = noisy ? 255 - c.2 : c.2
                }
            }
            return image
        }
        let good = folder + "/good.png", swapped = folder + "/swapped.png", grey = folder + "/grey.png"
        try ImageCodec.writePNG(bars(Array(0..<8)), to: good)
        try ImageCodec.writePNG(bars([0, 1, 3, 2, 4, 5, 6, 7]), to: swapped)
        var washed = bars(Array(0..<8))
        for y in 0..<washed.height { for x in (5 * 40)..<(6 * 40) { washed.pixels[(y * 320 + x) * 3 + 1] = 100 } }
        try ImageCodec.writePNG(washed, to: grey)

        let goodBars = try XCTUnwrap(VividResultsJudge.colourBars(path: good))
        XCTAssertEqual(goodBars.names, VividResultsJudge.bars)
        XCTAssertEqual(goodBars.size.width, 320)
        XCTAssertEqual(goodBars.size.height, 180)
        XCTAssertEqual(try XCTUnwrap(VividResultsJudge.colourBars(path: swapped)).names,
                       ["white", "yellow", "green", "cyan", "magenta", "red", "blue", "black"])
        XCTAssertEqual(try XCTUnwrap(VividResultsJudge.colourBars(path: grey)).names[5], "unclear(191, 100, 0)")
        XCTAssertNil(VividResultsJudge.colourBars(path: folder + "/absent.png"))

        // Overlay: the white bar tinted green passes, the untinted frame fails the tint check.
        var tinted = bars(Array(0..<8))
        for y in 0..<180 { for x in 0..<40 { tinted.pixels[(y * 320 + x) * 3] = 120; tinted.pixels[(y * 320 + x) * 3 + 2] = 120 } }
        let (white, black) = VividResultsJudge.overlayMedians(tinted)
        XCTAssertTrue(VividResultsJudge.isTinted(white), "\(white)")
        XCTAssertTrue(VividResultsJudge.isDark(black), "\(black)")
        XCTAssertFalse(VividResultsJudge.isTinted(VividResultsJudge.overlayMedians(bars(Array(0..<8))).white))
        XCTAssertFalse(VividResultsJudge.isDark(VividResultsJudge.overlayMedians(bars(Array(0..<8).reversed())).black))

        // The median of an even count is the mean of the middle two, as numpy's is.
        XCTAssertEqual(VividResultsJudge.median([3, 1, 4, 2]), 2.5)
        XCTAssertEqual(VividResultsJudge.median([7, 1, 4]), 4)
    }

    /// A release condseg built in this build folder, if it exists and has the live subcommand. Debug builds
    /// are not used: under software emulation they run too slowly for the VM's time budget.
    func builtCondseg() -> String? {
        let folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let buildRoot = folder.deletingLastPathComponent()
        let candidates = [folder.appendingPathComponent("condseg"), buildRoot.appendingPathComponent("release/condseg")]
            .map(\.path).filter { $0.contains("/release/") }
        for path in candidates where FileManager.default.isExecutableFile(atPath: path) {
            let probe = Process()
            probe.executableURL = URL(fileURLWithPath: path)
            probe.arguments = ["live", "--help"]
            probe.standardOutput = FileHandle.nullDevice
            probe.standardError = FileHandle.nullDevice
            guard (try? probe.run()) != nil else { continue }
            probe.waitUntilExit()
            if probe.terminationStatus == 0 { return path }
        }
        return nil
    }
}

/// Judges what scripts/vivid/guest-tests.sh wrote inside the vivid VM: both captures wrote all frames at the
/// requested size, every frame shows vivid's default 75 % colour bars (white, yellow, cyan, green, magenta, red,
/// blue, black from left to right, judged on the bottom tenth, below vivid's on-screen text); the live run
/// dropped and counted a buffer flagged V4L2_BUF_FLAG_ERROR, recovered from a fatal streaming error (EIO/POLLERR:
/// overlay cleared, "no video", reopen) and stopped cleanly on SIGTERM (exit 0, JSON statistics); the live run
/// whose device was unplugged (vivid's Disconnect) did the same and resumed when the node came back;
/// `--v4l2-out` wrote the overlaid stream to vivid's output node. One line per check in `lines`.
final class VividResultsJudge {
    static let bars = ["white", "yellow", "cyan", "green", "magenta", "red", "blue", "black"]
    let folder: String
    private(set) var lines: [String] = []
    private(set) var failures: [String] = []

    init(folder: String) { self.folder = folder }

    func check(_ condition: Bool, _ message: String) {
        lines.append((condition ? "ok   " : "FAIL ") + message)
        if !condition { failures.append(message) }
    }

    func read(_ name: String) -> String {
        (try? String(contentsOfFile: folder + "/" + name, encoding: .utf8)) ?? ""
    }

    /// The exit status a step wrote into NAME.rc, nil when absent or not a number.
    func rc(_ name: String) -> Int? { Int(read(name + ".rc").trimmingCharacters(in: .whitespacesAndNewlines)) }

    /// The JSON object in NAME.json, empty when absent or not an object.
    func json(_ name: String) -> [String: Any] {
        let data = Data(read(name + ".json").utf8)
        return ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any]) ?? [:]
    }

    func files(_ name: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder + "/" + name)) ?? []).sorted()
    }

    /// A JSON number as a Double (so 6 and 6.0 compare alike and 5.5 stays 5.5), nil when absent or not a number.
    static func number(_ value: Any?) -> Double? {
        (value as? NSNumber)?.doubleValue
    }

    static func tail(_ text: String, _ count: Int) -> String {
        String(text.trimmingCharacters(in: .whitespacesAndNewlines).suffix(count))
    }

    func judgeAll() {
        lines.append(read("guest-tests.log"))
        judgeCaptures()
        judgeDQBUFAndEIO()
        judgeDisconnect()
        judgeOutputNode()
        for name in ["live-dqbuf", "live-disconnect"] {
            let stats = json(name)
            if let latency = stats["latency_ms"] as? [String: Any] {
                lines.append("figures \(name): captured \(stats["captured"] ?? "?") segmented \(stats["segmented"] ?? "?") "
                             + "\(stats["captured_per_s"] ?? "?") captured/s \(stats["segmented_per_s"] ?? "?") segmented/s "
                             + "latency median \(latency["median"] ?? "?") ms p99 \(latency["p99"] ?? "?") ms")
            }
        }
    }

    func judgeCaptures() {
        for (name, width, height) in [("cap-yuyv-640x480", 640, 480), ("cap-nv12-320x180", 320, 180)] {
            check(rc(name) == 0, "\(name): condseg capture exit status \(rc(name).map(String.init) ?? "none") "
                                 + "(log: \(Self.tail(read(name + ".log"), 300)))")
            let frames = files(name).filter { $0.hasSuffix(".png") }
            check(frames.count == 6, "\(name): \(frames.count) of 6 frames written")
            for frame in frames {
                let found = Self.colourBars(path: folder + "/" + name + "/" + frame)
                check(found != nil && found!.size == (width, height) && found!.names == Self.bars,
                      "\(name)/\(frame): size \(found.map { "\($0.size.width)x\($0.size.height)" } ?? "unreadable"), "
                      + "bars \(found?.names ?? [])")
            }
            let summary = json(name)
            check(Self.number(summary["frames"]) == 6 && Self.number(summary["width"]) == Double(width), "\(name): JSON summary \(summary)")
        }
    }

    /// Live run with an injected DQBUF error and a fatal streaming error, stopped by SIGTERM.
    func judgeDQBUFAndEIO() {
        let log = read("live-dqbuf.log")
        check(rc("inject-dqbuf") == 0, "DQBUF error injected through the control (\(Self.tail(read("controls-set.log"), 200)))")
        check(rc("live-dqbuf") == 0, "live (DQBUF error): exit status \(rc("live-dqbuf").map(String.init) ?? "none") after SIGTERM, expected 0")
        check(log.contains("signal 15: stopping"), "live (DQBUF error): SIGTERM seen and handled")
        let stats = json("live-dqbuf")
        check((Self.number(stats["segmented"]) ?? 0) >= 5, "live (DQBUF error): segmented \(stats["segmented"] ?? "none") frames")
        check(log.contains("dropped corrupt frame") && log.contains("V4L2_BUF_FLAG_ERROR") && (Self.number(stats["corrupt"]) ?? 0) >= 1,
              "live (DQBUF error): the flagged buffer was dropped and counted (corrupt \(stats["corrupt"] ?? "none"))")
        check(rc("inject-fatal") == 0, "fatal streaming error injected through the control")
        check(log.contains("device lost") && log.contains("overlay cleared"), "live (EIO): 'no video' reported and overlay cleared")
        check(log.contains("video back on /dev/video0") && (Self.number(stats["reconnects"]) ?? 0) >= 1,
              "live (EIO): device reopened, streaming resumed")
        let logLines = log.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        check(!logLines.isEmpty && logLines.allSatisfy { $0.hasPrefix("[condseg ") && $0.contains("model=") && $0.contains("calib=") },
              "live: every log line carries version, model hash and calibration hash")
        let overlays = files("live-dqbuf")
        check(overlays.count >= 1, "live (DQBUF error): \(overlays.count) overlay snapshots")
        guard let first = overlays.first else { return }
        // The fake segmenter marks bright bars; the overlay tints them green and draws a yellow contour: the
        // white bar's centre is no longer grey (G above R and B), the black bar's is untouched.
        guard let image = try? ImageCodec.decodeRGB(path: folder + "/live-dqbuf/" + first) else {
            return check(false, "live overlay \(first) could not be read")
        }
        let (white, black) = Self.overlayMedians(image)
        check(Self.isTinted(white), "live overlay tints the bright bar (white bar median \(white))")
        check(Self.isDark(black), "live overlay leaves the dark bar alone (black bar median \(black))")
    }

    /// Live run whose device was unplugged and came back (vivid re-registers the node when streaming stops).
    func judgeDisconnect() {
        let log = read("live-disconnect.log")
        check(rc("inject-disconnect") == 0, "disconnect injected through the control")
        check(rc("live-disconnect") == 0,
              "live (disconnect): exit status \(rc("live-disconnect").map(String.init) ?? "none") after SIGTERM, expected 0")
        check(log.contains("no video:") && log.contains("overlay cleared"), "live (disconnect): 'no video' reported and overlay cleared")
        check(log.contains("video back on /dev/video0"), "live (disconnect): device reopened and streaming resumed")
        let stats = json("live-disconnect")
        check((Self.number(stats["device_faults"]) ?? 0) >= 1 && (Self.number(stats["reconnects"]) ?? 0) >= 1,
              "live (disconnect): statistics {faults \(stats["device_faults"] ?? "none"), reconnects \(stats["reconnects"] ?? "none")}")
        check(log.contains("video back on") && (Self.number(stats["segmented"]) ?? 0) >= 5,
              "live (disconnect): segmented \(stats["segmented"] ?? "none") frames in all")
    }

    /// The overlaid stream written to vivid's video output node.
    func judgeOutputNode() {
        let stats = json("live-v4l2out")
        check(rc("live-v4l2out") == 0 && (Self.number(stats["displayed"]) ?? 0) >= 5,
              "live --v4l2-out: exit status \(rc("live-v4l2out").map(String.init) ?? "none"), \(stats["displayed"] ?? "none") frames "
              + "handed to the /dev/video1 sink (mmap streaming, no error) (\(Self.tail(read("live-v4l2out.log"), 200)))")
    }

    // MARK: Pixel judgements

    /// Median of the values; for an even count the mean of the two middle ones.
    static func median(_ values: [UInt8]) -> Double {
        precondition(!values.isEmpty, "median of nothing")
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? Double(sorted[middle]) : (Double(sorted[middle - 1]) + Double(sorted[middle])) / 2
    }

    /// Per-channel medians of the RGB pixels in rows `rows`, columns `columns`.
    static func medianRGB(_ image: Image8, rows: Range<Int>, columns: Range<Int>) -> [Double] {
        (0..<3).map { channel in
            var values: [UInt8] = []
            values.reserveCapacity(rows.count * columns.count)
            for y in rows { for x in columns { values.append(image.pixels[(y * image.width + x) * 3 + channel]) } }
            return median(values)
        }
    }

    /// The bar colour of an RGB median: every channel clearly high (> 120) or clearly low (< 70), else "unclear(r, g, b)".
    static func barName(_ rgb: [Double]) -> String {
        let high = rgb.map { $0 > 120 }, low = rgb.map { $0 < 70 }
        guard zip(high, low).allSatisfy({ $0 || $1 }) else {
            return "unclear(" + rgb.map { String(Int($0)) }.joined(separator: ", ") + ")"
        }
        switch (high[0], high[1], high[2]) {
        case (true, true, true): return "white"
        case (true, true, false): return "yellow"
        case (false, true, true): return "cyan"
        case (false, true, false): return "green"
        case (true, false, true): return "magenta"
        case (true, false, false): return "red"
        case (false, false, true): return "blue"
        case (false, false, false): return "black"
        }
    }

    /// The eight bar names of a frame (the bottom tenth, without the last two rows and a quarter of each bar's width
    /// on either side) and its size; nil when the file cannot be read.
    static func colourBars(path: String) -> (names: [String], size: (width: Int, height: Int))? {
        guard let image = try? ImageCodec.decodeRGB(path: path) else { return nil }
        let width = image.width, height = image.height
        let names = (0..<8).map { index -> String in
            let left = index * width / 8, right = (index + 1) * width / 8
            let margin = max(1, (right - left) / 4)
            return barName(medianRGB(image, rows: (height * 9 / 10)..<(height - 2), columns: (left + margin)..<(right - margin)))
        }
        return (names, (width, height))
    }

    /// Medians of the white bar's and the black bar's centres in the lower half of an overlay snapshot.
    static func overlayMedians(_ image: Image8) -> (white: [Double], black: [Double]) {
        let width = image.width, height = image.height
        let white = medianRGB(image, rows: (height / 2)..<height, columns: (width / 32)..<(width / 8 - width / 32))
        let black = medianRGB(image, rows: (height / 2)..<height, columns: (7 * width / 8 + width / 32)..<(width - width / 32))
        return (white, black)
    }

    /// Green clearly above red and blue: the overlay's tint.
    static func isTinted(_ rgb: [Double]) -> Bool { rgb[1] > rgb[0] + 30 && rgb[1] > rgb[2] + 30 }

    /// Every channel below 40: untouched black.
    static func isDark(_ rgb: [Double]) -> Bool { (rgb.max() ?? 255) < 40 }
}
