// OpGradientTests.swift — every op's backward (TrainOps, float32) against central finite differences of a
// naive float64 forward written here from PyTorch's definitions, on small odd shapes. L = Σ u·f(x) with a
// random upstream gradient u; the analytic dL/dx must match the numeric one to 1e-3 of the largest gradient.

import CondSegCore
import CondSegIO
@testable import CondSegTrain
import XCTest

/// Random floats (exactly representable in both precisions).
func randomFloats(_ count: Int, _ rng: inout SplitMix64, _ lo: Double = -1, _ hi: Double = 1) -> [Float] {
    (0..<count).map { _ in Float(rng.uniform(lo, hi)) }
}

/// Numeric gradients of L(x) = Σ u·f(x) for every element of every input, by central differences in double.
func numericGradients(_ inputs: [[Float]], upstream: [Float], step: Double = 1e-6,
                      _ f: ([[Double]]) -> [Double]) -> [[Double]] {
    let base = inputs.map { $0.map(Double.init) }
    let u = upstream.map(Double.init)
    func loss(_ x: [[Double]]) -> Double {
        let y = f(x)
        precondition(y.count == u.count, "upstream \(u.count) vs output \(y.count)")
        var s = 0.0
        for i in 0..<y.count { s += u[i] * y[i] }
        return s
    }
    return base.indices.map { k in
        base[k].indices.map { i in
            var plus = base, minus = base
            plus[k][i] += step
            minus[k][i] -= step
            return (loss(plus) - loss(minus)) / (2 * step)
        }
    }
}

/// Asserts analytic ≈ numeric within 1e-3 of the numeric gradient's magnitude (plus 1e-6 absolute).
func assertGradientsClose(_ analytic: [Float], _ numeric: [Double], _ label: String,
                          file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(analytic.count, numeric.count, label, file: file, line: line)
    let magnitude = numeric.map(abs).max() ?? 0
    var worst = 0.0
    for i in 0..<min(analytic.count, numeric.count) { worst = max(worst, abs(Double(analytic[i]) - numeric[i])) }
    XCTAssertLessThanOrEqual(worst, 1e-3 * magnitude + 1e-6, "\(label): max error \(worst), magnitude \(magnitude)",
                             file: file, line: line)
    XCTAssertGreaterThan(magnitude, 0, "\(label): numeric gradient is all zero (test does not exercise the op)",
                         file: file, line: line)
}

final class OpGradientTests: XCTestCase {
    // MARK: convolution

    func naiveConv(_ x: [Double], _ w: [Double], _ b: [Double], n: Int, cin: Int, h: Int, wd: Int, cout: Int,
                   k: Int, s: Int, p: Int, d: Int) -> [Double] {
        let oh = (h + 2 * p - d * (k - 1) - 1) / s + 1, ow = (wd + 2 * p - d * (k - 1) - 1) / s + 1
        var y = [Double](repeating: 0, count: n * cout * oh * ow)
        for img in 0..<n { for o in 0..<cout { for oy in 0..<oh { for ox in 0..<ow {
            var acc = b[o]
            for c in 0..<cin { for ky in 0..<k { for kx in 0..<k {
                let iy = oy * s - p + ky * d, ix = ox * s - p + kx * d
                if iy < 0 || iy >= h || ix < 0 || ix >= wd { continue }
                acc += w[((o * cin + c) * k + ky) * k + kx] * x[((img * cin + c) * h + iy) * wd + ix]
            } } }
            y[((img * cout + o) * oh + oy) * ow + ox] = acc
        } } } }
        return y
    }

