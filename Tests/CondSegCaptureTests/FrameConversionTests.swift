// FrameConversionTests.swift: the fused YUV/RGB → model-input pass against two independent two-step paths
// (a naive float conversion written here + Resize.bilinear + ModelInput.planar, and OpenCV's own
// cvtColor + resize from the fixtures), whole-frame RGB against OpenCV's cvtColor, and the MJPEG path.
import CondSegCapture
import CondSegImage
import XCTest

final class FrameConversionTests: XCTestCase {
    let width = 64, height = 48

    /// Fixture frames of the same picture in every layout the fused pass reads.
    func fixtureFrames() throws -> [(String, Frame)] {
        let layouts: [(String, PixelFormat)] = [("yuyv", .yuyv), ("uyvy", .uyvy), ("nv12", .nv12), ("i420", .yuv420p)]
        return try layouts.map { name, format in
            (name, Frame(format: FrameFormat(pixelFormat: format, width: width, height: height),
                         bytes: try CaptureFixtures.bytes("frame.\(name)"), captureTimeNanos: 0, sequence: 0))
        }
    }

    /// The picture's Y, U, V at (x, y) read straight from the I420 fixture (the same samples every layout holds).
    func i420Sample(_ planes: [UInt8], x: Int, y: Int) -> (UInt8, UInt8, UInt8) {
        let chroma = (y / 2) * (width / 2) + x / 2
        return (planes[y * width + x], planes[width * height + chroma], planes[width * height * 5 / 4 + chroma])
    }

    /// Two-step reference: naive RGB24 (rounded), Resize.bilinear (OpenCV-exact), ModelInput.planar.
    func twoStepInput(size: Int, bgr: Bool) throws -> [Float] {
        let planes = try CaptureFixtures.bytes("frame.i420")
        var pixels = [UInt8]()
        for y in 0..<height {
            for x in 0..<width {
                let (l, u, v) = i420Sample(planes, x: x, y: y)
                let (r, g, b) = naiveYUVToRGB(l, u, v)
                pixels += [UInt8(r.rounded()), UInt8(g.rounded()), UInt8(b.rounded())]
            }
        }
        let rgb = Image8(width: width, height: height, channels: 3, pixels: pixels)
        return ModelInput.planar(Resize.bilinear(rgb, width: size, height: size), bgr: bgr, scale: 1.0 / 255)
    }

    /// Fused vs two-step. Bound, in 0…255 units: the two-step path rounds each converted pixel (≤ 0.5, kept
    /// by the convex blend), quantises each axis' weights to 1/2048 (≤ 2·255/4096 ≈ 0.125 per axis) and
    /// rounds the resized byte (≤ 0.5): 0.5 + 0.25 + 0.5 = 1.25; the coefficient sets differ by < 0.01.
    func testFusedInputMatchesTwoStepPathForEveryLayout() throws {
        let tolerance: Float = 1.26 / 255
        for size in [32, 20, 64, 100] {
            for bgr in [true, false] {
                let reference = try twoStepInput(size: size, bgr: bgr)
                for (name, frame) in try fixtureFrames() {
                    let fused = try FrameConversion.modelInput(frame, size: size, bgr: bgr, scale: 1.0 / 255)
                    XCTAssertEqual(fused.count, reference.count)
                    let worst = zip(fused, reference).map { abs($0 - $1) }.max() ?? .infinity
                    XCTAssertLessThanOrEqual(worst, tolerance, "\(name) → \(size)×\(size) bgr=\(bgr): max error \(worst * 255)/255")
                }
            }
        }
    }

    /// Fused vs OpenCV (cvtColor YUYV→RGB, resize INTER_LINEAR 32×32, BGR, /255). OpenCV's conversion uses
    /// 20-bit fixed-point coefficients and rounds (≤ 0.5 + 0.01), then the resize bound above: 1.26 + 0.51.
    func testFusedInputMatchesOpenCVTwoStep() throws {
        let expected = try CaptureFixtures.floats("opencv-input32-from-yuyv.f32")
        let frame = try fixtureFrames().first { $0.0 == "yuyv" }!.1
        let fused = try FrameConversion.modelInput(frame, size: 32, bgr: true, scale: 1.0 / 255)
        XCTAssertEqual(fused.count, expected.count)
        let worst = zip(fused, expected).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThanOrEqual(worst, 1.77 / 255, "max error \(worst * 255)/255")
    }

    /// Whole-frame RGB vs OpenCV's cvtColor: both round the same real value (OpenCV in fixed point), so they
    /// differ by at most one level.
    func testWholeFrameRGBMatchesOpenCV() throws {
        for (name, frame) in try fixtureFrames() {
            let expected = try CaptureFixtures.bytes("opencv-rgb-from-\(name).rgb")
            let rgb = try FrameConversion.rgb(frame)
            XCTAssertEqual(rgb.width, width); XCTAssertEqual(rgb.height, height); XCTAssertEqual(rgb.channels, 3)
            let differences = zip(rgb.pixels, expected).map { abs(Int($0) - Int($1)) }
            XCTAssertLessThanOrEqual(differences.max() ?? 99, 1, "\(name): largest difference from OpenCV")
        }
    }

