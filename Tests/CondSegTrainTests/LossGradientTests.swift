// LossGradientTests.swift — the losses (docs/architecture.md) against independent references: values recomputed
// naively in double in the test, and gradients against central finite differences of those naive values.

import CondSegCore
import CondSegIO
@testable import CondSegTrain
import XCTest

final class LossGradientTests: XCTestCase {
    /// Naive L_BD in double, written from the paper's formula.
    func naiveBceDice(_ p: [Double], _ y: [Double]) -> Double {
        var bce = 0.0, inter = 0.0, sum = 0.0
        for i in 0..<p.count {
            bce -= y[i] * max(log(p[i]), -100) + (1 - y[i]) * max(log(1 - p[i]), -100)
            inter += p[i] * y[i]
            sum += p[i] + y[i]
        }
        return bce / Double(p.count) + 1 - (2 * inter + 1) / (sum + 1)
    }

    /// Naive stage-2 loss in double (β differentiated through, as the release does).
    func naiveStage2(_ m: [Double], _ f: [Double], _ b: [Double], _ u: [Double], _ y: [Double], plane: Double) -> Double {
        let inverse = y.map { 1 - $0 }
        let beta1 = 1 / (tanh(f.reduce(0, +) / plane) + 1e-15)
        let beta2 = 1 / (tanh(b.reduce(0, +) / plane) + 1e-15)
        var compl = 0.0
        for i in 0..<m.count {
            let e = [exp(f[i]), exp(b[i]), exp(u[i])]
            let s = e.reduce(0, +)
            let (pf, pb, pu) = (e[0] / s, e[1] / s, e[2] / s)
            compl += pf * pb + pf * pu + pb * pu
        }
        return naiveBceDice(m, y) + beta1 * naiveBceDice(f, y) + beta2 * naiveBceDice(b, inverse) + compl / Double(m.count)
    }

    func randomMap(_ count: Int, _ rng: inout SplitMix64) -> [Float] {
        (0..<count).map { _ in Float(rng.uniform(0.05, 0.95)) }
    }

    func testStage2LossValueAndGradientAgainstFiniteDifferences() {
        var rng = SplitMix64(seed: 7)
        let (n, h, w) = (2, 3, 5)
        let count = n * h * w
        let maps = (0..<4).map { _ in randomMap(count, &rng) }
        let target = (0..<count).map { _ in Float(rng.chance(0.4) ? 1 : 0) }
        let names = ["mask", "mask_fg", "mask_bg", "mask_uc"]
        var outputs: [String: Tensor] = [:]
        for (k, name) in names.enumerated() { outputs[name] = Tensor(maps[k], n: n, c: 1, h: h, w: w) }
        let (terms, grads) = Losses.stage2(outputs: outputs, target: Tensor(target, n: n, c: 1, h: h, w: w))
        let d = maps.map { $0.map(Double.init) }, y = target.map(Double.init)
        let plane = Double(h * w)
        XCTAssertEqual(terms["loss"]!, naiveStage2(d[0], d[1], d[2], d[3], y, plane: plane), accuracy: 1e-9)
        let step = 1e-5
        for k in 0..<4 {
            for i in 0..<count {
                var plus = d, minus = d
                plus[k][i] += step
                minus[k][i] -= step
                let numeric = (naiveStage2(plus[0], plus[1], plus[2], plus[3], y, plane: plane)
                    - naiveStage2(minus[0], minus[1], minus[2], minus[3], y, plane: plane)) / (2 * step)
                XCTAssertEqual(Double(grads[names[k]]!.data[i]), numeric, accuracy: 1e-4 * max(1, abs(numeric)),
                               "\(names[k])[\(i)]")
            }
        }
    }

    func testStage1LossValueAndGradientAgainstFiniteDifferences() {
        var rng = SplitMix64(seed: 11)
        let count = 2 * 4 * 3
        let m = randomMap(count, &rng), a = randomMap(count, &rng)
        let target = (0..<count).map { _ in Float(rng.chance(0.5) ? 1 : 0) }
        let (terms, g, ga) = Losses.stage1(mask: Tensor(m, n: 2, c: 1, h: 4, w: 3),
                                           augmentedMask: Tensor(a, n: 2, c: 1, h: 4, w: 3),
                                           target: Tensor(target, n: 2, c: 1, h: 4, w: 3))
        let y = target.map(Double.init)
        // bin() is piecewise constant: finite differences see no gradient through it, which is the paper's rule.
        let binM = m.map { $0 > 0.5 ? 1.0 : 0.0 }, binA = a.map { $0 > 0.5 ? 1.0 : 0.0 }
        func bce(_ p: [Double], _ t: [Double]) -> Double {
            var s = 0.0
            for i in 0..<p.count { s -= t[i] * log(p[i]) + (1 - t[i]) * log(1 - p[i]) }
            return s / Double(p.count)
        }
        func loss(_ p: [Double], _ q: [Double]) -> Double {
            naiveBceDice(p, y) + naiveBceDice(q, y) + 0.5 * (bce(p, binA) + bce(q, binM))
        }
        let dm = m.map(Double.init), da = a.map(Double.init)
        XCTAssertEqual(terms["loss"]!, loss(dm, da), accuracy: 1e-9)
        let step = 1e-6
        for i in 0..<count {
            var p1 = dm, p2 = dm
            p1[i] += step; p2[i] -= step
            XCTAssertEqual(Double(g.data[i]), (loss(p1, da) - loss(p2, da)) / (2 * step), accuracy: 1e-4)
            var q1 = da, q2 = da
            q1[i] += step; q2[i] -= step
            XCTAssertEqual(Double(ga.data[i]), (loss(dm, q1) - loss(dm, q2)) / (2 * step), accuracy: 1e-4)
        }
    }
}
