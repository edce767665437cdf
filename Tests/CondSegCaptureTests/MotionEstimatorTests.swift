// MotionEstimatorTests.swift: the global motion estimator recovers known synthetic motions of real endoscopy
// stills, flags a scene cut as unreliable, and moves masks correctly; the similarity algebra it relies on.
import CondSegCapture
import CondSegImage
import Foundation
import XCTest

/// The repository's sample stills and masks (Kvasir-SEG).
enum SampleStills {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("samples")
    static let names = ["cju0s690hkp960855tjuaqvv0", "cju14pxbaoksp0835qzorx6g6", "cju32srle1xfq083575i3fl75",
                        "cju33x0f22peh0988g0ln7w5v", "cju85qefyln6v0850szeb9byi", "cju8dn0c3u2v50801k8rvq02f"]

    static func image(_ index: Int) throws -> Image8 {
        try ImageCodec.decodeRGB(path: folder.appendingPathComponent("images/\(names[index]).jpg").path)
    }

    static func mask(_ index: Int) throws -> Image8 {
        try ImageCodec.decodeGray(path: folder.appendingPathComponent("masks/\(names[index]).jpg").path)
    }

    /// A scene whose "model" is the still's own ground truth at 64×64 (a perfect still segmenter).
    static func scene(_ index: Int) throws -> StillScene {
        let rgb = try image(index), gray = try mask(index)
        let small = Resize.bilinear(gray, width: 64, height: 64)
        return StillScene(rgb: rgb, mask: gray, probabilities: small.pixels.map { Float($0) / 255 }, probabilitySize: 64)
    }
}

final class MotionEstimatorTests: XCTestCase {
    /// Largest displacement, over the frame's corners and centre, between two current→key transforms.
    private func pointError(_ estimated: Similarity, _ truth: Similarity, width: Int, height: Int) -> Double {
        let points = [(0.0, 0.0), (Double(width - 1), 0), (0, Double(height - 1)), (Double(width - 1), Double(height - 1)),
                      (Double(width) / 2, Double(height) / 2)]
        return points.map { point in
            let e = estimated.apply(point.0, point.1), t = truth.apply(point.0, point.1)
            return ((e.x - t.x) * (e.x - t.x) + (e.y - t.y) * (e.y - t.y)).squareRoot()
        }.max()!
    }

    func testSimilarityAlgebraMatchesPointwiseApplication() {
        let first = Similarity(scale: 1.1, radians: 0.2, tx: 5, ty: -3)
        let second = Similarity(scale: 0.9, radians: -0.5, tx: -12, ty: 7)
        for (x, y) in [(0.0, 0.0), (100.0, 50.0), (-20.0, 310.0)] {
            let composed = first.composed(after: second).apply(x, y)
            let stepwise = second.apply(x, y)
            let expected = first.apply(stepwise.x, stepwise.y)
            XCTAssertEqual(composed.x, expected.x, accuracy: 1e-9)
            XCTAssertEqual(composed.y, expected.y, accuracy: 1e-9)
            let back = first.inverse.apply(first.apply(x, y).x, first.apply(x, y).y)
            XCTAssertEqual(back.x, x, accuracy: 1e-9)
            XCTAssertEqual(back.y, y, accuracy: 1e-9)
            // Small coordinates: big = 4·small + 1.5.
            let small = first.inSmallCoordinates(factor: 4, offsetX: 1.5, offsetY: 1.5)
            let viaSmall = small.apply((x - 1.5) / 4, (y - 1.5) / 4)
            let direct = first.apply(x, y)
            XCTAssertEqual(4 * viaSmall.x + 1.5, direct.x, accuracy: 1e-9)
            XCTAssertEqual(4 * viaSmall.y + 1.5, direct.y, accuracy: 1e-9)
            let round = small.inBigCoordinates(factor: 4, offsetX: 1.5, offsetY: 1.5)
            XCTAssertEqual(round.tx, first.tx, accuracy: 1e-9)
            XCTAssertEqual(round.ty, first.ty, accuracy: 1e-9)
        }
    }

