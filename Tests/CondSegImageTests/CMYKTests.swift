// CMYKTests.swift — CMYK/YCCK JPEGs (print workflows, Photoshop) decode to RGB instead of failing with
// "Unsupported color conversion request". The file is made here with TurboJPEG from known CMYK values; the
// expected RGB is the ink product of Adobe's inverted CMYK, R = C·K/255 (likewise G from M, B from Y).

import CondSegImage
import CTurboJPEG
import Foundation
import XCTest

final class CMYKTests: XCTestCase {
    /// A 16×16 YCCK JPEG (quality 100, no chroma subsampling) of four flat 8×8 quadrants.
    func makeCMYKJPEG(_ quadrants: [[UInt8]]) throws -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: 16 * 16 * 4)
        for y in 0..<16 {
            for x in 0..<16 {
                let colour = quadrants[(y / 8) * 2 + x / 8]
                for c in 0..<4 { pixels[(y * 16 + x) * 4 + c] = colour[c] }
            }
        }
        let handle = try XCTUnwrap(tjInitCompress())
        defer { tjDestroy(handle) }
        var buffer: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let status = tjCompress2(handle, pixels, 16, 0, 16, Int32(TJPF_CMYK.rawValue), &buffer, &size,
                                 Int32(TJSAMP_444.rawValue), 100, 0)
        XCTAssertEqual(status, 0)
        defer { tjFree(buffer) }
        return Array(UnsafeBufferPointer(start: try XCTUnwrap(buffer), count: Int(size)))
    }

    func testCMYKJPEGDecodesToTheInkProduct() throws {
        let quadrants: [[UInt8]] = [[255, 255, 255, 255], [200, 100, 50, 255], [255, 255, 255, 128], [40, 220, 160, 200]]
        let jpeg = try makeCMYKJPEG(quadrants)
        let image = try ImageCodec.decodeRGB(data: jpeg, name: "cmyk.jpg")
        XCTAssertEqual([image.width, image.height, image.channels], [16, 16, 3])
        for (index, colour) in quadrants.enumerated() {
            // The centre pixel of each quadrant.
            let x = (index % 2) * 8 + 4, y = (index / 2) * 8 + 4
            for c in 0..<3 {
                let expected = (Double(colour[c]) * Double(colour[3]) / 255).rounded()
                let actual = Double(image.pixels[(y * 16 + x) * 3 + c])
                XCTAssertLessThanOrEqual(abs(actual - expected), 3, "quadrant \(index) channel \(c): \(actual) vs \(expected)")
            }
        }
        let gray = try ImageCodec.decodeGray(data: jpeg, name: "cmyk.jpg")
        XCTAssertEqual([gray.width, gray.height, gray.channels], [16, 16, 1])
        XCTAssertGreaterThanOrEqual(gray.pixels[4 * 16 + 4], 252, "white quadrant")
        XCTAssertLessThanOrEqual(abs(Int(gray.pixels[12 * 16 + 4]) - 128), 3, "grey quadrant: K' = 128")
    }
}
