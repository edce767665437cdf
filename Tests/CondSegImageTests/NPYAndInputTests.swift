// .npy tests (files written by numpy read back, our files round-trip and keep numpy's header layout) and
// ModelInput tests (BGR planar order, values equal to numpy's float32(p / 255.0)).
import Foundation
import XCTest
@testable import CondSegImage

final class NPYAndInputTests: XCTestCase {
    func testReadsArraysWrittenByNumPy() throws {
        let float32 = try NPY.read(path: try Fixtures.path("npy-f4-2x3x4.npy"))
        XCTAssertEqual(float32.shape, [2, 3, 4])
        XCTAssertEqual(float32.values, (0..<24).map { Float($0) * 0.5 - 3 })
        let float64 = try NPY.read(path: try Fixtures.path("npy-f8-5.npy"))
        XCTAssertEqual(float64.shape, [5])
        XCTAssertEqual(float64.values, [Float(0.1), -2.5, Float(1e-3), 7, Float(1e30)])
    }

    func testEncodingIsByteIdenticalToNumPySave() throws {
        // npy-f4-2x3x4.npy was written by numpy.save; our encoder must produce the very same bytes.
        let numpyBytes = try Fixtures.bytes("npy-f4-2x3x4.npy")
        let ours = try NPY.encode((0..<24).map { Float($0) * 0.5 - 3 }, shape: [2, 3, 4])
        XCTAssertEqual(ours, numpyBytes)
    }

    func testWriteReadRoundTripAndHeaderLayout() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let values: [Float] = (0..<60).map { Float($0) * 0.25 - 7.5 } + [.infinity, -0.0, .leastNonzeroMagnitude]
        let path = folder + "/tensor.npy"
        try NPY.write(values, shape: [3, 7, 3], to: path)
        let back = try NPY.read(path: path)
        XCTAssertEqual(back.shape, [3, 7, 3])
        XCTAssertEqual(back.values.map(\.bitPattern), values.map(\.bitPattern))
        // Layout numpy.load expects: magic, v1.0, little-endian header length, data aligned to 64 bytes.
        let raw = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(Array(raw.prefix(8)), [0x93] + Array("NUMPY".utf8) + [1, 0])
        let headerLength = Int(raw[8]) | Int(raw[9]) << 8
        XCTAssertEqual((10 + headerLength) % 64, 0)
        XCTAssertEqual(raw.count, 10 + headerLength + 4 * values.count)
        let header = String(decoding: raw[10..<(10 + headerLength)], as: UTF8.self)
        XCTAssertTrue(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 7, 3), }"), header)
        XCTAssertTrue(header.hasSuffix("\n"))
        // One-dimensional shapes use Python's one-tuple syntax.
        try NPY.write([1, 2], shape: [2], to: path)
        let oneDimensional = String(decoding: [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))[10..<74], as: UTF8.self)
        XCTAssertTrue(oneDimensional.contains("'shape': (2,)"), oneDimensional)
        XCTAssertEqual(try NPY.read(path: path).values, [1, 2])
    }

    func testRejectsMismatchedShapeAndBadFiles() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        XCTAssertThrowsError(try NPY.write([1, 2, 3], shape: [2, 2], to: folder + "/bad.npy")) { error in
            XCTAssertTrue("\(error)".contains("bad.npy"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/bad.npy"))
        // A truncated copy of a numpy file.
        let numpyBytes = try Fixtures.bytes("npy-f4-2x3x4.npy")
        let truncated = folder + "/truncated.npy"
        try Data(numpyBytes.dropLast(5)).write(to: URL(fileURLWithPath: truncated))
        XCTAssertThrowsError(try NPY.read(path: truncated)) { error in
            XCTAssertTrue("\(error)".hasPrefix(truncated + ": "), "\(error)")
        }
        let text = folder + "/text.npy"
        try Data("hello".utf8).write(to: URL(fileURLWithPath: text))
        XCTAssertThrowsError(try NPY.read(path: text)) { error in
            XCTAssertTrue("\(error)".hasPrefix(text + ": "), "\(error)")
        }
    }

    func testModelInputIsPlanarBGRWithNumPyValues() throws {
        let numpyTable = try NPY.read(path: try Fixtures.path("npy-div255.npy")).values
        XCTAssertEqual(numpyTable.count, 256)
        // Every byte value appears in some channel: 2x43 image with R = i, G = 255 - i, B = (7 i) mod 256.
        let width = 43, height = 2, count = width * height
        var pixels = [UInt8](repeating: 0, count: count * 3)
        for index in 0..<count {
            let value = (index * 3) % 256
            pixels[3 * index] = UInt8(value)
            pixels[3 * index + 1] = UInt8(255 - value)
            pixels[3 * index + 2] = UInt8((7 * index) % 256)
        }
        let image = Image8(width: width, height: height, channels: 3, pixels: pixels)
        let bgr = ModelInput.planar(image, bgr: true, scale: 1 / 255)
        let rgb = ModelInput.planar(image, bgr: false, scale: 1 / 255)
        XCTAssertEqual(bgr.count, 3 * count)
        for index in 0..<count {
            let red = numpyTable[Int(pixels[3 * index])], green = numpyTable[Int(pixels[3 * index + 1])]
            let blue = numpyTable[Int(pixels[3 * index + 2])]
            XCTAssertEqual([bgr[index], bgr[count + index], bgr[2 * count + index]].map(\.bitPattern),
                           [blue, green, red].map(\.bitPattern), "BGR at \(index)")
            XCTAssertEqual([rgb[index], rgb[count + index], rgb[2 * count + index]].map(\.bitPattern),
                           [red, green, blue].map(\.bitPattern), "RGB at \(index)")
        }
        // The whole table, bit for bit, and a scale that is not 1/n.
        XCTAssertEqual(ModelInput.valueTable(scale: 1 / 255).map(\.bitPattern), numpyTable.map(\.bitPattern))
        XCTAssertEqual(ModelInput.valueTable(scale: 0.3)[10], Float(10) * 0.3)
    }
}
