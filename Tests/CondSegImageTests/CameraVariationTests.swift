// CameraVariationTests.swift — the camera variants `calibrate --augment` runs: parameters inside their ranges and a
// function of (seed, image, variant) only; a uniform image comes out at the tone curve's value computed here
// independently (within what a JPEG encoder may move a flat colour); sizes kept; the unsharp mask on known input.

import Foundation
import XCTest
@testable import CondSegImage

final class CameraVariationTests: XCTestCase {
    func testParametersStayInTheirRangesAndUseBothSharpenChoices() {
        var sharpened = 0
        var qualities = Set<Int>()
        for image in 0..<200 {
            for variant in 1...2 {
                let v = CameraVariation(seed: CameraVariation.calibrationSeed, image: image, variant: variant)
                XCTAssertTrue((0.7...1.4).contains(v.gamma), "gamma \(v.gamma)")
                XCTAssertEqual(v.gains.count, 3)
                for g in v.gains { XCTAssertTrue((0.85...1.15).contains(g), "gain \(g)") }
                XCTAssertTrue((0.4...0.8).contains(v.downscale), "downscale \(v.downscale)")
                XCTAssertTrue((35...70).contains(v.jpegQuality), "quality \(v.jpegQuality)")
                if v.sharpen { sharpened += 1 }
                qualities.insert(v.jpegQuality)
            }
        }
        // 400 fair coin flips: far from all or none; 36 qualities drawn 400 times: nearly all seen, both ends too.
        XCTAssertTrue((120...280).contains(sharpened), "\(sharpened) of 400 sharpened")
        XCTAssertGreaterThan(qualities.count, 30)
        XCTAssertTrue(qualities.contains(35) && qualities.contains(70), "\(qualities.sorted())")
    }

    func testParametersDependOnSeedImageAndVariantOnly() {
        let a = CameraVariation(seed: 7, image: 3, variant: 1)
        XCTAssertEqual(a, CameraVariation(seed: 7, image: 3, variant: 1))
        // Computed in another order (as threads would): the same values.
        let later = (0..<5).reversed().map { CameraVariation(seed: 7, image: $0, variant: 1) }
        XCTAssertEqual(later[1], a)
        XCTAssertNotEqual(a, CameraVariation(seed: 8, image: 3, variant: 1))
        XCTAssertNotEqual(a, CameraVariation(seed: 7, image: 4, variant: 1))
        XCTAssertNotEqual(a, CameraVariation(seed: 7, image: 3, variant: 2))
        // Image and variant are not interchangeable.
        XCTAssertNotEqual(CameraVariation(seed: 7, image: 1, variant: 2), CameraVariation(seed: 7, image: 2, variant: 1))
    }

    func testUniformGreyComesOutAtTheToneCurvesValue() throws {
        for (index, grey) in [40, 128, 200].enumerated() {
            for variant in 1...3 {
                let v = CameraVariation(seed: 11, image: index, variant: variant)
                let image = Image8(width: 96, height: 72, channels: 3,
                                   pixels: [UInt8](repeating: UInt8(grey), count: 96 * 72 * 3))
                let out = try v.apply(to: image)
                XCTAssertEqual([out.width, out.height, out.channels], [96, 72, 3])
                for c in 0..<3 {
                    // Independent of toneTable: the curve and gain written out here.
                    let expected = (min(1.0, pow(Double(grey) / 255.0, v.gamma) * v.gains[c]) * 255).rounded()
                    XCTAssertEqual(Int(v.toneTable(channel: c)[grey]), Int(expected), "grey \(grey) channel \(c)")
                    // Resizing and sharpening keep a flat image flat; JPEG moves a flat colour by at most its DC
                    // quantisation error (about 1.5 levels at quality 35 in luma and in chroma), so 5 is generous.
                    let values = stride(from: c, to: out.pixels.count, by: 3).map { Int(out.pixels[$0]) }
                    let worst = values.map { abs($0 - Int(expected)) }.max()!
                    XCTAssertLessThanOrEqual(worst, 5, "grey \(grey) variant \(variant) channel \(c): expected \(expected), got \(Set(values).sorted())")
                }
            }
        }
    }