    /// Whole-frame RGB vs the naive float formula rounded to nearest: the 16-bit fixed-point tables are
    /// within 2⁻¹⁶·3·255 of it, so only values within that of a .5 can round the other way: ≤ 1 level.
    func testWholeFrameRGBMatchesNaiveFormula() throws {
        let planes = try CaptureFixtures.bytes("frame.i420")
        let frame = try fixtureFrames().first { $0.0 == "nv12" }!.1
        let rgb = try FrameConversion.rgb(frame)
        var exact = 0
        for y in 0..<height {
            for x in 0..<width {
                let (l, u, v) = i420Sample(planes, x: x, y: y)
                let (r, g, b) = naiveYUVToRGB(l, u, v)
                let offset = (y * width + x) * 3
                for (got, want) in zip(rgb.pixels[offset..<offset + 3], [r, g, b]) {
                    XCTAssertLessThanOrEqual(abs(Double(got) - want.rounded()), 1, "pixel \(x),\(y)")
                    if Double(got) == want.rounded() { exact += 1 }
                }
            }
        }
        XCTAssertGreaterThan(exact, width * height * 3 * 99 / 100, "almost every value should round the same way")
    }

    /// Known answers: limited-range black and white, and BT.709's red for a pure Cr excursion.
    func testKnownColours() throws {
        let white = try FrameConversion.rgb(flatYUYVFrame(width: 4, height: 2, y: 235))
        XCTAssertEqual(Set(white.pixels), [255])
        let black = try FrameConversion.rgb(flatYUYVFrame(width: 4, height: 2, y: 16))
        XCTAssertEqual(Set(black.pixels), [0])
        var hd = flatYUYVFrame(width: 4, height: 2, y: 126, u: 128, v: 240)
        hd.format.encoding = .bt709Limited
        let pixel = try FrameConversion.rgb(hd).pixels.prefix(3)
        // BT.709: R = 1.164383·110 + 1.792741·112 = 328.9 → 255; G = 128.08 − 0.532909·112 = 68.4; B = 128.08.
        XCTAssertEqual(Array(pixel), [255, 68, 128])
        let input = try FrameConversion.modelInput(flatYUYVFrame(width: 8, height: 8, y: 235), size: 4, bgr: true, scale: 0.5)
        XCTAssertEqual(Set(input), [127.5])
    }

    /// Padded RGB24 rows (bytesPerLine > 3·width) are read through the stride.
    func testRGB24WithRowPaddingMatchesResizeOfUnpaddedImage() throws {
        let source = try CaptureFixtures.bytes("source-64x48.rgb")
        let stride = width * 3 + 16
        var padded = [UInt8](repeating: 7, count: stride * height)
        for y in 0..<height { padded.replaceSubrange(y * stride..<y * stride + width * 3, with: source[y * width * 3..<(y + 1) * width * 3]) }
        let frame = Frame(format: FrameFormat(pixelFormat: .rgb24, width: width, height: height, bytesPerLine: stride),
                          bytes: padded, captureTimeNanos: 0, sequence: 0)
        let image = Image8(width: width, height: height, channels: 3, pixels: source)
        XCTAssertEqual(try FrameConversion.rgb(frame), image)
        let reference = ModelInput.planar(Resize.bilinear(image, width: 30, height: 30), bgr: false, scale: 1.0 / 255)
        let fused = try FrameConversion.modelInput(frame, size: 30, bgr: false, scale: 1.0 / 255)
        // Only the resize differs: weight quantisation 0.25 + final rounding 0.5.
        let worst = zip(fused, reference).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThanOrEqual(worst, 0.76 / 255)
    }

    func testMJPEGFramesDecodeAndBrokenOnesThrow() throws {
        let image = Image8(width: width, height: height, channels: 3, pixels: try CaptureFixtures.bytes("source-64x48.rgb"))
        let jpeg = try ImageCodec.encodeJPEG(image, quality: 90)
        let frame = Frame(format: FrameFormat(pixelFormat: .mjpeg, width: width, height: height), bytes: jpeg,
                          captureTimeNanos: 0, sequence: 3)
        let decoded = try FrameConversion.rgb(frame)
        XCTAssertEqual(decoded, try ImageCodec.decodeJPEG(data: jpeg, name: "reference"))
        let input = try FrameConversion.modelInput(frame, size: 16, bgr: true, scale: 1.0 / 255)
        XCTAssertEqual(input.count, 3 * 16 * 16)

        for broken in [Array(jpeg.prefix(40)), [UInt8](repeating: 0x55, count: 500), []] {
            var bad = frame
            bad.bytes = broken
            XCTAssertThrowsError(try FrameConversion.modelInput(bad, size: 16, bgr: true, scale: 1)) { error in
                XCTAssertTrue("\(error)".contains("corrupt JPEG"), "\(error)")
            }
        }
    }

    func testPartialFrameIsRejected() throws {
        var frame = flatYUYVFrame(width: 8, height: 4, y: 100)
        frame.bytes.removeLast(10)
        XCTAssertThrowsError(try FrameConversion.modelInput(frame, size: 4, bgr: true, scale: 1)) { error in
            XCTAssertTrue("\(error)".contains("partial frame: 54 of 64 bytes"), "\(error)")
        }
    }
}
