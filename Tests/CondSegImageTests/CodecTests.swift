// Decoding tests: JPEG colour and gray decodes (and EXIF orientation) against cv2.imread references, PNG variants (gray, alpha,
// 16-bit, palette, 1-bit) against cv2.imread, PNG and JPEG encode round trips.
import Foundation
import XCTest
@testable import CondSegImage

final class CodecTests: XCTestCase {
    func testJPEGDecodeMatchesOpenCVChecksumsAndSamples() throws {
        let manifest = try Fixtures.manifest()
        let jpeg = try XCTUnwrap(manifest["jpeg"] as? [String: [String: [String: Any]]])
        XCTAssertEqual(jpeg.count, 4, "expected two images and two masks in the manifest")
        for (name, references) in jpeg.sorted(by: { $0.key < $1.key }) {
            let path = try Fixtures.path(name)
            for (mode, decoded) in [("rgb", try ImageCodec.decodeRGB(path: path)), ("gray", try ImageCodec.decodeGray(path: path))] {
                let reference = try XCTUnwrap(references[mode])
                XCTAssertEqual(decoded.width, reference["width"] as? Int, "\(name) \(mode) width")
                XCTAssertEqual(decoded.height, reference["height"] as? Int, "\(name) \(mode) height")
                XCTAssertEqual(decoded.channels, reference["channels"] as? Int, "\(name) \(mode) channels")
                XCTAssertEqual(fnv1a64(decoded.pixels), reference["fnv1a64"] as? String, "\(name) \(mode) checksum of all pixels")
                for sample in try XCTUnwrap(reference["samples"] as? [[Int]]) {
                    let x = sample[0], y = sample[1]
                    let base = (y * decoded.width + x) * decoded.channels
                    XCTAssertEqual(decoded.pixels[base..<(base + decoded.channels)].map(Int.init), Array(sample[2...]),
                                   "\(name) \(mode) pixel (\(x), \(y))")
                }
            }
        }
    }

    func testJPEGDecodeMatchesOpenCVPixelByPixel() throws {
        let decoded = try ImageCodec.decodeRGB(path: try Fixtures.path("kvasir-420.jpg"))
        let reference = try ImageCodec.decodeRGB(path: try Fixtures.path("kvasir-420.cv2-color.png"))
        XCTAssertEqual(decoded.width, 332)
        XCTAssertEqual(decoded.height, 487)
        XCTAssertNil(firstDifference(decoded.pixels, reference.pixels), "kvasir-420.jpg differs from cv2.imread")
        // decodeJPEG (the MJPEG path) gives the same pixels from bytes.
        let fromBytes = try ImageCodec.decodeJPEG(data: try Fixtures.bytes("kvasir-420.jpg"), name: "frame")
        XCTAssertEqual(fromBytes, decoded)
        for key in ["kvasir-420", "kvasir-444"] {
            let gray = try ImageCodec.decodeGray(path: try Fixtures.path("\(key)-mask.jpg"))
            let grayReference = try ImageCodec.decodeGray(path: try Fixtures.path("\(key)-mask.cv2-gray.png"))
            XCTAssertEqual(gray.channels, 1)
            XCTAssertNil(firstDifference(gray.pixels, grayReference.pixels), "\(key)-mask.jpg gray differs from cv2 IMREAD_GRAYSCALE")
        }
    }

    func testEXIFOrientationAppliedLikeOpenCV() throws {
        let manifest = try Fixtures.manifest()
        let entries = try XCTUnwrap(manifest["exif"] as? [[String: Any]])
        XCTAssertEqual(entries.count, 8)
        for entry in entries {
            let name = try XCTUnwrap(entry["file"] as? String)
            let path = try Fixtures.path(name)
            XCTAssertEqual(ExifOrientation.orientation(ofJPEG: try Fixtures.bytes(name)), entry["orientation"] as? Int, name)
            let color = try ImageCodec.decodeRGB(path: path)
            let gray = try ImageCodec.decodeGray(path: path)
            let colorReference = try ImageCodec.decodeRGB(path: try Fixtures.path(try XCTUnwrap(entry["color"] as? String)))
            let grayReference = try ImageCodec.decodeGray(path: try Fixtures.path(try XCTUnwrap(entry["gray"] as? String)))
            XCTAssertEqual(color, colorReference, "\(name): colour decode differs from cv2.imread")
            XCTAssertEqual(gray, grayReference, "\(name): gray decode differs from cv2 IMREAD_GRAYSCALE")
        }
        // Real Kvasir files carry no EXIF.
        XCTAssertEqual(ExifOrientation.orientation(ofJPEG: try Fixtures.bytes("kvasir-420.jpg")), 1)
    }

