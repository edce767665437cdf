// PreviewServerTests.swift: the browser preview of a live run, fetched with curl: the page, the MJPEG stream,
// /snapshot.jpg, /stats, /health (503 once the video is lost), and a client that never reads, which is dropped
// while the pipeline keeps flowing (checked by counters, not by timing).
import CondSegCapture
import CondSegIO
import CondSegImage
import Foundation
import Glibc
import XCTest

/// An endless, paced source of textured RGB frames (noise plus a moving bar), so JPEGs are large.
final class NoiseSource: FrameSource {
    let width: Int, height: Int, period: Double
    private var sequence: UInt64 = 0
    private var random = SplitMix64(seed: 3)
    var name: String { "noise" }
    var isLive: Bool { false }
    init(width: Int, height: Int, period: Double) { self.width = width; self.height = height; self.period = period }
    func start() throws -> FrameFormat { FrameFormat(pixelFormat: .rgb24, width: width, height: height) }
    func next(timeoutMilliseconds: Int) throws -> SourceEvent {
        Thread.sleep(forTimeInterval: period)
        var bytes = [UInt8](repeating: 0, count: width * height * 3)
        for index in bytes.indices { bytes[index] = UInt8.random(in: 40...215, using: &random) }
        let bar = Int(sequence % UInt64(width))
        for y in 0..<height { for c in 0..<3 { bytes[(y * width + bar) * 3 + c] = 255 } }
        defer { sequence += 1 }
        return .frame(Frame(format: FrameFormat(pixelFormat: .rgb24, width: width, height: height), bytes: bytes,
                            captureTimeNanos: monotonicNanos(), sequence: sequence), droppedBefore: 0)
    }
    func stop() {}
}

final class PreviewServerTests: XCTestCase {
    let identity = RunIdentity(runtimeVersion: "0.0-test", modelSHA256: "ab12", calibrationHash: "cd34")

    struct Response {
        var status: Int
        var headers: String
        var body: [UInt8]
    }

    /// GET with curl: status, headers and body (`maxTime` bounds streams).
    func fetch(_ url: String, maxTime: Double = 10) throws -> Response {
        let folder = try makeTemporaryFolder(self)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-s", "--max-time", String(maxTime), "-D", folder + "/headers", "-o", folder + "/body", url]
        try process.run()
        process.waitUntilExit()
        let headers = (try? String(contentsOfFile: folder + "/headers", encoding: .utf8)) ?? ""
        let body = [UInt8](FileManager.default.contents(atPath: folder + "/body") ?? Data())
        let status = headers.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return Response(status: status, headers: headers, body: body)
    }

