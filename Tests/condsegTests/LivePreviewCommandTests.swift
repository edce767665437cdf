// LivePreviewCommandTests.swift — `condseg eval-live` (JSON fields, compensation helping on the samples, usage
// and input errors) and `condseg live --http` (the preview's endpoints served by the real binary, fetched with curl).

import CondSegTestSupport
import Foundation
import Glibc
import XCTest

final class LivePreviewCommandTests: XCTestCase {
    func testEvalLiveReportsTheThreeOverlaysAndCompensationHelps() throws {
        let folder = try temporaryFolder(self)
        let list = folder + "/list.txt"
        try "cju0s690hkp960855tjuaqvv0\ncju14pxbaoksp0835qzorx6g6\n".write(toFile: list, atomically: true, encoding: .utf8)
        let result = try runCondseg(["eval-live", "--data", "samples", "--list", list, "--camera-fps", "30", "--model-fps", "2",
                                     "--seconds", "2", "--seed", "5", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        func mean(_ key: String) -> Double? { (object[key] as? [String: Any])?["mean_iou"] as? Double }
        let ceiling = try XCTUnwrap(mean("ceiling")), lagging = try XCTUnwrap(mean("uncompensated"))
        let compensated = try XCTUnwrap(mean("compensated"))
        XCTAssertEqual(object["sequences"] as? Int, 2)
        XCTAssertEqual(object["frames_per_result"] as? Double, 15)
        XCTAssertEqual(object["model_fps_source"] as? String, "given")
        // 60 frames per sequence, scored from the first result (frame 15) on.
        XCTAssertEqual((object["ceiling"] as? [String: Any])?["frames"] as? Int, 2 * 45)
        XCTAssertGreaterThan(ceiling, lagging)
        XCTAssertGreaterThanOrEqual(compensated, lagging)
        // The same seed gives the same figures.
        let again = try runCondseg(["eval-live", "--data", "samples", "--list", list, "--model-fps", "2", "--seconds", "2",
                                    "--seed", "5", "--json"])
        let second = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((second["compensated"] as? [String: Any])?["mean_iou"] as? Double, compensated)
    }

    func testEvalLiveUsageAndInputErrors() throws {
        let zero = try runCondseg(["eval-live", "--data", "samples", "--model-fps", "0"])
        XCTAssertEqual(zero.status, 2)
        XCTAssertTrue(zero.stderr.contains("--model-fps"), zero.stderr)
        let size = try runCondseg(["eval-live", "--data", "samples", "--frame-size", "640"])
        XCTAssertEqual(size.status, 2)
        let huge = try runCondseg(["eval-live", "--data", "samples", "--frame-size", "99999x99999"])
        XCTAssertEqual(huge.status, 2)
        XCTAssertTrue(huge.stderr.contains("error: --frame-size 99999x99999 is too large: at most 16384 pixels a side"), huge.stderr)
        // Within the side limit but 256 Mpixel: it once passed and used about 10 GB before any still was scored.
        let square = try runCondseg(["eval-live", "--data", "samples", "--frame-size", "16384x16384"])
        XCTAssertEqual(square.status, 2)
        XCTAssertTrue(square.stderr.contains("error: --frame-size 16384x16384 is too large: at most 64 Mpixel"), square.stderr)
        // 0.4 s at 30 fps is 12 frames; at 2 model results/s the first result is shown from frame 16 on.
        let list = try temporaryFolder(self) + "/list.txt"
        try "cju0s690hkp960855tjuaqvv0\n".write(toFile: list, atomically: true, encoding: .utf8)
        let short = try runCondseg(["eval-live", "--data", "samples", "--list", list, "--model-fps", "2", "--seconds", "0.4"])
        XCTAssertEqual(short.status, 2, short.stderr)
        XCTAssertTrue(short.stderr.contains("error: no frame would be scored"), short.stderr)
        XCTAssertTrue(short.stderr.contains("give --seconds 0.54 or more"), short.stderr)
        XCTAssertFalse(short.stdout.contains("IoU"), short.stdout)
        // Refused before the model loads or a still is read: a model and a data folder that do not exist are not reached.
        let missing = list + ".missing"
        let early = try runCondseg(["eval-live", "--model", missing, "--data", missing, "--model-fps", "2", "--seconds", "0.4"])
        XCTAssertEqual(early.status, 2, early.stderr)
        XCTAssertTrue(early.stderr.contains("error: no frame would be scored: a sequence of --seconds 0.40 at --camera-fps 30.0 has 12 frames, and the first model result (at 2.00 results/s) is shown from frame 16 on; give --seconds 0.54 or more, or a higher --model-fps"), early.stderr)
        // Without --model-fps: one frame cannot be scored even by a model as fast as the camera.
        let oneFrame = try runCondseg(["eval-live", "--model", missing, "--data", missing, "--seconds", "0.02"])
        XCTAssertEqual(oneFrame.status, 2, oneFrame.stderr)
        XCTAssertTrue(oneFrame.stderr.contains("error: no frame would be scored: a sequence of --seconds 0.02 at --camera-fps 30.0 has 1 frame, and the first model result (even at the camera's rate) is shown from frame 2 on; give --seconds 0.07 or more\n"), oneFrame.stderr)
        let folder = try temporaryFolder(self)
        try FileManager.default.createDirectory(atPath: folder + "/images", withIntermediateDirectories: true)
        try writeSmallPNG(to: folder + "/images/a.png")
        let noMasks = try runCondseg(["eval-live", "--data", folder, "--model-fps", "2"])
        XCTAssertEqual(noMasks.status, 4)
        assertContractLines(noMasks)
        XCTAssertTrue(noMasks.stderr.contains(folder), noMasks.stderr)
    }

    func testLiveHTTPServesThePreviewUntilStopped() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try condsegBinary())
        process.arguments = ["live", "--source", "samples/images", "--loop", "--fps", "20", "--fake-segmenter", "--http", "0", "--stats"]
        process.currentDirectoryURL = repositoryRoot
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        // The chosen port is in the log line "preview on http://127.0.0.1:PORT/".
        var log = ""
        var port: String?
        while port == nil {
            let data = err.fileHandleForReading.availableData
            if data.isEmpty { break }
            log += String(decoding: data, as: UTF8.self)
            if let range = log.range(of: "preview on http://127.0.0.1:") {
                let rest = log[range.upperBound...]
                if let slash = rest.firstIndex(of: "/") { port = String(rest[..<slash]) }
            }
        }
        let base = "http://127.0.0.1:\(try XCTUnwrap(port, log))"
        var health = 0
        for _ in 0..<600 where health != 200 {
            health = curlStatus(base + "/health")
            if health != 200 { Thread.sleep(forTimeInterval: 0.1) }
        }
        XCTAssertEqual(health, 200, "masks flow")
        let (status, body) = curl(base + "/stats")
        XCTAssertEqual(status, 200)
        let stats = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        XCTAssertEqual(stats["model_sha256"] as? String, "fake-brightness-segmenter")
        XCTAssertNotNil((stats["kernels"] as? [String: Any])?["int8"])
        XCTAssertNotNil(stats["motion_compensated"])
        let snapshot = curl(base + "/snapshot.jpg")
        XCTAssertEqual(snapshot.status, 200)
        XCTAssertEqual(Array(snapshot.body.prefix(2)), [0xFF, 0xD8])
        XCTAssertEqual(curl(base + "/").status, 200)
        process.terminate()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        let rest = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue((log + rest).contains("motion: moved"), "the --stats line counts moved and hidden frames: \(log + rest)")
    }