    func testTheToneCurveActuallyMovesValues() throws {
        let dark = CameraVariation(gamma: 1.4, gains: [1, 1, 1], downscale: 0.5, sharpen: false, jpegQuality: 90)
        let bright = CameraVariation(gamma: 0.7, gains: [1, 1, 1], downscale: 0.5, sharpen: false, jpegQuality: 90)
        // (128/255)^1.4 · 255 = 97.2; (128/255)^0.7 · 255 = 157.4.
        XCTAssertEqual(Int(dark.toneTable(channel: 0)[128]), Int((pow(128.0 / 255, 1.4) * 255).rounded()))
        XCTAssertLessThan(dark.toneTable(channel: 1)[128], 100)
        XCTAssertGreaterThan(bright.toneTable(channel: 2)[128], 150)
        let clipped = CameraVariation(gamma: 1, gains: [1.15, 1, 0.85], downscale: 0.5, sharpen: false, jpegQuality: 90)
        XCTAssertEqual(clipped.toneTable(channel: 0)[240], 255)   // 240 · 1.15 > 255: clipped
        XCTAssertEqual(clipped.toneTable(channel: 2)[200], 170)   // 200 · 0.85
    }

    func testSizesArePreservedForOddAndSmallImages() throws {
        for (w, h) in [(1, 1), (3, 2), (17, 9), (101, 64)] {
            let pixels = (0..<(w * h * 3)).map { UInt8(($0 * 37 + 11) % 256) }
            let image = Image8(width: w, height: h, channels: 3, pixels: pixels)
            for variant in 1...2 {
                let out = try CameraVariation(seed: 1, image: w, variant: variant).apply(to: image)
                XCTAssertEqual([out.width, out.height, out.channels], [w, h, 3], "\(w)x\(h)")
            }
        }
        let grey = Image8(width: 20, height: 10, channels: 1, pixels: [UInt8](repeating: 90, count: 200))
        let out = try CameraVariation(seed: 1, image: 0, variant: 1).apply(to: grey)
        XCTAssertEqual([out.width, out.height, out.channels], [20, 10, 3])
        let empty = Image8(width: 0, height: 4, channels: 3)
        XCTAssertEqual(try CameraVariation(seed: 1, image: 0, variant: 1).apply(to: empty), empty)
    }

    func testAVariantOfARealImageDiffersButStaysClose() throws {
        let image = try ImageCodec.decodeRGB(path: try Fixtures.path(try firstFixtureImage()))
        let v = CameraVariation(seed: CameraVariation.calibrationSeed, image: 0, variant: 1)
        let out = try v.apply(to: image)
        XCTAssertEqual(try v.apply(to: image), out, "the same parameters render the same pixels")
        let mean = zip(out.pixels, image.pixels).map { abs(Double($0) - Double($1)) }.reduce(0, +) / Double(out.pixels.count)
        XCTAssertGreaterThan(mean, 1, "a variant must change the image")
        XCTAssertLessThan(mean, 60, "a variant must still be the same scene")
    }

    func testUnsharpMaskMatchesAHandComputedStep() {
        // A 1-D step (rows identical): the vertical blur is the identity, the horizontal one a Gaussian.
        let w = 16, h = 3
        var pixels = [UInt8]()
        for _ in 0..<h { for x in 0..<w { pixels.append(x < 8 ? 100 : 160) } }
        let image = Image8(width: w, height: h, channels: 1, pixels: pixels)
        let out = CameraVariation.unsharpMask(image, sigma: 1, amount: 1)
        let weights = (-3...3).map { exp(-Double($0 * $0) / 2) }
        let total = weights.reduce(0, +)
        for x in 0..<w {
            var blur = 0.0
            for k in -3...3 { blur += weights[k + 3] / total * Double(pixels[min(w - 1, max(0, x + k))]) }
            let value = Double(pixels[x])
            let expected = min(255, max(0, (2 * value - blur).rounded()))
            for y in 0..<h { XCTAssertEqual(Double(out.pixels[y * w + x]), expected, "x \(x) y \(y)") }
        }
        XCTAssertLessThan(out.pixels[7], 100, "undershoot before the edge")
        XCTAssertGreaterThan(out.pixels[8], 160, "overshoot after the edge")
    }

    private func firstFixtureImage() throws -> String {
        let manifest = try Fixtures.manifest()
        let cases = try XCTUnwrap(manifest["resize"] as? [[String: Any]])
        return try XCTUnwrap(cases.first?["input"] as? String)
    }
}