    func testPNGVariantsDecodeLikeOpenCV() throws {
        let manifest = try Fixtures.manifest()
        let entries = try XCTUnwrap(manifest["png"] as? [[String: String]])
        XCTAssertGreaterThanOrEqual(entries.count, 7)
        for entry in entries {
            let name = try XCTUnwrap(entry["file"])
            let color = try ImageCodec.decodeRGB(path: try Fixtures.path(name))
            let gray = try ImageCodec.decodeGray(path: try Fixtures.path(name))
            // References are 8-bit RGB / gray PNGs written by cv2.imwrite of cv2.imread's result.
            let colorReference = try ImageCodec.decodeRGB(path: try Fixtures.path(try XCTUnwrap(entry["color"])))
            let grayReference = try ImageCodec.decodeGray(path: try Fixtures.path(try XCTUnwrap(entry["gray"])))
            XCTAssertEqual(color.channels, 3, name)
            XCTAssertEqual(gray.channels, 1, name)
            XCTAssertEqual(color.width, colorReference.width, name)
            XCTAssertEqual(color.height, colorReference.height, name)
            XCTAssertNil(firstDifference(color.pixels, colorReference.pixels), "\(name): colour decode differs from cv2.imread")
            XCTAssertNil(firstDifference(gray.pixels, grayReference.pixels), "\(name): gray decode differs from cv2 IMREAD_GRAYSCALE")
        }
    }

    func testPNGRoundTripOneAndThreeChannels() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var generator = SystemRandomNumberGenerator()
        for channels in [1, 3] {
            let image = Image8(width: 31, height: 17, channels: channels,
                               pixels: (0..<(31 * 17 * channels)).map { _ in UInt8.random(in: 0...255, using: &generator) })
            let path = folder + "/round-\(channels).png"
            try ImageCodec.writePNG(image, to: path)
            let raw = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            XCTAssertEqual(Array(raw.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "PNG signature")
            // IHDR colour type byte: 0 gray, 2 RGB.
            XCTAssertEqual(raw[25], channels == 1 ? 0 : 2)
            let back = channels == 1 ? try ImageCodec.decodeGray(path: path) : try ImageCodec.decodeRGB(path: path)
            XCTAssertEqual(back, image, "\(channels)-channel PNG round trip")
            // No temporary files are left next to the output.
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix(".") }, [])
        }
    }

    func testJPEGEncodeRoundTripIsClose() throws {
        // A smooth gradient survives quality-95 JPEG within a few levels.
        let width = 64, height = 48
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                pixels[(y * width + x) * 3] = UInt8(x * 4)
                pixels[(y * width + x) * 3 + 1] = UInt8(y * 5)
                pixels[(y * width + x) * 3 + 2] = 128
            }
        }
        let image = Image8(width: width, height: height, channels: 3, pixels: pixels)
        let encoded = try ImageCodec.encodeJPEG(image, quality: 95)
        XCTAssertEqual(Array(encoded.prefix(3)), [0xFF, 0xD8, 0xFF])
        let back = try ImageCodec.decodeJPEG(data: encoded, name: "gradient")
        XCTAssertEqual(back.width, width)
        XCTAssertEqual(back.height, height)
        let worst = zip(back.pixels, image.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, 6)
        XCTAssertGreaterThan(try ImageCodec.encodeJPEG(image, quality: 95).count, try ImageCodec.encodeJPEG(image, quality: 10).count)
    }
}