    func testHTTPAddressProblems() throws {
        let bad = try runCondseg(["live", "--source", "samples/images", "--fake-segmenter", "--http", "localhost:x"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("--http"), bad.stderr)
        // A port already taken is an output that cannot be written, named in one line.
        let taken = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(taken) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(taken, $0, length) == 0 && getsockname(taken, $0, &length) == 0 }
        }
        XCTAssertTrue(bound)
        XCTAssertEqual(listen(taken, 1), 0)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let busy = try runCondseg(["live", "--source", "samples/images", "--fake-segmenter", "--http", String(port)])
        XCTAssertEqual(busy.status, 5, busy.stderr)
        assertContractLines(busy)
        XCTAssertTrue(busy.stderr.contains("error: http://127.0.0.1:\(port): cannot listen"), busy.stderr)
    }

    private func curl(_ url: String) -> (status: Int, body: [UInt8]) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-s", "--max-time", "10", "-w", "\n%{http_code}", url]
        let out = Pipe()
        process.standardOutput = out
        guard (try? process.run()) != nil else { return (0, []) }
        let data = [UInt8](out.fileHandleForReading.readDataToEndOfFile())
        process.waitUntilExit()
        guard let newline = data.lastIndex(of: 10) else { return (0, []) }
        return (Int(String(decoding: data[(newline + 1)...], as: UTF8.self)) ?? 0, Array(data[..<newline]))
    }

    private func curlStatus(_ url: String) -> Int { curl(url).status }
}
