// FixtureSupport.swift: locating and reading the capture fixtures (Tests/Fixtures/capture/, made by
// scripts/make-capture-fixtures.py with OpenCV), plus small helpers shared by the capture tests.
import CondSegCapture
import CondSegImage
import Foundation
import XCTest

enum CaptureFixtures {
    /// Tests/Fixtures/capture beside this test file.
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").appendingPathComponent("capture")

    static func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    /// The bytes of a fixture; a missing file fails the test with the path it looked at.
    static func bytes(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> [UInt8] {
        let url = folder.appendingPathComponent(name)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            XCTFail("missing fixture \(url.path) (regenerate with python3 scripts/make-capture-fixtures.py)", file: file, line: line)
            throw CocoaError(.fileNoSuchFile)
        }
        return [UInt8](data)
    }

    static func floats(_ name: String) throws -> [Float] {
        let raw = try bytes(name)
        return raw.withUnsafeBytes { pointer in
            (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: pointer.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }
}

/// A temporary folder removed at the end of the test.
func makeTemporaryFolder(_ testCase: XCTestCase) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("condseg-capture-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    testCase.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url.path
}

/// Naive BT.601 limited-range YUV → RGB of one sample in float, written independently of the library:
/// R = 1.164383(Y−16) + 1.596027(V−128), G = 1.164383(Y−16) − 0.391762(U−128) − 0.812968(V−128),
/// B = 1.164383(Y−16) + 2.017232(U−128), each clamped to 0…255.
func naiveYUVToRGB(_ y: UInt8, _ u: UInt8, _ v: UInt8) -> (Double, Double, Double) {
    let c = 1.164383 * (Double(y) - 16), d = Double(u) - 128, e = Double(v) - 128
    func clamp(_ value: Double) -> Double { min(max(value, 0), 255) }
    return (clamp(c + 1.596027 * e), clamp(c - 0.391762 * d - 0.812968 * e), clamp(c + 2.017232 * d))
}

/// A YUYV frame of a flat colour (every pixel the same Y, U, V).
func flatYUYVFrame(width: Int, height: Int, y: UInt8, u: UInt8 = 128, v: UInt8 = 128, sequence: UInt64 = 0,
                   time: UInt64 = 0) -> Frame {
    var bytes = [UInt8](repeating: 0, count: width * height * 2)
    for pair in stride(from: 0, to: bytes.count, by: 4) {
        bytes[pair] = y; bytes[pair + 1] = u; bytes[pair + 2] = y; bytes[pair + 3] = v
    }
    return Frame(format: FrameFormat(pixelFormat: .yuyv, width: width, height: height), bytes: bytes,
                 captureTimeNanos: time, sequence: sequence)
}
