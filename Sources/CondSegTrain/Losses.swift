// Losses.swift — the paper's losses (docs/architecture.md) with their gradients w.r.t. the predicted probabilities:
// L_BD (binary cross-entropy + Dice over the whole batch), the stage-1 consistency loss with the binarised
// masks (τ = 0.5, no gradient through the binarisation), and the stage-2 objective with the dynamic weights
// β1/β2 and the complementary loss over the softmax of the three auxiliary masks.
//
// Choices (documented): stage 1 follows the paper, not the release — L_cons averages the two BCEs and L_BD
// takes the probabilities as they are (no extra sigmoid). Stage 2 differentiates through β1/β2, as the release
// does (the fixture's gradients include that path); β sums run over the whole batch divided by H·W.
// Sums are accumulated in double.

import Foundation

/// A loss value and its gradient w.r.t. one probability map.
public struct LossGradient {
    public var value: Double
    public var gradient: [Float]
}

/// The loss functions of both stages.
public enum Losses {
    /// PyTorch's F.binary_cross_entropy: mean of −(y·log p + (1−y)·log(1−p)), logs clamped at −100;
    /// gradient (p − y)/max(p(1−p), 1e-12)/count.
    public static func binaryCrossEntropy(_ p: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int) -> LossGradient {
        var sum = 0.0
        var grad = [Float](repeating: 0, count: count)
        let inv = 1.0 / Double(count)
        for i in 0..<count {
            let pi = Double(p[i]), yi = Double(y[i])
            let logP = max(log(pi), -100), log1P = max(log(1 - pi), -100)
            sum -= yi * logP + (1 - yi) * log1P
            grad[i] = Float((pi - yi) / max(pi * (1 - pi), 1e-12) * inv)
        }
        return LossGradient(value: sum * inv, gradient: grad)
    }

    /// L_BD(p, y) = BCE(p, y) + 1 − (2Σpy + 1)/(Σp + Σy + 1), sums over every element of the batch.
    public static func bceDice(_ p: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int) -> LossGradient {
        var result = binaryCrossEntropy(p, y, count: count)
        var intersection = 0.0, total = 0.0
        for i in 0..<count {
            intersection += Double(p[i]) * Double(y[i])
            total += Double(p[i]) + Double(y[i])
        }
        let numerator = 2 * intersection + 1, denominator = total + 1
        result.value += 1 - numerator / denominator
        for i in 0..<count {
            // d/dp of −num/den = −(2y·den − num)/den².
            result.gradient[i] += Float(-(2 * Double(y[i]) * denominator - numerator) / (denominator * denominator))
        }
        return result
    }

    /// Named loss terms of one step (for logs and the fixture tests).
    public typealias Terms = [String: Double]