    /// Known motions between two views of a still (translation, rotation and zoom together, up to what a second
    /// of fast scope motion gives) are recovered within 1.5 pixels everywhere in a ~600-pixel frame.
    func testRecoversKnownSyntheticMotion() throws {
        let estimator = MotionEstimator()
        let cases: [(index: Int, dx: Double, dy: Double, degrees: Double, zoom: Double)] = [
            (0, 6, -4, 1, 1.02), (1, -25, 15, 4, 1.06), (2, 40, 30, -8, 0.92), (3, -15, -45, 6, 1.1),
        ]
        for (index, dx, dy, degrees, zoom) in cases {
            let scene = try SampleStills.scene(index)
            let cx = Double(scene.width - 1) / 2, cy = Double(scene.height - 1) / 2
            func view(scale: Double, radians: Double, shiftX: Double, shiftY: Double) -> Similarity {
                let linear = Similarity(scale: scale, radians: radians, tx: 0, ty: 0)
                let (rx, ry) = linear.apply(cx, cy)
                return Similarity(a: linear.a, b: linear.b, tx: cx + shiftX - rx, ty: cy + shiftY - ry)
            }
            let keyPose = view(scale: 0.8, radians: 0, shiftX: 0, shiftY: 0)
            let currentPose = view(scale: 0.8 / zoom, radians: degrees * .pi / 180, shiftX: dx, shiftY: dy)
            let key = scene.render(pose: keyPose), current = scene.render(pose: currentPose)
            let truth = keyPose.inverse.composed(after: currentPose)
            let estimate = estimator.estimate(key: LumaPyramid(luma: key.luma, width: scene.width, height: scene.height),
                                              current: LumaPyramid(luma: current.luma, width: scene.width, height: scene.height))
            XCTAssertTrue(estimate.reliable, "still \(index): correlation \(estimate.correlation) overlap \(estimate.overlap)")
            let error = pointError(estimate.currentToKey, truth, width: scene.width, height: scene.height)
            XCTAssertLessThan(error, 1.5, "still \(index): estimated \(estimate.currentToKey), truth \(truth)")
        }
    }

    func testSceneCutIsUnreliable() throws {
        let estimator = MotionEstimator()
        for (first, second) in [(0, 1), (2, 3), (4, 5)] {
            let a = try SampleStills.image(first), b = Resize.bilinear(try SampleStills.image(second), width: a.width, height: a.height)
            let estimate = estimator.estimate(key: LumaPyramid(rgb: a), current: LumaPyramid(rgb: b))
            XCTAssertFalse(estimate.reliable, "stills \(first)→\(second): correlation \(estimate.correlation)")
            // The same frame against itself is reliable and still.
            let same = estimator.estimate(key: LumaPyramid(rgb: a), current: LumaPyramid(rgb: a))
            XCTAssertTrue(same.reliable)
            XCTAssertLessThan(pointError(same.currentToKey, .identity, width: a.width, height: a.height), 0.2)
        }
    }

    func testBlankFrameIsUnreliable() throws {
        let a = try SampleStills.image(0)
        let black = Image8(width: a.width, height: a.height, channels: 3)
        let grey = Image8(width: a.width, height: a.height, channels: 3, pixels: [UInt8](repeating: 128, count: a.pixels.count))
        let estimator = MotionEstimator()
        XCTAssertFalse(estimator.estimate(key: LumaPyramid(rgb: a), current: LumaPyramid(rgb: black)).reliable)
        XCTAssertFalse(estimator.estimate(key: LumaPyramid(rgb: a), current: LumaPyramid(rgb: grey)).reliable)
    }

    func testMaskWarpMovesPixelsByTheTransform() {
        var pixels = [UInt8](repeating: 0, count: 20 * 10)
        for y in 2..<5 { for x in 3..<7 { pixels[y * 20 + x] = 255 } }
        let mask = Image8(width: 20, height: 10, channels: 1, pixels: pixels)
        // Current pixel (x, y) shows key pixel (x - 5, y + 1): the blob moves right by 5 and up by 1.
        let moved = MaskWarp.warp(mask, currentToKey: Similarity(a: 1, b: 0, tx: -5, ty: 1), width: 20, height: 10)
        for y in 0..<10 {
            for x in 0..<20 {
                let inside = (1..<4).contains(y) && (8..<12).contains(x)
                XCTAssertEqual(moved.pixels[y * 20 + x], inside ? 255 : 0, "(\(x), \(y))")
            }
        }
    }