    /// `threads` 2 gives each image its own thread (one block per GEMM, operands in place); 1 packs both images
    /// side by side into one GEMM (gathered blocks).
    func checkConv(cin: Int, cout: Int, h: Int, w: Int, k: Int, s: Int, p: Int, d: Int, seed: UInt64, threads: Int = 2) {
        var rng = SplitMix64(seed: seed)
        let n = 2
        let spec = ConvSpec(weight: "w", bias: "b", inChannels: cin, outChannels: cout, kernel: k, stride: s,
                            padding: p, dilation: d)
        let oh = spec.outputSize(h), ow = spec.outputSize(w)
        let x = randomFloats(n * cin * h * w, &rng), weight = randomFloats(cout * cin * k * k, &rng)
        let bias = randomFloats(cout, &rng), u = randomFloats(n * cout * oh * ow, &rng)
        // Forward agrees with the naive convolution.
        let xt = Tensor(x, n: n, c: cin, h: h, w: w), yt = Tensor(n: n, c: cout, h: oh, w: ow)
        weight.withUnsafeBufferPointer { wp in
            bias.withUnsafeBufferPointer { bp in
                TrainOps.convForward(spec, weight: wp.baseAddress!, bias: bp.baseAddress!, x: xt, y: yt, threads: threads)
            }
        }
        let expected = naiveConv(x.map(Double.init), weight.map(Double.init), bias.map(Double.init), n: n, cin: cin,
                                 h: h, wd: w, cout: cout, k: k, s: s, p: p, d: d)
        for i in 0..<expected.count { XCTAssertEqual(Double(yt.data[i]), expected[i], accuracy: 1e-4) }
        var dW = [Float](repeating: 0, count: weight.count), dB = [Float](repeating: 0, count: cout)
        let dx = Tensor(n: n, c: cin, h: h, w: w)
        weight.withUnsafeBufferPointer { wp in
            dW.withUnsafeMutableBufferPointer { dwp in
                dB.withUnsafeMutableBufferPointer { dbp in
                    TrainOps.convBackward(spec, weight: wp.baseAddress!, x: xt, dy: Tensor(u, n: n, c: cout, h: oh, w: ow),
                                          dWeight: dwp.baseAddress!, dBias: dbp.baseAddress!, dx: dx, threads: threads)
                }
            }
        }
        let numeric = numericGradients([x, weight, bias], upstream: u) { v in
            naiveConv(v[0], v[1], v[2], n: n, cin: cin, h: h, wd: w, cout: cout, k: k, s: s, p: p, d: d)
        }
        let label = "conv k\(k) s\(s) p\(p) d\(d) threads \(threads)"
        assertGradientsClose(dx.array, numeric[0], label + " dx")
        assertGradientsClose(dW, numeric[1], label + " dW")
        assertGradientsClose(dB, numeric[2], label + " db")
    }

    func testConvolutionGradients() {
        for threads in [1, 2] {
            checkConv(cin: 3, cout: 4, h: 7, w: 6, k: 3, s: 2, p: 2, d: 2, seed: 1, threads: threads)
            checkConv(cin: 2, cout: 3, h: 5, w: 7, k: 3, s: 1, p: 1, d: 1, seed: 2, threads: threads)
            checkConv(cin: 3, cout: 2, h: 5, w: 5, k: 3, s: 1, p: 6, d: 6, seed: 3, threads: threads)    // padding beyond the image
            checkConv(cin: 5, cout: 3, h: 3, w: 5, k: 1, s: 1, p: 0, d: 1, seed: 4, threads: threads)    // pointwise / linear
            checkConv(cin: 3, cout: 2, h: 7, w: 7, k: 7, s: 2, p: 3, d: 1, seed: 5, threads: threads)    // stem-like
            checkConv(cin: 2, cout: 3, h: 6, w: 5, k: 1, s: 2, p: 0, d: 1, seed: 6, threads: threads)    // strided 1×1 (downsample)
        }
    }

