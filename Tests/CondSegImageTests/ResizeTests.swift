// Resize tests: uint8 bilinear bit-exact against cv2.resize(INTER_LINEAR) outputs (real Kvasir images to
// 256x256, real crops up/down, random images of odd sizes incl. exact 2x), float plane resize within 1e-5.
import Foundation
import XCTest
@testable import CondSegImage

final class ResizeTests: XCTestCase {
    func testUInt8BilinearIsBitExactWithOpenCV() throws {
        let manifest = try Fixtures.manifest()
        let cases = try XCTUnwrap(manifest["resize"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(cases.count, 15)
        for entry in cases {
            let inputName = try XCTUnwrap(entry["input"] as? String)
            let outputName = try XCTUnwrap(entry["output"] as? String)
            let width = try XCTUnwrap(entry["width"] as? Int), height = try XCTUnwrap(entry["height"] as? Int)
            let source: Image8
            let reference: Image8
            if try grayPNG(outputName) {
                source = try ImageCodec.decodeGray(path: try Fixtures.path(inputName))
                reference = try ImageCodec.decodeGray(path: try Fixtures.path(outputName))
            } else {
                source = try ImageCodec.decodeRGB(path: try Fixtures.path(inputName))
                reference = try ImageCodec.decodeRGB(path: try Fixtures.path(outputName))
            }
            let resized = Resize.bilinear(source, width: width, height: height)
            XCTAssertEqual(resized.width, width, outputName)
            XCTAssertEqual(resized.height, height, outputName)
            XCTAssertEqual(resized.channels, reference.channels, outputName)
            if let difference = firstDifference(resized.pixels, reference.pixels) {
                XCTFail("\(inputName) \(source.width)x\(source.height)x\(source.channels) -> \(width)x\(height): " +
                        "\(difference.count) bytes differ from cv2, first at byte \(difference.index)")
            }
        }
    }

    /// Whether a fixture PNG is stored as gray (IHDR colour type 0).
    private func grayPNG(_ name: String) throws -> Bool {
        try Fixtures.bytes(name)[25] == 0
    }

    func testExactHalvingIsTwoByTwoRoundedMean() {
        // OpenCV switches exact 2x downscaling to its area path: (a + b + c + d + 2) >> 2. Check by arithmetic.
        let width = 10, height = 6
        let pixels = (0..<(width * height)).map { UInt8(($0 * 37 + 11) % 256) }
        let image = Image8(width: width, height: height, channels: 1, pixels: pixels)
        let half = Resize.bilinear(image, width: 5, height: 3)
        for y in 0..<3 {
            for x in 0..<5 {
                let top = Int(pixels[2 * y * width + 2 * x]) + Int(pixels[2 * y * width + 2 * x + 1])
                let bottom = Int(pixels[(2 * y + 1) * width + 2 * x]) + Int(pixels[(2 * y + 1) * width + 2 * x + 1])
                let sum = top + bottom
                XCTAssertEqual(Int(half.pixels[y * 5 + x]), (sum + 2) >> 2, "pixel (\(x), \(y))")
            }
        }
    }

    func testSameSizeAndConstantImagesAreUnchanged() {
        let image = Image8(width: 7, height: 5, channels: 3, pixels: (0..<105).map { UInt8($0) })
        XCTAssertEqual(Resize.bilinear(image, width: 7, height: 5), image)
        let constant = Image8(width: 13, height: 9, channels: 3, pixels: [UInt8](repeating: 200, count: 13 * 9 * 3))
        for (width, height) in [(256, 256), (3, 2), (50, 7)] {
            let resized = Resize.bilinear(constant, width: width, height: height)
            XCTAssertTrue(resized.pixels.allSatisfy { $0 == 200 }, "\(width)x\(height)")
        }
    }

    func testFloatPlaneResizeMatchesOpenCV() throws {
        let manifest = try Fixtures.manifest()
        let cases = try XCTUnwrap(manifest["resizeFloat"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(cases.count, 4)
        for entry in cases {
            let input = try NPY.read(path: try Fixtures.path(try XCTUnwrap(entry["input"] as? String)))
            let output = try NPY.read(path: try Fixtures.path(try XCTUnwrap(entry["output"] as? String)))
            let width = try XCTUnwrap(entry["width"] as? Int), height = try XCTUnwrap(entry["height"] as? Int)
            XCTAssertEqual(output.shape, [height, width])
            let resized = Resize.bilinear(plane: input.values, width: input.shape[1], height: input.shape[0],
                                          toWidth: width, toHeight: height)
            XCTAssertEqual(resized.count, output.values.count)
            let worst = zip(resized, output.values).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(worst, 1e-5, "\(input.shape) -> \(height)x\(width)")
        }
    }
}
