// SystemdNotifyTests.swift: the service-manager notifications of `condseg live` (SystemdNotify.swift), received
// on a real Unix datagram socket as systemd would receive them: the address forms of $NOTIFY_SOCKET, and the
// watchdog sink's message sequence (READY with the first frame, rate-limited WATCHDOG pings, STATUS on loss and
// recovery, STOPPING at the end).
@testable import CondSegCapture
import CondSegImage
import Foundation
import Glibc
import XCTest

final class SystemdNotifyTests: XCTestCase {
    /// A datagram socket bound to `name` ("/path" or "@abstract"), receiving without blocking.
    final class Receiver {
        let descriptor: Int32
        init(name: String) throws {
            descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            var bytes = Array(name.utf8)
            let abstract = bytes.first == UInt8(ascii: "@")
            if abstract { bytes[0] = 0 }
            withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
            let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
            let status = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
            }
            guard descriptor >= 0, status == 0 else { throw POSIXError(.EADDRINUSE) }
        }
        deinit { close(descriptor) }

        /// Every datagram waiting now, in arrival order.
        func messages() -> [String] {
            var received: [String] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = recv(descriptor, &buffer, buffer.count, 0)
                if count < 0 { return received }
                received.append(String(decoding: buffer[0..<count], as: UTF8.self))
            }
        }
    }

    func result() -> SegmentedResult {
        let image = Image8(width: 4, height: 2, channels: 3)
        let frame = Frame(format: FrameFormat(pixelFormat: .rgb24, width: 4, height: 2), bytes: image.pixels,
                          captureTimeNanos: 0, sequence: 0)
        return SegmentedResult(frame: frame, rgb: image, probabilities: [0], probabilitySize: 1,
                               mask: Image8(width: 4, height: 2, channels: 1), overlay: image)
    }

    func testNoSocketMeansNoNotifier() {
        XCTAssertNil(SystemdNotifier(environment: [:]))
        XCTAssertNil(SystemdNotifier(environment: ["NOTIFY_SOCKET": ""]))
        XCTAssertNil(SystemdNotifier(environment: ["NOTIFY_SOCKET": "vsock:2:1234"]), "only Unix socket addresses")
        XCTAssertNil(SystemdNotifier(environment: ["NOTIFY_SOCKET": "/" + String(repeating: "x", count: 200)]))
    }

    func testPathAndAbstractSockets() throws {
        let path = try makeTemporaryFolder(self) + "/notify"
        let receiver = try Receiver(name: path)
        let notifier = try XCTUnwrap(SystemdNotifier(environment: ["NOTIFY_SOCKET": path]))
        XCTAssertTrue(notifier.send("READY=1"))
        XCTAssertEqual(receiver.messages(), ["READY=1"])

        let abstractName = "@condseg-notify-test-\(getpid())"
        let abstractReceiver = try Receiver(name: abstractName)
        let abstractNotifier = try XCTUnwrap(SystemdNotifier(environment: ["NOTIFY_SOCKET": abstractName]))
        XCTAssertTrue(abstractNotifier.send("STATUS=x\nWATCHDOG=1"))
        XCTAssertEqual(abstractReceiver.messages(), ["STATUS=x\nWATCHDOG=1"])

        let gone = try XCTUnwrap(SystemdNotifier(environment: ["NOTIFY_SOCKET": path + "-absent"]))
        XCTAssertFalse(gone.send("READY=1"), "a socket nobody listens on is reported, not a crash")
    }

    func testWatchdogSinkSequence() throws {
        let path = try makeTemporaryFolder(self) + "/notify"
        let receiver = try Receiver(name: path)
        let notifier = try XCTUnwrap(SystemdNotifier(environment: ["NOTIFY_SOCKET": path]))

        // An hour between pings: after READY, further frames send nothing until video is lost and comes back.
        let slow = SystemdWatchdogSink(notifier: notifier, pingInterval: 3600)
        try slow.segmented(result())
        try slow.segmented(result())
        try slow.segmented(result())
        slow.videoLost()
        try slow.segmented(result())
        try slow.segmented(result())
        try slow.finish()
        XCTAssertEqual(receiver.messages(), ["READY=1\nSTATUS=segmenting\nWATCHDOG=1", "STATUS=no video (reopening the device)",
                                             "STATUS=segmenting\nWATCHDOG=1", "STOPPING=1"])

        // No minimum interval: READY once, then a ping for every frame.
        let fast = SystemdWatchdogSink(notifier: notifier, pingInterval: 0)
        for _ in 0..<3 { try fast.segmented(result()) }
        XCTAssertEqual(receiver.messages(), ["READY=1\nSTATUS=segmenting\nWATCHDOG=1", "WATCHDOG=1", "WATCHDOG=1"])
    }
}
