// SimulatedVideoDeviceTests.swift: the simulated camera's own bookkeeping: every fault it answers with is
// tallied by kind (what a soak compares with the pipeline's counters), and the soak schedule is seeded (the same
// seed gives the same faults), injects every kind, and keeps about the asked fault rate.
import CondSegCapture
import Glibc
import XCTest

final class SimulatedVideoDeviceTests: XCTestCase {
    func testEveryAnsweredFaultIsTalliedByKind() throws {
        let device = FakeVideoDevice(offered: [.yuyv], format: FrameFormat(pixelFormat: .yuyv, width: 16, height: 8),
                                     steps: [.frames(count: 1), .timeout, .timeout, .frames(count: 1, bytesUsed: 10),
                                             .frames(count: 1, errorFlag: true), .sourceChange(width: 8, height: 4),
                                             .frames(count: 2), .pollError])
        device.replugAfterFailedOpens = 2
        let capture = V4L2Capture(device: device)
        _ = try capture.start()
        for _ in 0..<7 { _ = try capture.next(timeoutMilliseconds: 10) }
        XCTAssertThrowsError(try capture.next(timeoutMilliseconds: 10))
        capture.stop()
        device.steps = [.dequeueError(EIO)]
        _ = try capture.start()
        XCTAssertThrowsError(try capture.next(timeoutMilliseconds: 10))
        capture.stop()
        device.steps = [.unplug]
        _ = try capture.start()
        XCTAssertThrowsError(try capture.next(timeoutMilliseconds: 10))
        capture.stop()
        XCTAssertThrowsError(try capture.start())
        XCTAssertThrowsError(try capture.start())
        _ = try capture.start()

        var expected = FakeVideoDevice.InjectedFaults()
        expected.timeouts = 2
        expected.partialFrames = 1
        expected.flaggedFrames = 1
        expected.resolutionChanges = 1
        expected.pollErrors = 1
        expected.dequeueErrors = 1
        expected.unplugs = 1
        expected.failedOpens = 2
        XCTAssertEqual(device.injectedFaults, expected)
        XCTAssertEqual(expected.deviceFaults, 3)
        XCTAssertEqual(expected.corruptFrames, 2)
        XCTAssertEqual(device.framesCompleted, 5, "1 + partial + flagged + 2")
        XCTAssertEqual(device.protocolViolationCount, 0)
        let report = device.report
        XCTAssertEqual((report["injected"] as? [String: Int])?["failed_opens"], 2)
        XCTAssertEqual((report["injected"] as? [String: Int])?["partial_frames"], 1)
        XCTAssertEqual(report["frames_completed"] as? Int, 5)
        XCTAssertEqual(report["stream_starts"] as? Int, 5, "start, renegotiation, and three reopens")
    }

    /// Polls a soak device `polls` times through the capture (reopening after faults, as the pipeline does) and
    /// returns what it injected and the order of the events seen.
    func drive(_ device: SimulatedVideoDevice, polls: Int) throws -> (SimulatedVideoDevice.InjectedFaults, [String]) {
        let capture = V4L2Capture(device: device)
        _ = try capture.start()
        var events: [String] = []
        for _ in 0..<polls {
            do {
                switch try capture.next(timeoutMilliseconds: 10) {
                case .frame(let frame, let skipped): events.append("frame \(frame.sequence) +\(skipped)")
                case .timeout: events.append("timeout")
                case .corrupt: events.append("corrupt")
                case .formatChanged(let format): events.append("format \(format.width)x\(format.height)")
                case .endOfStream: events.append("end")
                }
            } catch {
                events.append("lost")
                capture.stop()
                while (try? capture.start()) == nil { events.append("open failed") }
            }
        }
        capture.stop()
        return (device.injectedFaults, events)
    }

    func testSoakScheduleIsSeededInjectsEveryKindAndKeepsTheRate() throws {
        let (faults, events) = try drive(.soak(width: 32, height: 16, faultEvery: 50, seed: 3), polls: 14_000)
        let (again, eventsAgain) = try drive(.soak(width: 32, height: 16, faultEvery: 50, seed: 3), polls: 14_000)
        let (other, _) = try drive(.soak(width: 32, height: 16, faultEvery: 50, seed: 4), polls: 14_000)
        XCTAssertEqual(faults, again)
        XCTAssertEqual(events, eventsAgain, "the same seed gives the same run")
        XCTAssertNotEqual(faults, other, "another seed, another schedule")
        for (kind, count) in [("timeouts", faults.timeouts), ("partial", faults.partialFrames), ("flagged", faults.flaggedFrames),
                              ("poll errors", faults.pollErrors), ("dequeue errors", faults.dequeueErrors),
                              ("resolution changes", faults.resolutionChanges), ("unplugs", faults.unplugs)] {
            XCTAssertGreaterThan(count, 10, kind)
        }
        XCTAssertEqual(faults.failedOpens, 2 * faults.unplugs, "each unplug: two refused opens, then the device is back")
        // 14,000 polls at one fault in 50: 280 expected, a binomial spread of about ±16.
        let total = faults.timeouts + faults.corruptFrames + faults.deviceFaults + faults.resolutionChanges
        XCTAssertTrue((230...330).contains(total), "\(total) faults in 14,000 polls")
        // Resolution changes alternate between half size and full size.
        let sizes = events.filter { $0.hasPrefix("format") }
        XCTAssertEqual(sizes.count, faults.resolutionChanges)
        for (index, size) in sizes.enumerated() { XCTAssertEqual(size, index % 2 == 0 ? "format 16x8" : "format 32x16") }
        XCTAssertEqual(events.filter { $0 == "timeout" }.count, faults.timeouts)
        XCTAssertEqual(events.filter { $0 == "corrupt" }.count, faults.corruptFrames)
        XCTAssertEqual(events.filter { $0 == "lost" }.count, faults.deviceFaults)
        XCTAssertEqual(events.filter { $0 == "open failed" }.count, faults.failedOpens)
    }
}
