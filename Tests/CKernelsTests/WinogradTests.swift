// Tests of the Winograd F(m×m, 3×3) kernels (ckf_winograd.c): the transform matrices compute a 1-D correlation
// exactly (in double, on integers); whole convolutions (padding, dilation, sizes that are not multiples of the
// tile, bias, residuals, ReLU) stay within the bound derived in docs/architecture.md of the exact result computed
// here in double, for every float kernel set this CPU runs; every output pixel is written; splitting the tiles into
// blocks changes no bit; bad sizes are refused.
import CKernels
import CondSegIO
import CondSegTestSupport
import Foundation
import XCTest

func winogradMatrices(_ m: Int) -> WinogradMatrices {
    let n = m + 2
    var bt = [Double](repeating: 0, count: n * n), g = [Double](repeating: 0, count: n * 3)
    var at = [Double](repeating: 0, count: m * n)
    ckf_winograd_matrices(Int32(m), &bt, &g, &at)
    return WinogradMatrices(m: m, bt: bt, g: g, at: at)
}

/// γ_n = n·u/(1 − n·u), u = 2⁻²⁴.
private func gammaFloat(_ n: Int) -> Double {
    let u = 0x1p-24
    return Double(n) * u / (1 - Double(n) * u)
}

final class WinogradTests: XCTestCase {
    override func tearDown() {
        _ = ckf_force_isa(ckf_detected_isa())
        super.tearDown()
    }

    private var kernelSets: [ckf_isa] {
        ckf_detected_isa() == CKF_ISA_AVX2 ? [CKF_ISA_GENERIC, CKF_ISA_AVX2] : [CKF_ISA_GENERIC]
    }

    func testTransformsComputeCorrelationExactly() {
        var random = SplitMix64(state: 7)
        for m in [4, 6] {
            let t = winogradMatrices(m), n = m + 2
            for _ in 0..<50 {
                let d = (0..<n).map { _ in Double(random.below(41) - 20) }
                let g = (0..<3).map { _ in Double(random.below(41) - 20) }
                let gg = (0..<n).map { i in (0..<3).reduce(0.0) { $0 + t.g[i * 3 + $1] * g[$1] } }
                let bd = (0..<n).map { i in (0..<n).reduce(0.0) { $0 + t.bt[i * n + $1] * d[$1] } }
                for i in 0..<m {
                    let y = (0..<n).reduce(0.0) { $0 + t.at[i * n + $1] * gg[$1] * bd[$1] }
                    let exact = (0..<3).reduce(0.0) { $0 + d[i + $1] * g[$1] }
                    XCTAssertEqual(y, exact, accuracy: 1e-9 * max(1, abs(exact)), "F(\(m),3) output \(i)")
                }
            }
        }
    }

    /// One convolution by the Winograd kernels with a float GEMM written here (Σ over channels in order).
    private func winogradConvolution(m: Int, cin: Int, cout: Int, h: Int, w: Int, padding: Int, dilation: Int,
                                     x: [Float], weights: [Float], bias: [Float], residuals: [[Float]], relu: Bool,
                                     blockTiles: Int) -> (ckf_winograd_conv, [Float]) {
        var s = ckf_winograd_conv()
        XCTAssertEqual(ckf_winograd_setup(&s, Int32(m), Int32(cin), Int32(cout), Int32(h), Int32(w), Int32(padding),
                                          Int32(dilation)), 1)
        let points = Int(ckf_winograd_points(Int32(m)))
        var v = [Float](repeating: 0, count: points * cout * cin)
        ckf_winograd_weights(Int32(m), Int32(cout), Int32(cin), weights, &v)
        let total = ckf_winograd_tile_count(&s)
        let ld = (blockTiles + 7) & ~7
        var y = [Float](repeating: .nan, count: cout * Int(s.out_h) * Int(s.out_w))
        var u = [Float](repeating: .nan, count: points * cin * ld), mm = [Float](repeating: 0, count: points * cout * ld)
        let residualBuffers = residuals.map { CBuffer($0) }
        var residualPointers: [UnsafePointer<Float>?] = residualBuffers.map { UnsafePointer($0.pointer) }
        residualPointers.append(nil)
        var begin = 0
        while begin < total {
            let tiles = min(blockTiles, total - begin)
            ckf_winograd_input(&s, x, begin, Int32(tiles), &u, ld)
            for p in 0..<points {
                for o in 0..<cout {
                    for t in 0..<ld {
                        var sum: Float = 0
                        for c in 0..<cin { sum += v[(p * cout + o) * cin + c] * u[(p * cin + c) * ld + t] }
                        mm[(p * cout + o) * ld + t] = sum
                    }
                }
            }
            residualPointers.withUnsafeBufferPointer { r in
                ckf_winograd_output(&s, mm, ld, begin, Int32(tiles), &y, bias, r.baseAddress!, Int32(residuals.count),
                                    relu ? 1 : 0)
            }
            begin += tiles
        }
        withExtendedLifetime(residualBuffers) {}
        return (s, y)
    }

