// Optimizer.swift — Adam with parameter groups (the encoder's learning rate separate from the rest), as
// PyTorch's torch.optim.Adam (bias-corrected moments, eps added after the square root, no weight decay), and
// the learning-rate schedules: cosine annealing over the epochs, or reduce-on-plateau of the validation mIoU.

import Foundation

/// Adam over the trainable tensors of a ParameterStore. State (moments, step) is checkpointable.
public final class Adam {
    public let store: ParameterStore
    public var beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8
    /// Learning rate of each group ("encoder", "rest"); `group(of:)` assigns tensors to groups.
    public var learningRates: [String: Float]
    /// First and second moments per tensor.
    public private(set) var firstMoments: [String: [Float]] = [:]
    public private(set) var secondMoments: [String: [Float]] = [:]
    /// Number of steps taken (bias correction).
    public var stepCount = 0

    /// `encoderLR` applies to layer0…layer3 (the ResNet encoder), `lr` to everything else.
    public init(store: ParameterStore, lr: Float, encoderLR: Float) {
        self.store = store
        learningRates = ["encoder": encoderLR, "rest": lr]
        for name in store.trainableNames {
            let count = store.gradients[name]!.count
            firstMoments[name] = [Float](repeating: 0, count: count)
            secondMoments[name] = firstMoments[name]
        }
    }

    /// "encoder" for the tensors of the ResNet encoder (read by nodes whose role is `.encoder`), else "rest".
    public func group(of name: String) -> String {
        store.encoderNames.contains(name) ? "encoder" : "rest"
    }

    /// One update from the gradients in the store.
    public func step() {
        stepCount += 1
        let t = Float(stepCount)
        let correction1 = 1 - pow(beta1, t), correction2 = 1 - pow(beta2, t)
        for name in store.trainableNames {
            let lr = learningRates[group(of: name)]!
            let p = store.value(name), g = store.gradient(name)
            let count = store.gradients[name]!.count
            let b1 = beta1, b2 = beta2, eps = epsilon
            firstMoments[name]!.withUnsafeMutableBufferPointer { m in
                secondMoments[name]!.withUnsafeMutableBufferPointer { v in
                    for i in 0..<count {
                        m[i] = b1 * m[i] + (1 - b1) * g[i]
                        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                        let denominator = (v[i] / correction2).squareRoot() + eps
                        p[i] -= lr * (m[i] / correction1) / denominator
                    }
                }
            }
        }
    }

    /// Replaces the moments (from a checkpoint).
    public func restore(first: [String: [Float]], second: [String: [Float]], steps: Int) throws {
        for name in store.trainableNames {
            guard let m = first[name], let v = second[name], m.count == firstMoments[name]!.count,
                  v.count == m.count else {
                throw TrainingError("checkpoint lacks Adam moments for '\(name)'")
            }
            firstMoments[name] = m
            secondMoments[name] = v
        }
        stepCount = steps
    }
}

/// How the learning rates change from epoch to epoch.
public enum LearningRateSchedule: String, Sendable, CaseIterable {
    /// lr · ½(1 + cos(π·epoch/epochs)).
    case cosine
    /// lr × 0.5 after `patience` epochs without a better validation mIoU.
    case plateau
}

/// State of the schedule and early stopping (checkpointed).
public struct ScheduleState: Equatable, Sendable {
    public var scale: Float = 1
    public var bestScore: Double = -1
    public var epochsWithoutImprovement = 0
    public var plateauCounter = 0
    public init() {}

    /// Records one epoch's validation score; returns true when it is a new best.
    public mutating func record(score: Double, schedule: LearningRateSchedule, patience: Int) -> Bool {
        if score > bestScore {
            bestScore = score
            epochsWithoutImprovement = 0
            plateauCounter = 0
            return true
        }
        epochsWithoutImprovement += 1
        plateauCounter += 1
        if schedule == .plateau && plateauCounter >= max(1, patience / 2) {
            scale *= 0.5
            plateauCounter = 0
        }
        return false
    }

    /// Multiplier of the base learning rates for `epoch` (0-based) of `epochs`.
    public func multiplier(schedule: LearningRateSchedule, epoch: Int, epochs: Int) -> Float {
        switch schedule {
        case .cosine: return Float(0.5 * (1 + cos(Double.pi * Double(epoch) / Double(max(epochs, 1)))))
        case .plateau: return scale
        }
    }
}