    /// The convolution's split of a batch among threads and its packing of images into GEMM groups change y, dx
    /// and dW only by the order of float32 additions (a GEMM's blocking depends on its width), never by a term:
    /// every variant stays within the rounding bound of the one-block-per-GEMM result.
    func testConvolutionSplitsAndGroupsAgree() {
        let cases: [(cin: Int, cout: Int, h: Int, k: Int, s: Int, p: Int, d: Int)] = [
            (6, 5, 9, 3, 1, 1, 1), (4, 7, 10, 3, 2, 1, 1), (6, 4, 8, 1, 1, 0, 1), (3, 4, 9, 3, 1, 2, 2), (5, 6, 9, 1, 2, 0, 1),
        ]
        var rng = SplitMix64(seed: 41)
        for c in cases {
            let n = 5
            let spec = ConvSpec(weight: "w", bias: "b", inChannels: c.cin, outChannels: c.cout, kernel: c.k, stride: c.s,
                                padding: c.p, dilation: c.d)
            let oh = spec.outputSize(c.h)
            let x = Tensor(randomFloats(n * c.cin * c.h * c.h, &rng), n: n, c: c.cin, h: c.h, w: c.h)
            let weight = randomFloats(c.cout * c.cin * c.k * c.k, &rng), bias = randomFloats(c.cout, &rng)
            let dy = Tensor(randomFloats(n * c.cout * oh * oh, &rng), n: n, c: c.cout, h: oh, w: oh)
            func run(threads: Int, limit: Int) -> (y: [Float], dx: [Float], dW: [Float]) {
                // limit 1: one block per group; the default packs all of a thread's images into one group.
                let scratch = ConvScratch(threads: threads, columnLimit: limit)
                let y = Tensor(n: n, c: c.cout, h: oh, w: oh), dx = Tensor(n: n, c: c.cin, h: c.h, w: c.h)
                var dW = [Float](repeating: 0, count: weight.count)
                weight.withUnsafeBufferPointer { wp in
                    bias.withUnsafeBufferPointer { bp in
                        TrainOps.convForward(spec, weight: wp.baseAddress!, bias: bp.baseAddress!, x: x, y: y,
                                             threads: threads, scratch: scratch)
                    }
                    dW.withUnsafeMutableBufferPointer { dwp in
                        TrainOps.convBackward(spec, weight: wp.baseAddress!, x: x, dy: dy, dWeight: dwp.baseAddress!,
                                              dBias: nil, dx: dx, threads: threads, scratch: scratch)
                    }
                }
                return (y.array, dx.array, dW)
            }
            let base = run(threads: 1, limit: 1)
            let scale = base.dW.map(abs).max()!   // the check must see a non-zero gradient
            for (threads, limit) in [(1, ConvScratch.defaultColumnLimit), (2, 1), (2, ConvScratch.defaultColumnLimit),
                                     (3, ConvScratch.defaultColumnLimit), (7, 1)] {
                let other = run(threads: threads, limit: limit)
                let label = "\(c) threads \(threads) column limit \(limit)"
                // Each element is a sum of N products of factors in [-1, 1] (y: N = cin·k² plus the bias; dx: at
                // most cout·k² terms; dW: n·oh·ow terms). Any summation order is within γ_N·Σ|terms| ≤ N·u·N of
                // the exact sum, so two orders differ by at most 2N²u.
                func bound(_ terms: Int) -> Float { 2 * Float(terms * terms) * Float.ulpOfOne / 2 }
                func worst(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max()! }
                XCTAssertLessThanOrEqual(worst(other.y, base.y), bound(c.cin * c.k * c.k + 1), "y " + label)
                XCTAssertLessThanOrEqual(worst(other.dx, base.dx), bound(c.cout * c.k * c.k), "dx " + label)
                XCTAssertLessThanOrEqual(worst(other.dW, base.dW), bound(n * oh * oh), "dW " + label)
                XCTAssertGreaterThan(scale, 0)
                XCTAssertEqual(other.y.count, base.y.count)
            }
        }
    }

    // MARK: BatchNorm

    func naiveBatchNorm(_ x: [Double], _ g: [Double], _ b: [Double], n: Int, c: Int, plane: Int, relu: Bool) -> [Double] {
        var y = x
        for ch in 0..<c {
            var s = 0.0
            for img in 0..<n { for i in 0..<plane { s += x[(img * c + ch) * plane + i] } }
            let mean = s / Double(n * plane)
            var v = 0.0
            for img in 0..<n { for i in 0..<plane { let t = x[(img * c + ch) * plane + i] - mean; v += t * t } }
            let inv = 1 / (v / Double(n * plane) + 1e-5).squareRoot()
            for img in 0..<n { for i in 0..<plane {
                let o = (img * c + ch) * plane + i
                let t = g[ch] * (x[o] - mean) * inv + b[ch]
                y[o] = relu ? max(t, 0) : t
            } }
        }
        return y
    }

