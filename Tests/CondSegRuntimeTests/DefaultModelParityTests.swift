// DefaultModelParityTests.swift — the shipped default model on real Kvasir-SEG validation images, through the
// whole image path (JPEG decode, OpenCV-exact resize, BGR/255, float reference), against the PyTorch release's
// probability maps (Tests/Fixtures/reference/condseg-r18w64-val-probes.safetensors) and per-image metrics
// (condseg-r18w64-val.json).

import CondSegCore
import CondSegImage
import CondSegRuntime
import Foundation
import CondSegTestSupport
import XCTest

final class DefaultModelParityTests: XCTestCase {
    static let probeNames = ["cju0s690hkp960855tjuaqvv0", "cju0sr5ghl0nd08789uzf1raf", "cju0sxqiclckk08551ycbwhno"]

    func testProbabilityMapsAndMetricsMatchPyTorch() throws {
        let model = try ConDSegModel.load(path: repositoryRoot.appendingPathComponent("models/condseg-r18w64-kvasir.safetensors").path)
        XCTAssertEqual(model.sha256, "951bc8ffe45a26ad0cfdbcb4f7906dc1dcdc2ca81a73a117aec828547348a080")
        let segmenter = Segmenter(engine: try ReferenceExecutor(model: model, threads: 2))
        let probes = try SafeTensorsFile(path: fixturePath("reference/condseg-r18w64-val-probes.safetensors"))
        let reference = try ReferenceFigures.load(fixturePath("reference/condseg-r18w64-val.json"))
        for name in Self.probeNames {
            let image = try ImageCodec.decodeRGB(path: fixturePath("reference/kvasir/\(name).jpg"))
            let probabilities = try segmenter.probabilities(image)
            let expected = try probes.floats("kvasir_val/\(name)")
            let (diff, _) = maxAbsDiff(probabilities, expected)
            XCTAssertLessThan(diff, 2e-3, "\(name): probabilities differ from PyTorch by up to \(diff)")
            let flipped = zip(probabilities, expected).filter { ($0 > 0.5) != ($1 > 0.5) }.count
            XCTAssertLessThanOrEqual(flipped, 10, "\(name): \(flipped) mask pixels differ from PyTorch's")

            let truth = try Evaluation.groundTruth(maskPath: fixturePath("reference/kvasir/\(name)-mask.jpg"), size: 256)
            let scores = Evaluation.scores(probabilities: probabilities, truth: truth)
            let golden = try XCTUnwrap(reference[name])
            XCTAssertEqual(scores.dice, golden.dice, accuracy: 1e-3, "\(name) Dice")
            XCTAssertEqual(scores.iou, golden.iou, accuracy: 1e-3, "\(name) IoU")
            XCTAssertEqual(scores.recall, golden.recall, accuracy: 1e-3, "\(name) recall")
            XCTAssertEqual(scores.precision, golden.precision, accuracy: 1e-3, "\(name) precision")
        }
    }
}

/// Per-image figures of the PyTorch reference evaluation ([dice, iou, recall, precision] per name).
enum ReferenceFigures {
    static func load(_ path: String) throws -> [String: SegmentationScores] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
        guard let root = object as? [String: Any], let sets = root["sets"] as? [String: Any],
              let val = sets["kvasir_val"] as? [String: Any], let perImage = val["per_image"] as? [String: [Double]] else {
            throw FixtureMissing(path: path + " (unexpected layout)")
        }
        return perImage.mapValues { SegmentationScores(dice: $0[0], iou: $0[1], recall: $0[2], precision: $0[3]) }
    }
}