    func testConvolutionsWithinDerivedBound() {
        var random = SplitMix64(state: 11)
        let shapes: [(cin: Int, cout: Int, h: Int, w: Int, padding: Int, dilation: Int, residuals: Int, relu: Bool)] = [
            (16, 8, 16, 16, 1, 1, 0, false), (9, 5, 13, 11, 1, 1, 1, true), (8, 12, 20, 23, 6, 6, 2, true),
            (6, 4, 17, 15, 12, 12, 0, false), (5, 7, 10, 9, 0, 1, 1, false), (4, 3, 7, 7, 18, 18, 0, true),
        ]
        for isa in kernelSets {
            XCTAssertEqual(ckf_force_isa(isa), 1)
            for m in [4, 6] {
                let t = winogradMatrices(m)
                for shape in shapes {
                    let (cin, cout, h, w) = (shape.cin, shape.cout, shape.h, shape.w)
                    let x = (0..<(cin * h * w)).map { _ in Float(random.below(2001) - 1000) / 377 }
                    let weights = (0..<(cout * cin * 9)).map { _ in Float(random.below(2001) - 1000) / 911 }
                    let bias = (0..<cout).map { _ in Float(random.below(201) - 100) / 33 }
                    let outH = h + 2 * shape.padding - 2 * shape.dilation, outW = w + 2 * shape.padding - 2 * shape.dilation
                    let residuals = (0..<shape.residuals).map { _ in
                        (0..<(cout * outH * outW)).map { _ in Float(random.below(2001) - 1000) / 501 }
                    }
                    let (s, y) = winogradConvolution(m: m, cin: cin, cout: cout, h: h, w: w, padding: shape.padding,
                                                     dilation: shape.dilation, x: x, weights: weights, bias: bias,
                                                     residuals: residuals, relu: shape.relu, blockTiles: 24)
                    XCTAssertEqual(Int(s.out_h), outH)
                    let sums = winogradAbsoluteSums(t, weights: weights, input: x, inChannels: cin, outChannels: cout,
                                                    inH: h, inW: w, outH: outH, outW: outW, padding: shape.padding,
                                                    dilation: shape.dilation)
                    let k = 1 + 2 * t.inputTerms + cin + 2 * t.outputTerms + 1 + shape.residuals
                    var worst = 0.0
                    for o in 0..<cout {
                        for oy in 0..<outH {
                            for ox in 0..<outW {
                                let at = (o * outH + oy) * outW + ox
                                var exact = Double(bias[o]), magnitude = sums[at] + Double(abs(bias[o]))
                                for c in 0..<cin {
                                    for ky in 0..<3 {
                                        for kx in 0..<3 {
                                            let iy = oy - shape.padding + ky * shape.dilation
                                            let ix = ox - shape.padding + kx * shape.dilation
                                            guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                                            exact += Double(weights[((o * cin + c) * 3 + ky) * 3 + kx]) * Double(x[(c * h + iy) * w + ix])
                                        }
                                    }
                                }
                                for r in residuals { exact += Double(r[at]); magnitude += Double(abs(r[at])) }
                                if shape.relu { exact = max(exact, 0) }
                                let bound = gammaFloat(k) * magnitude * (1 + 1e-9)
                                let error = abs(Double(y[at]) - exact)
                                XCTAssertLessThanOrEqual(error, bound, "F(\(m),3) isa \(isa.rawValue) \(shape) at \(o),\(oy),\(ox)")
                                if error > bound { return }
                                worst = max(worst, error / bound)
                            }
                        }
                    }
                    print("winograd F(\(m),3) isa \(isa.rawValue) \(shape): worst error / bound \(worst)")
                }
            }
        }
    }

    func testBlocksDoNotChangeBits() {
        var random = SplitMix64(state: 5)
        let x = (0..<(8 * 19 * 21)).map { _ in Float(random.below(2001) - 1000) / 377 }
        let weights = (0..<(8 * 8 * 9)).map { _ in Float(random.below(2001) - 1000) / 911 }
        let bias = [Float](repeating: 0.5, count: 8)
        for isa in kernelSets {
            XCTAssertEqual(ckf_force_isa(isa), 1)
            for m in [4, 6] {
                let whole = winogradConvolution(m: m, cin: 8, cout: 8, h: 19, w: 21, padding: 2, dilation: 2, x: x,
                                                weights: weights, bias: bias, residuals: [], relu: true, blockTiles: 4096).1
                for blockTiles in [8, 13, 40] {
                    let split = winogradConvolution(m: m, cin: 8, cout: 8, h: 19, w: 21, padding: 2, dilation: 2, x: x,
                                                    weights: weights, bias: bias, residuals: [], relu: true,
                                                    blockTiles: blockTiles).1
                    XCTAssertEqual(split, whole, "F(\(m),3) blocks of \(blockTiles)")
                }
                XCTAssertFalse(whole.contains { $0.isNaN }, "every output pixel written")
            }
        }
    }

    func testSetupRefusesBadArguments() {
        var s = ckf_winograd_conv()
        XCTAssertEqual(ckf_winograd_setup(&s, 5, 8, 8, 16, 16, 1, 1), 0, "tile side 5")
        XCTAssertEqual(ckf_winograd_setup(&s, 4, 0, 8, 16, 16, 1, 1), 0, "no input channels")
        XCTAssertEqual(ckf_winograd_setup(&s, 4, 8, 8, 2, 2, 0, 1), 0, "output would be empty")
        XCTAssertEqual(ckf_winograd_setup(&s, 4, 8, 8, 16, 16, 1, 0), 0, "dilation 0")
        XCTAssertEqual(ckf_winograd_points(3), 0)
        XCTAssertEqual(ckf_winograd_setup(&s, 6, 8, 8, 16, 16, 1, 1), 1)
        XCTAssertEqual(ckf_winograd_tile_count(&s), 9)
    }
}
