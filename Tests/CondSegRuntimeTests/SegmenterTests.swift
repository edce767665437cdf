// SegmenterTests.swift — the user-facing image path (decode, OpenCV-exact resize, BGR/255 planar input, sigmoid,
// mask at the image's size) on the tiny fixture, against the release's input tensor and mask.

import CondSegCore
import CondSegImage
import CondSegRuntime
import CondSegTestSupport
import XCTest

final class TinyImagePathTests: XCTestCase {
    /// The tiny fixture's PNG through the user-facing image path gives exactly the release's input tensor and mask.
    func testPNGInputMatchesReleaseTensorAndMask() throws {
        let model = try ConDSegModel.load(path: fixturePath("reference/tiny-weights.safetensors"))
        let golden = try SafeTensorsFile(path: fixturePath("reference/tiny-forward.safetensors"))
        let segmenter = Segmenter(engine: try ReferenceExecutor(model: model, threads: 1))
        let image = try ImageCodec.decodeRGB(path: fixturePath("reference/tiny-input.png"))
        XCTAssertEqual(segmenter.modelInput(image), try golden.floats("input_bgr"), "BGR/255 planar input, bit for bit")
        let result = try segmenter.segment(image)
        let (diff, _) = maxAbsDiff(result.probabilities, try golden.floats("mask"))
        XCTAssertLessThan(diff, 1e-4)
        XCTAssertEqual(result.mask, try golden.floats("mask").map { $0 > 0.5 ? 255 : 0 })
    }
}