    /// Waits (up to a generous bound, so a loaded machine only slows the test) until `condition` holds.
    func waitFor(_ what: String, _ condition: () -> Bool) {
        let deadline = Date(timeIntervalSinceNow: 60)
        while !condition() {
            if Date() > deadline { XCTFail("gave up waiting for \(what)"); return }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    func makeServer(_ settings: PreviewServer.Settings = PreviewServer.Settings(), pipeline: @escaping () -> LivePipeline?) throws -> PreviewServer {
        var settings = settings
        settings.port = 0
        let identity = self.identity
        let server = PreviewServer(settings: settings) {
            var object = pipeline()?.statistics.jsonObject(identity: identity) ?? [:]
            object["kernels"] = ["int8": "test"]
            return object
        }
        try server.start()
        addTeardownBlock { server.stop() }
        return server
    }

    func runInBackground(_ pipeline: LivePipeline) -> DispatchSemaphore {
        let done = DispatchSemaphore(value: 0)
        Thread {
            do { _ = try pipeline.run() } catch { XCTFail("the run failed: \(error)") }
            done.signal()
        }.start()
        return done
    }

    func testEveryEndpointAndHealthAfterTheRunEnds() throws {
        let box = Locked<LivePipeline?>(nil)
        let server = try makeServer { box.read() }
        let base = "http://127.0.0.1:\(server.port)"
        XCTAssertEqual(try fetch(base + "/health").status, 503, "no video before the run")
        var options = LiveOptions()
        options.motionCompensation = true
        let pipeline = LivePipeline(source: NoiseSource(width: 96, height: 64, period: 0.01),
                                    segmenter: BrightnessSegmenter(inputSize: 16, threshold: 100), sinks: [server.sink],
                                    options: options, log: LiveLog(identity: identity) { _ in })
        box.mutate { $0 = pipeline }
        let done = runInBackground(pipeline)
        waitFor("masks") { pipeline.statistics.segmented >= 3 }

        let page = try fetch(base + "/")
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.headers.lowercased().contains("content-type: text/html"), page.headers)
        let html = String(decoding: page.body, as: UTF8.self)
        XCTAssertTrue(html.contains("<img") && html.contains("stream.mjpg"), html)

        let snapshot = try fetch(base + "/snapshot.jpg")
        XCTAssertEqual(snapshot.status, 200)
        XCTAssertTrue(snapshot.headers.lowercased().contains("content-type: image/jpeg"))
        let decoded = try ImageCodec.decodeRGB(data: snapshot.body, name: "snapshot.jpg")
        XCTAssertEqual([decoded.width, decoded.height], [96, 64])

        let stats = try fetch(base + "/stats")
        XCTAssertEqual(stats.status, 200)
        let object = try JSONSerialization.jsonObject(with: Data(stats.body)) as? [String: Any]
        XCTAssertEqual(object?["model_sha256"] as? String, "ab12")
        XCTAssertEqual(object?["calibration_hash"] as? String, "cd34")
        XCTAssertNotNil(object?["kernels"])
        XCTAssertGreaterThanOrEqual(object?["segmented"] as? Int ?? 0, 3)
        XCTAssertNotNil(object?["motion_hidden"])
        XCTAssertNotNil(object?["preview"])

        XCTAssertEqual(try fetch(base + "/health").status, 200)
        XCTAssertEqual(try fetch(base + "/no-such-page").status, 404)

        // The stream: a multipart response whose parts are JPEGs of the frame (curl stops it after 3 s).
        let stream = try fetch(base + "/stream.mjpg", maxTime: 3)
        XCTAssertEqual(stream.status, 200)
        XCTAssertTrue(stream.headers.contains("multipart/x-mixed-replace; boundary=condsegframe"), stream.headers)
        let text = String(decoding: stream.body, as: UTF8.self)
        let parts = text.components(separatedBy: "--condsegframe\r\nContent-Type: image/jpeg\r\n").count - 1
        XCTAssertGreaterThanOrEqual(parts, 2, "at least two frames in 3 s")
        if let range = stream.body.firstRange(of: Array("\r\n\r\n".utf8)) {
            XCTAssertEqual(Array(stream.body[range.upperBound...].prefix(2)), [0xFF, 0xD8], "a part starts with a JPEG")
        }

        pipeline.requestStop()
        done.wait()
        XCTAssertEqual(try fetch(base + "/health").status, 503, "the run ended: no video")
    }

    func testHealthIs503WhenTheVideoIsLost() throws {
        let box = Locked<LivePipeline?>(nil)
        let server = try makeServer { box.read() }
        let base = "http://127.0.0.1:\(server.port)"
        let device = FakeVideoDevice(offered: [.yuyv], format: FrameFormat(pixelFormat: .yuyv, width: 32, height: 24),
                                     steps: Array(repeating: FakeVideoDevice.Step.frames(count: 1, fill: 200), count: 400) + [.unplug])
        device.pollDelay = 0.005
        var options = LiveOptions()
        options.reconnectInitialDelaySeconds = 0.01
        options.reconnectMaxDelaySeconds = 0.05
        let pipeline = LivePipeline(source: V4L2Capture(device: device), segmenter: BrightnessSegmenter(inputSize: 8),
                                    sinks: [server.sink], options: options, log: LiveLog(identity: identity) { _ in })
        box.mutate { $0 = pipeline }
        let done = runInBackground(pipeline)
        waitFor("masks") { pipeline.statistics.segmented >= 2 }
        // Before the unplug (400 frames, 2 s at the fake camera's pace) the preview is healthy.
        if pipeline.statistics.deviceFaults == 0 {
            let healthy = try fetch(base + "/health")
            if pipeline.statistics.deviceFaults == 0 { XCTAssertEqual(healthy.status, 200) }
        }
        waitFor("the unplug") { pipeline.statistics.deviceFaults >= 1 }
        let lost = try fetch(base + "/health")
        XCTAssertEqual(lost.status, 503)
        XCTAssertEqual(String(decoding: lost.body, as: UTF8.self), "no video\n")
        XCTAssertEqual(try fetch(base + "/snapshot.jpg").status, 503)
        pipeline.requestStop()
        done.wait()
    }

    /// A viewer that opens the stream and never reads: its socket fills, it is dropped, and meanwhile the
    /// pipeline keeps displaying frames and a second, normal viewer keeps receiving them.
    func testSlowClientIsDroppedWithoutStallingThePipeline() throws {
        let box = Locked<LivePipeline?>(nil)
        var settings = PreviewServer.Settings()
        settings.sendBufferBytes = 8192
        settings.sendTimeoutSeconds = 0.5
        settings.jpegQuality = 95
        let server = try makeServer(settings) { box.read() }
        var options = LiveOptions()
        options.motionCompensation = true
        let pipeline = LivePipeline(source: NoiseSource(width: 320, height: 240, period: 0.01),
                                    segmenter: BrightnessSegmenter(inputSize: 16), sinks: [server.sink],
                                    options: options, log: LiveLog(identity: identity) { _ in })
        box.mutate { $0 = pipeline }
        let done = runInBackground(pipeline)
        waitFor("frames") { pipeline.statistics.displayed >= 5 }

        // The slow viewer: a tiny receive buffer, one request, then nothing read.
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(client, 0)
        defer { close(client) }
        var small: Int32 = 4096
        setsockopt(client, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(server.port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        XCTAssertEqual(connected, 0)
        let request = Array("GET /stream.mjpg HTTP/1.1\r\nHost: test\r\n\r\n".utf8)
        XCTAssertEqual(request.withUnsafeBytes { send(client, $0.baseAddress, $0.count, 0) }, request.count)
        let displayedAtConnect = pipeline.statistics.displayed

        waitFor("the slow client to be dropped") { server.droppedClients >= 1 }
        let displayedAtDrop = pipeline.statistics.displayed
        XCTAssertGreaterThan(displayedAtDrop, displayedAtConnect, "frames kept flowing while the client was stuck")
        // And afterwards, with a normal viewer, frames still flow and are served.
        let streamedBefore = server.streamedFrames
        let viewer = try fetch("http://127.0.0.1:\(server.port)/stream.mjpg", maxTime: 2)
        XCTAssertEqual(viewer.status, 200)
        XCTAssertGreaterThan(server.streamedFrames, streamedBefore)
        waitFor("more frames") { pipeline.statistics.displayed >= displayedAtDrop + 20 }
        XCTAssertEqual(server.droppedClients, 1, "the normal viewer was not dropped")
        pipeline.requestStop()
        done.wait()
    }
}