    /// Stage 2: L = L_BD(mask, Y) + β1·L_BD(mask_fg, Y) + β2·L_BD(mask_bg, 1−Y) + L_compl, β = 1/(tanh(Σm/(H·W)) + 1e-15)
    /// (differentiated through), L_compl = Σ(pf·pb + pf·pu + pb·pu)/(B·H·W) over softmax(mask_fg, mask_bg, mask_uc).
    /// Returns the terms ("loss", "loss_mask", "loss_fg", "loss_bg", "loss_comp", "beta1", "beta2") and the
    /// gradients w.r.t. the four outputs.
    public static func stage2(outputs: [String: Tensor], target: Tensor) -> (terms: Terms, gradients: [String: Tensor]) {
        let mask = outputs["mask"]!, fg = outputs["mask_fg"]!, bg = outputs["mask_bg"]!, uc = outputs["mask_uc"]!
        let count = target.count
        let plane = Double(target.h * target.w)
        let inverse = Tensor(n: target.n, c: target.c, h: target.h, w: target.w)
        for i in 0..<count { inverse.data[i] = 1 - target.data[i] }
        let lMask = bceDice(mask.data, target.data, count: count)
        let lFG = bceDice(fg.data, target.data, count: count)
        let lBG = bceDice(bg.data, inverse.data, count: count)
        func beta(_ t: Tensor) -> (value: Double, derivative: Double) {
            var s = 0.0
            for i in 0..<t.count { s += Double(t.data[i]) }
            let th = tanh(s / plane)
            let b = 1 / (th + 1e-15)
            // dβ/dm_i = −(1 − tanh²)/(tanh + eps)² / (H·W).
            return (b, -(1 - th * th) / ((th + 1e-15) * (th + 1e-15)) / plane)
        }
        let (beta1, dBeta1) = beta(fg), (beta2, dBeta2) = beta(bg)
        var compl = 0.0
        let gMask = Tensor(mask.array, n: mask.n, c: mask.c, h: mask.h, w: mask.w)
        for i in 0..<count { gMask.data[i] = lMask.gradient[i] }
        let gFG = Tensor(n: fg.n, c: fg.c, h: fg.h, w: fg.w)
        let gBG = Tensor(n: bg.n, c: bg.c, h: bg.h, w: bg.w)
        let gUC = Tensor(n: uc.n, c: uc.c, h: uc.h, w: uc.w)
        let norm = 1 / Double(count)
        for i in 0..<count {
            let a = Double(fg.data[i]), b = Double(bg.data[i]), c = Double(uc.data[i])
            let m = max(a, b, c)
            let ea = exp(a - m), eb = exp(b - m), ec = exp(c - m)
            let s = ea + eb + ec
            let pf = ea / s, pb = eb / s, pu = ec / s
            compl += pf * pb + pf * pu + pb * pu
            // dL/dp and the softmax Jacobian: dz_k = p_k (g_k − Σ p g).
            let gf = (pb + pu) * norm, gb = (pf + pu) * norm, gu = (pf + pb) * norm
            let dot = pf * gf + pb * gb + pu * gu
            gFG.data[i] = Float(beta1 * Double(lFG.gradient[i]) + lFG.value * dBeta1 + pf * (gf - dot))
            gBG.data[i] = Float(beta2 * Double(lBG.gradient[i]) + lBG.value * dBeta2 + pb * (gb - dot))
            gUC.data[i] = Float(pu * (gu - dot))
        }
        compl *= norm
        let total = lMask.value + beta1 * lFG.value + beta2 * lBG.value + compl
        let terms: Terms = ["loss": total, "loss_mask": lMask.value, "loss_fg": lFG.value, "loss_bg": lBG.value,
                            "loss_comp": compl, "beta1": beta1, "beta2": beta2]
        return (terms, ["mask": gMask, "mask_fg": gFG, "mask_bg": gBG, "mask_uc": gUC])
    }

    /// Stage 1: L = L_BD(M, Y) + L_BD(M', Y) + ½[BCE(M, bin(M')) + BCE(M', bin(M))], bin(z) = z > τ.
    /// Returns the terms ("loss", "loss_mask", "loss_mask_aug", "loss_cons") and dL/dM, dL/dM'.
    public static func stage1(mask: Tensor, augmentedMask: Tensor, target: Tensor, tau: Float = 0.5)
        -> (terms: Terms, gradient: Tensor, augmentedGradient: Tensor) {
        let count = target.count
        let lMask = bceDice(mask.data, target.data, count: count)
        let lAug = bceDice(augmentedMask.data, target.data, count: count)
        var binM = [Float](repeating: 0, count: count), binA = binM
        for i in 0..<count {
            binM[i] = mask.data[i] > tau ? 1 : 0
            binA[i] = augmentedMask.data[i] > tau ? 1 : 0
        }
        let c1 = binA.withUnsafeBufferPointer { binaryCrossEntropy(mask.data, $0.baseAddress!, count: count) }
        let c2 = binM.withUnsafeBufferPointer { binaryCrossEntropy(augmentedMask.data, $0.baseAddress!, count: count) }
        let cons = 0.5 * (c1.value + c2.value)
        let g = Tensor(n: mask.n, c: mask.c, h: mask.h, w: mask.w)
        let ga = Tensor(n: mask.n, c: mask.c, h: mask.h, w: mask.w)
        for i in 0..<count {
            g.data[i] = lMask.gradient[i] + 0.5 * c1.gradient[i]
            ga.data[i] = lAug.gradient[i] + 0.5 * c2.gradient[i]
        }
        let terms: Terms = ["loss": lMask.value + lAug.value + cons, "loss_mask": lMask.value,
                            "loss_mask_aug": lAug.value, "loss_cons": cons]
        return (terms, g, ga)
    }
}