    func testBatchNormTrainingGradientsAndRunningStatistics() {
        for relu in [false, true] {
            var rng = SplitMix64(seed: relu ? 21 : 22)
            let (n, c, h, w) = (3, 4, 3, 5)
            let x = randomFloats(n * c * h * w, &rng, -2, 3), gamma = randomFloats(c, &rng, 0.5, 1.5)
            let beta = randomFloats(c, &rng), u = randomFloats(x.count, &rng)
            let z = Tensor(x, n: n, c: c, h: h, w: w), y = Tensor(n: n, c: c, h: h, w: w)
            var runningMean = [Float](repeating: 0.5, count: c), runningVar = [Float](repeating: 2, count: c)
            var dGamma = [Float](repeating: 0, count: c), dBeta = dGamma
            let dz = Tensor(n: n, c: c, h: h, w: w)
            gamma.withUnsafeBufferPointer { gp in
                beta.withUnsafeBufferPointer { bp in
                    runningMean.withUnsafeMutableBufferPointer { rm in
                        runningVar.withUnsafeMutableBufferPointer { rv in
                            let saved = TrainOps.batchNormForward(z: z, gamma: gp.baseAddress!, beta: bp.baseAddress!,
                                                                  runningMean: rm.baseAddress!, runningVar: rv.baseAddress!,
                                                                  relu: relu, y: y, threads: 2)
                            dGamma.withUnsafeMutableBufferPointer { dg in
                                dBeta.withUnsafeMutableBufferPointer { db in
                                    TrainOps.batchNormBackward(xhat: z, y: y, dy: Tensor(u, n: n, c: c, h: h, w: w),
                                                               relu: relu, gamma: gp.baseAddress!, saved: saved,
                                                               dGamma: dg.baseAddress!, dBeta: db.baseAddress!, dz: dz,
                                                               threads: 2)
                                }
                            }
                        }
                    }
                }
            }
            let dx = x.map(Double.init)
            let expected = naiveBatchNorm(dx, gamma.map(Double.init), beta.map(Double.init), n: n, c: c, plane: h * w, relu: relu)
            for i in 0..<expected.count { XCTAssertEqual(Double(y.data[i]), expected[i], accuracy: 1e-5) }
            // Running statistics: momentum 0.1, unbiased variance.
            for ch in 0..<c {
                var vals: [Double] = []
                for img in 0..<n { for i in 0..<(h * w) { vals.append(dx[(img * c + ch) * h * w + i]) } }
                let mean = vals.reduce(0, +) / Double(vals.count)
                let unbiased = vals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(vals.count - 1)
                XCTAssertEqual(Double(runningMean[ch]), 0.9 * 0.5 + 0.1 * mean, accuracy: 1e-5)
                XCTAssertEqual(Double(runningVar[ch]), 0.9 * 2 + 0.1 * unbiased, accuracy: 1e-5)
            }
            let numeric = numericGradients([x, gamma, beta], upstream: u) { v in
                naiveBatchNorm(v[0], v[1], v[2], n: n, c: c, plane: h * w, relu: relu)
            }
            assertGradientsClose(dz.array, numeric[0], "batchnorm relu=\(relu) dx")
            assertGradientsClose(dGamma, numeric[1], "batchnorm dγ")
            assertGradientsClose(dBeta, numeric[2], "batchnorm dβ")
        }
    }

    // MARK: pooling, upsampling, gates

