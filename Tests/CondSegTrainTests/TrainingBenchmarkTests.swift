// TrainingBenchmarkTests.swift — `condseg bench --train` times real optimisation steps: on its fixed random batch
// the loss of successive steps falls (the step trains), in both stages, and a model file's tensors are used.

import CondSegCore
@testable import CondSegTrain
import XCTest

final class TrainingBenchmarkTests: XCTestCase {
    let config = ModelConfig(encoder: .resnet18, width: 16, mid: 32, heads: 4, inputSize: 32)

    func testStepsLowerTheLossOnTheFixedBatch() throws {
        for stage in [1, 2] {
            let bench = try TrainingBenchmark(config: config, stage: stage, batch: 2, threads: 2, lr: 1e-3, encoderLR: 1e-3)
            let losses = (0..<4).map { _ in bench.step() }
            XCTAssertTrue(losses.allSatisfy(\.isFinite), "stage \(stage): \(losses)")
            XCTAssertLessThan(losses[3], losses[0], "stage \(stage): the same batch four times should fit better: \(losses)")
        }
    }

    func testRejectsBadStageAndBatch() {
        XCTAssertThrowsError(try TrainingBenchmark(config: config, stage: 3, batch: 2, threads: 1))
        XCTAssertThrowsError(try TrainingBenchmark(config: config, stage: 2, batch: 0, threads: 1))
    }
}
