// Overlay tests: tint blend arithmetic and the contour band on synthetic masks, checked against a naive
// per-pixel reference written here and against hand-computed pixels.
import XCTest
@testable import CondSegImage

final class OverlayTests: XCTestCase {
    /// Naive reference: a foreground pixel is on the contour when any pixel within Chebyshev distance
    /// `band` is background or outside the frame; contour pixels take the contour colour, other
    /// foreground pixels the rounded blend.
    private func reference(_ frame: Image8, _ mask: [UInt8], _ style: OverlayStyle) -> Image8 {
        var output = frame
        let band = style.contour ? style.contourThickness : 0
        let tint = [style.tint.0, style.tint.1, style.tint.2].map(Double.init)
        let contour = [style.contourColor.0, style.contourColor.1, style.contourColor.2]
        for y in 0..<frame.height {
            for x in 0..<frame.width where mask[y * frame.width + x] >= 128 {
                var onContour = false
                for dy in -band...band {
                    for dx in -band...band {
                        let nx = x + dx, ny = y + dy
                        if nx < 0 || ny < 0 || nx >= frame.width || ny >= frame.height || mask[ny * frame.width + nx] < 128 {
                            onContour = true
                        }
                    }
                }
                for channel in 0..<3 {
                    let index = (y * frame.width + x) * 3 + channel
                    if onContour {
                        output.pixels[index] = contour[channel]
                    } else {
                        let blended = (1 - Double(style.opacity)) * Double(frame.pixels[index]) + Double(style.opacity) * tint[channel]
                        output.pixels[index] = UInt8(blended.rounded())
                    }
                }
            }
        }
        return output
    }

    private func squareScene() -> (Image8, [UInt8]) {
        let width = 20, height = 16
        var frame = Image8(width: width, height: height, channels: 3)
        for index in 0..<(width * height) {
            frame.pixels[3 * index] = 100
            frame.pixels[3 * index + 1] = 50
            frame.pixels[3 * index + 2] = 200
        }
        var mask = [UInt8](repeating: 0, count: width * height)
        for y in 4..<12 { for x in 5..<15 { mask[y * width + x] = 255 } }
        mask[0] = 127  // just below the threshold: background
        return (frame, mask)
    }

    func testTintAndContourOnSquareMask() {
        let (frame, mask) = squareScene()
        let style = OverlayStyle.default
        XCTAssertEqual(style.opacity, 0.35)
        XCTAssertEqual(style.contourThickness, 2)
        let drawn = Overlay.draw(on: frame, mask: mask, style: style)
        func pixel(_ x: Int, _ y: Int) -> [UInt8] { Array(drawn.pixels[((y * 20 + x) * 3)..<((y * 20 + x) * 3 + 3)]) }
        // Interior: round(0.65*100 + 0.35*0) = 65, round(0.65*50 + 0.35*255) = round(121.75) = 122, round(0.65*200) = 130.
        XCTAssertEqual(pixel(9, 7), [65, 122, 130])
        XCTAssertEqual(pixel(7, 6), [65, 122, 130])   // first interior pixel: 2 px from the left and top edges
        // Two-pixel band inside the square's edge is yellow.
        for (x, y) in [(5, 4), (6, 8), (14, 11), (13, 7), (10, 4), (10, 5), (10, 10), (10, 11)] {
            XCTAssertEqual(pixel(x, y), [255, 255, 0], "contour at (\(x), \(y))")
        }
        // Outside the mask (including the 127 pixel) nothing changes.
        for (x, y) in [(0, 0), (4, 4), (15, 8), (10, 12), (19, 15)] {
            XCTAssertEqual(pixel(x, y), [100, 50, 200], "outside at (\(x), \(y))")
        }
        XCTAssertEqual(drawn, reference(frame, mask, style))
    }

    func testMatchesNaiveReferenceOnIrregularMasks() {
        var generator = SeededGenerator(state: 7)
        for (band, contour) in [(1, true), (2, true), (3, true), (2, false)] {
            let width = 37, height = 23
            let frame = Image8(width: width, height: height, channels: 3,
                               pixels: (0..<(width * height * 3)).map { _ in UInt8(truncatingIfNeeded: generator.next()) })
            // Blobs: a disc touching the frame edge plus random speckles around the threshold.
            var mask = [UInt8](repeating: 0, count: width * height)
            for y in 0..<height {
                for x in 0..<width {
                    let inside = (x - 30) * (x - 30) + (y - 5) * (y - 5) < 60 || (x > 5 && x < 16 && y > 8 && y < 20)
                    let speckle = UInt8(126 + generator.next() % 4)  // 126...129
                    mask[y * width + x] = inside ? 255 : (generator.next() % 9 == 0 ? speckle : 0)
                }
            }
            let style = OverlayStyle(tint: (255, 0, 40), opacity: 0.5, contour: contour, contourColor: (1, 2, 3), contourThickness: band)
            let drawn = Overlay.draw(on: frame, mask: mask, style: style)
            XCTAssertEqual(drawn, reference(frame, mask, style), "band \(band) contour \(contour)")
            // In-place variant gives the same pixels.
            var buffer = frame.pixels
            buffer.withUnsafeMutableBufferPointer { pixels in
                mask.withUnsafeBufferPointer { Overlay.draw(onRGB: pixels.baseAddress!, width: width, height: height, mask: $0.baseAddress!, style: style) }
            }
            XCTAssertEqual(buffer, drawn.pixels)
        }
    }
}

/// Deterministic xorshift generator so failures reproduce.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}