    func testMaxPoolGradient() {
        var rng = SplitMix64(seed: 31)
        let (n, c, h, w) = (2, 3, 7, 6)
        let x = randomFloats(n * c * h * w, &rng)
        let (k, s, p) = (3, 2, 1)
        let oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1
        let u = randomFloats(n * c * oh * ow, &rng)
        func naive(_ v: [Double]) -> [Double] {
            var y: [Double] = []
            for plane in 0..<(n * c) { for oy in 0..<oh { for ox in 0..<ow {
                var m = -Double.infinity
                for ky in 0..<k { for kx in 0..<k {
                    let iy = oy * s - p + ky, ix = ox * s - p + kx
                    if iy >= 0 && iy < h && ix >= 0 && ix < w { m = max(m, v[plane * h * w + iy * w + ix]) }
                } }
                y.append(m)
            } } }
            return y
        }
        let xt = Tensor(x, n: n, c: c, h: h, w: w), yt = Tensor(n: n, c: c, h: oh, w: ow)
        TrainOps.maxPoolForward(kernel: k, stride: s, padding: p, x: xt, y: yt, threads: 2)
        XCTAssertEqual(yt.array.map(Double.init), naive(x.map(Double.init)))
        let dx = Tensor(n: n, c: c, h: h, w: w)
        TrainOps.maxPoolBackward(kernel: k, stride: s, padding: p, x: xt, dy: Tensor(u, n: n, c: c, h: oh, w: ow), dx: dx, threads: 2)
        assertGradientsClose(dx.array, numericGradients([x], upstream: u) { naive($0[0]) }[0], "maxpool")
    }

    func testUpsampleAlignCornersGradient() {
        for (h, w, f) in [(3, 5, 2), (2, 3, 4), (4, 4, 16)] {
            var rng = SplitMix64(seed: UInt64(40 + f))
            let (n, c) = (2, 2)
            let oh = h * f, ow = w * f
            let x = randomFloats(n * c * h * w, &rng), u = randomFloats(n * c * oh * ow, &rng)
            func naive(_ v: [Double]) -> [Double] {
                var y: [Double] = []
                for plane in 0..<(n * c) { for oy in 0..<oh { for ox in 0..<ow {
                    let sy = Double(oy) * Double(h - 1) / Double(oh - 1), sx = Double(ox) * Double(w - 1) / Double(ow - 1)
                    let y0 = min(Int(sy), h - 1), x0 = min(Int(sx), w - 1)
                    let y1 = min(y0 + 1, h - 1), x1 = min(x0 + 1, w - 1)
                    let ly = sy - Double(y0), lx = sx - Double(x0)
                    let at = { (yy: Int, xx: Int) in v[plane * h * w + yy * w + xx] }
                    y.append((1 - ly) * ((1 - lx) * at(y0, x0) + lx * at(y0, x1)) + ly * ((1 - lx) * at(y1, x0) + lx * at(y1, x1)))
                } } }
                return y
            }
            let xt = Tensor(x, n: n, c: c, h: h, w: w), yt = Tensor(n: n, c: c, h: oh, w: ow)
            TrainOps.upsampleForward(x: xt, y: yt, threads: 2)
            let expected = naive(x.map(Double.init))
            for i in 0..<expected.count { XCTAssertEqual(Double(yt.data[i]), expected[i], accuracy: 1e-5) }
            let dx = Tensor(n: n, c: c, h: h, w: w)
            TrainOps.upsampleBackward(dy: Tensor(u, n: n, c: c, h: oh, w: ow), dx: dx, threads: 2)
            assertGradientsClose(dx.array, numericGradients([x], upstream: u) { naive($0[0]) }[0], "upsample ×\(f)")
        }
    }