    func testMaskIoU() {
        XCTAssertEqual(maskIoU([0, 0], [0, 0]), 1)
        XCTAssertEqual(maskIoU([255, 255, 0, 0], [255, 0, 255, 0]), 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(maskIoU([255, 0], [0, 255]), 0)
    }

    func testScheduleShowsEachResultCameraOverModelFramesLater() {
        let even = LiveSchedule(cameraFPS: 30, modelFPS: 2)
        XCTAssertEqual(even.framesPerResult, 15)
        XCTAssertNil(even.shownResult(atFrame: 14))
        XCTAssertEqual(even.shownResult(atFrame: 15), 0)
        XCTAssertEqual(even.shownResult(atFrame: 29), 0)
        XCTAssertEqual(even.shownResult(atFrame: 30), 1)
        XCTAssertEqual(even.shownResult(atFrame: 100), 5)
        let uneven = LiveSchedule(cameraFPS: 30, modelFPS: 4)
        XCTAssertEqual((0..<5).map(uneven.modelFrame), [0, 8, 15, 23, 30])
        XCTAssertNil(uneven.shownResult(atFrame: 7))
        XCTAssertEqual(uneven.shownResult(atFrame: 8), 0)
        XCTAssertEqual(uneven.shownResult(atFrame: 14), 0)
        XCTAssertEqual(uneven.shownResult(atFrame: 15), 1)
        XCTAssertEqual(uneven.shownResult(atFrame: 22), 1)
        XCTAssertEqual(uneven.shownResult(atFrame: 23), 2)
        // A model faster than the camera: every frame's result is shown on the next frame.
        let fast = LiveSchedule(cameraFPS: 30, modelFPS: 60)
        XCTAssertEqual(fast.shownResult(atFrame: 1), 0)
        XCTAssertEqual(fast.shownResult(atFrame: 9), 8)
    }

    func testCameraPathIsSeededSmoothAndAtTheStatedSpeed() {
        var settings = CameraMotionSettings()
        settings.translationSpeed = 0.2
        let path = CameraPath(width: 600, height: 500, settings: settings, seed: 7)
        let again = CameraPath(width: 600, height: 500, settings: settings, seed: 7)
        let other = CameraPath(width: 600, height: 500, settings: settings, seed: 8)
        XCTAssertEqual(path.pose(atSeconds: 1.3), again.pose(atSeconds: 1.3))
        XCTAssertNotEqual(path.pose(atSeconds: 1.3), other.pose(atSeconds: 1.3))
        // The first frame is the centred view at the base zoom.
        let start = path.pose(atSeconds: 0)
        XCTAssertEqual(start.scale, 1 / settings.baseZoom, accuracy: 1e-12)
        XCTAssertEqual(start.apply(299.5, 249.5).x, 299.5, accuracy: 1e-9)
        // RMS speed of the view centre (in still pixels, at the base zoom the still moves 1/zoom as fast on the
        // frame) over many paths is the stated speed within 25 %.
        var squares = 0.0, samples = 0
        for seed in 0..<40 {
            let p = CameraPath(width: 600, height: 500, settings: settings, seed: UInt64(seed))
            for step in 0..<120 {
                let t = Double(step) / 30
                let a = p.pose(atSeconds: t).apply(299.5, 249.5), b = p.pose(atSeconds: t + 1.0 / 300).apply(299.5, 249.5)
                let speed = ((b.x - a.x) * (b.x - a.x) + (b.y - a.y) * (b.y - a.y)).squareRoot() * 300
                squares += speed * speed
                samples += 1
            }
        }
        let rms = (squares / Double(samples)).squareRoot()
        XCTAssertEqual(rms, 0.2 * 600, accuracy: 0.25 * 0.2 * 600)
    }

    /// The evaluation's property: with a lag of 15 frames on moving sequences, the compensated overlay is at least
    /// as good as the uncompensated one, and the ceiling (a perfect still segmenter) is above both.
    func testCompensatedOverlayBeatsTheLaggingOne() throws {
        var report = LiveOverlayReport()
        let schedule = LiveSchedule(cameraFPS: 30, modelFPS: 2)
        for index in 0..<3 {
            let scene = try SampleStills.scene(index)
            let path = CameraPath(width: scene.width, height: scene.height, settings: CameraMotionSettings(), seed: UInt64(100 + index))
            report.merge(LiveOverlayEvaluation.evaluate(scene: scene, path: path, frameCount: 45, schedule: schedule))
        }
        XCTAssertEqual(report.sequences, 3)
        XCTAssertEqual(report.renderedFrames, 135)
        XCTAssertEqual(report.ceiling.values.count, 3 * 30)
        XCTAssertGreaterThan(report.ceiling.mean, 0.9)
        XCTAssertGreaterThan(report.ceiling.mean, report.uncompensated.mean + 0.05, "the motion must open a gap")
        XCTAssertGreaterThanOrEqual(report.compensated.mean, report.uncompensated.mean)
        XCTAssertGreaterThan(report.recoveredFraction ?? 0, 0.5)
    }
}