    func testMulWithChannelAndSpatialGates() {
        var rng = SplitMix64(seed: 51)
        let (n, c, h, w) = (2, 3, 4, 5)
        let x = randomFloats(n * c * h * w, &rng), u = randomFloats(x.count, &rng)
        for spatial in [false, true] {
            let gate = randomFloats(spatial ? n * h * w : n * c, &rng)
            func naive(_ v: [[Double]]) -> [Double] {
                var y: [Double] = []
                for img in 0..<n { for ch in 0..<c { for i in 0..<(h * w) {
                    let g = spatial ? v[1][img * h * w + i] : v[1][img * c + ch]
                    y.append(v[0][(img * c + ch) * h * w + i] * g)
                } } }
                return y
            }
            let xt = Tensor(x, n: n, c: c, h: h, w: w)
            let gt = spatial ? Tensor(gate, n: n, c: 1, h: h, w: w) : Tensor(gate, n: n, c: c, h: 1, w: 1)
            let yt = Tensor(n: n, c: c, h: h, w: w)
            TrainOps.mulForward(x: xt, gate: gt, y: yt)
            let expected = naive([x.map(Double.init), gate.map(Double.init)])
            for i in 0..<expected.count { XCTAssertEqual(Double(yt.data[i]), expected[i], accuracy: 1e-6) }
            let dx = Tensor(n: n, c: c, h: h, w: w), dg = Tensor(n: gt.n, c: gt.c, h: gt.h, w: gt.w)
            TrainOps.mulBackward(x: xt, gate: gt, dy: Tensor(u, n: n, c: c, h: h, w: w), dx: dx, dGate: dg)
            let numeric = numericGradients([x, gate], upstream: u, naive)
            assertGradientsClose(dx.array, numeric[0], "mul spatial=\(spatial) dx")
            assertGradientsClose(dg.array, numeric[1], "mul spatial=\(spatial) dgate")
        }
    }

    func testGlobalPoolsChannelMeanMaxAndSigmoid() {
        var rng = SplitMix64(seed: 61)
        let (n, c, h, w) = (2, 3, 3, 5)
        let x = randomFloats(n * c * h * w, &rng)
        let xt = Tensor(x, n: n, c: c, h: h, w: w)
        for useMax in [false, true] {
            let u = randomFloats(n * c, &rng)
            func naive(_ v: [Double]) -> [Double] {
                (0..<(n * c)).map { p in
                    let s = v[(p * h * w)..<((p + 1) * h * w)]
                    return useMax ? s.max()! : s.reduce(0, +) / Double(h * w)
                }
            }
            let yt = Tensor(n: n, c: c, h: 1, w: 1)
            TrainOps.globalPoolForward(max: useMax, x: xt, y: yt)
            let expected = naive(x.map(Double.init))
            for i in 0..<expected.count { XCTAssertEqual(Double(yt.data[i]), expected[i], accuracy: 1e-6) }
            let dx = Tensor(n: n, c: c, h: h, w: w)
            TrainOps.globalPoolBackward(max: useMax, x: xt, dy: Tensor(u, n: n, c: c, h: 1, w: 1), dx: dx)
            assertGradientsClose(dx.array, numericGradients([x], upstream: u) { naive($0[0]) }[0], "global pool max=\(useMax)")
        }
        do {
            let u = randomFloats(n * 2 * h * w, &rng)
            func naive(_ v: [Double]) -> [Double] {
                var y = [Double](repeating: 0, count: n * 2 * h * w)
                for img in 0..<n { for i in 0..<(h * w) {
                    let vals = (0..<c).map { v[(img * c + $0) * h * w + i] }
                    y[(img * 2) * h * w + i] = vals.reduce(0, +) / Double(c)
                    y[(img * 2 + 1) * h * w + i] = vals.max()!
                } }
                return y
            }
            let yt = Tensor(n: n, c: 2, h: h, w: w)
            TrainOps.channelMeanMaxForward(x: xt, y: yt)
            let expected = naive(x.map(Double.init))
            for i in 0..<expected.count { XCTAssertEqual(Double(yt.data[i]), expected[i], accuracy: 1e-6) }
            let dx = Tensor(n: n, c: c, h: h, w: w)
            TrainOps.channelMeanMaxBackward(x: xt, dy: Tensor(u, n: n, c: 2, h: h, w: w), dx: dx)
            assertGradientsClose(dx.array, numericGradients([x], upstream: u) { naive($0[0]) }[0], "channel mean/max")
        }
        do {
            let x3 = randomFloats(n * c * h * w, &rng, -4, 4), u = randomFloats(x3.count, &rng)
            let y = Tensor(n: n, c: c, h: h, w: w)
            ReferenceOps.sigmoid(x3, y.data, count: y.count)
            let dx = Tensor(n: n, c: c, h: h, w: w)
            TrainOps.sigmoidBackward(y: y, dy: Tensor(u, n: n, c: c, h: h, w: w), dx: dx)
            let numeric = numericGradients([x3], upstream: u) { $0[0].map { 1 / (1 + exp(-$0)) } }
            assertGradientsClose(dx.array, numeric[0], "sigmoid")
        }
    }

    // MARK: CDFA window attention

    /// Steps 3–6 of docs/architecture.md written directly: per pixel p and slot i, o = Σ_j softmax_j(scale·L)·v(p+off_j), folded to p+off_i.
    func naiveWindowAttention(_ v: [Double], _ logits: [Double], n: Int, c: Int, h: Int, w: Int, heads: Int, k: Int) -> [Double] {
        let kk = k * k, plane = h * w, headDim = c / heads
        let scale = 1 / Double(headDim).squareRoot()
        var y = [Double](repeating: 0, count: n * c * plane)
        var e = [Double](repeating: 0, count: kk)
        for img in 0..<n { for head in 0..<heads { for py in 0..<h { for px in 0..<w {
            for i in 0..<kk {
                let qy = py + i / k - k / 2, qx = px + i % k - k / 2
                guard qy >= 0 && qy < h && qx >= 0 && qx < w else { continue }
                var m = -Double.infinity
                for j in 0..<kk {
                    e[j] = logits[((img * heads + head) * kk * kk + i * kk + j) * plane + py * w + px] * scale
                    m = max(m, e[j])
                }
                var s = 0.0
                for j in 0..<kk { e[j] = exp(e[j] - m); s += e[j] }
                for cc in 0..<headDim {
                    let ch = head * headDim + cc
                    var o = 0.0
                    for j in 0..<kk {
                        let sy = py + j / k - k / 2, sx = px + j % k - k / 2
                        if sy < 0 || sy >= h || sx < 0 || sx >= w { continue }
                        o += e[j] / s * v[(img * c + ch) * plane + sy * w + sx]
                    }
                    y[(img * c + ch) * plane + qy * w + qx] += o
                }
            }
        } } } }
        return y
    }

    func testWindowAttentionGradients() {
        var rng = SplitMix64(seed: 71)
        let (n, c, h, w, heads, k) = (2, 4, 3, 4, 2, 3)
        let v = randomFloats(n * c * h * w, &rng), logits = randomFloats(n * heads * 81 * h * w, &rng, -2, 2)
        let u = randomFloats(v.count, &rng)
        let vt = Tensor(v, n: n, c: c, h: h, w: w), lt = Tensor(logits, n: n, c: heads * 81, h: h, w: w)
        let yt = Tensor(n: n, c: c, h: h, w: w)
        TrainOps.windowAttentionForward(heads: heads, window: k, values: vt, logits: lt, y: yt, threads: 2)
        let expected = naiveWindowAttention(v.map(Double.init), logits.map(Double.init), n: n, c: c, h: h, w: w, heads: heads, k: k)
        for i in 0..<expected.count { XCTAssertEqual(Double(yt.data[i]), expected[i], accuracy: 1e-5) }
        let dv = Tensor(n: n, c: c, h: h, w: w), dl = Tensor(n: n, c: heads * 81, h: h, w: w)
        TrainOps.windowAttentionBackward(heads: heads, window: k, values: vt, logits: lt, dy: Tensor(u, n: n, c: c, h: h, w: w),
                                         dValues: dv, dLogits: dl, threads: 2)
        let numeric = numericGradients([v, logits], upstream: u) { x in
            naiveWindowAttention(x[0], x[1], n: n, c: c, h: h, w: w, heads: heads, k: k)
        }
        assertGradientsClose(dv.array, numeric[0], "window attention dv")
        assertGradientsClose(dl.array, numeric[1], "window attention dlogits")
    }
}
