// Tests of the portable float kernels (ckernels_float.h) that the int8 executors use between int8 layers: the
// fixed-order GEMM equals a naive fused-multiply-add chain written here bit for bit (every kernel set this CPU
// runs, odd shapes, padded strides, any split of the rows over 1…4 threads); the portable exp is within 1.02 ulp
// of e^x computed in double precision and every kernel set gives the same bits; the sigmoid and the window
// attention give the same bits on every kernel set and for any row split, and so does its NHWC form, which gives the
// planar portable C attention's bits element for element. The aarch64 (NEON) sets are compared with these bits by
// the native self-test under qemu (scripts/test-aarch64.sh).
import CKernels
import Foundation
import XCTest

final class PortableFloatKernelTests: XCTestCase {
    override func tearDown() {
        _ = ckf_force_isa(ckf_detected_isa())
        super.tearDown()
    }

    /// The float kernel sets this CPU runs (portable C first).
    private var kernelSets: [ckf_isa] {
        [CKF_ISA_GENERIC, CKF_ISA_AVX2, CKF_ISA_NEON].filter { $0 == CKF_ISA_GENERIC || $0 == ckf_detected_isa() }
    }

    /// A float with a full 24-bit significand in (−scale, scale), so that products and sums round.
    private func fullFloat(_ random: inout SplitMix64, scale: Float) -> Float {
        Float(Int64(random.next() >> 40) - (1 << 23)) / Float(1 << 23) * scale
    }

    /// C[m][n] = fma(A[m][K−1], W[n][K−1], … fma(A[m][0], W[n][0], 0)), written here from the definition.
    private func naiveGemm(a: [Float], lda: Int, w: [Float], m: Int, n: Int, k: Int, ldc: Int, fill: Float) -> [Float] {
        var c = [Float](repeating: fill, count: m * ldc)
        for row in 0..<m {
            for col in 0..<n {
                var acc: Float = 0
                for q in 0..<k { acc = acc.addingProduct(a[row * lda + q], w[col * k + q]) }
                c[row * ldc + col] = acc
            }
        }
        return c
    }

    /// Runs ckf_gemm_fixed with the rows split into `threads` chunks, each on its own thread.
    private func gemm(a: CBuffer<Float>, lda: Int, packed: CBuffer<Float>, m: Int, n: Int, k: Int, ldc: Int,
                      threads: Int, fill: Float) -> [Float] {
        let c = CBuffer<Float>(count: m * ldc, repeating: fill)
        let status = CBuffer<Int32>(count: threads, repeating: 0)
        nonisolated(unsafe) let pa = a.pointer, pp = packed.pointer, pc = c.pointer, ps = status.pointer
        DispatchQueue.concurrentPerform(iterations: threads) { chunk in
            let begin = m * chunk / threads, end = m * (chunk + 1) / threads
            ps[chunk] = ckf_gemm_fixed(pa, lda, pp, Int32(n), Int32(k), Int32(begin), Int32(end), pc, ldc)
        }
        XCTAssertEqual(status.array, [Int32](repeating: 0, count: threads))
        return c.array
    }

    func testFixedOrderGemmEqualsTheNaiveFmaChainForEveryKernelSetShapeAndThreadCount() {
        var random = SplitMix64(state: 41)
        var shapes: [(m: Int, n: Int, k: Int)] = [(1, 1, 1), (6, 16, 1), (7, 17, 3), (5, 15, 2), (13, 33, 64),
                                                  (250, 324, 64), (131, 1, 98), (12, 2, 513), (121, 64, 9)]
        for _ in 0..<30 { shapes.append((1 + random.below(40), 1 + random.below(50), 1 + random.below(300))) }
        for shape in shapes {
            let lda = shape.k + random.below(4), ldc = shape.n + random.below(5)
            let a = (0..<(shape.m * lda)).map { _ in fullFloat(&random, scale: 4) }
            let w = (0..<(shape.n * shape.k)).map { _ in fullFloat(&random, scale: 0.5) }
            let expected = naiveGemm(a: a, lda: lda, w: w, m: shape.m, n: shape.n, k: shape.k, ldc: ldc, fill: -3)
            let packed = CBuffer<Float>(count: ckf_gemm_packed_floats(Int32(shape.n), Int32(shape.k)), repeating: .nan)
            let wBuffer = CBuffer(w), aBuffer = CBuffer(a)
            ckf_gemm_pack(wBuffer.pointer, Int32(shape.n), Int32(shape.k), shape.k, packed.pointer)
            // The C reference function is the same definition.
            let reference = CBuffer<Float>(count: shape.m * ldc, repeating: -3)
            ckf_gemm_fixed_reference(aBuffer.pointer, lda, wBuffer.pointer, shape.k, Int32(shape.n), Int32(shape.k), 0,
                                     Int32(shape.m), reference.pointer, ldc)
            XCTAssertEqual(reference.array.map(\.bitPattern), expected.map(\.bitPattern), "reference \(shape)")
            for isa in kernelSets {
                XCTAssertEqual(ckf_force_isa(isa), 1)
                for threads in 1...4 {
                    let got = gemm(a: aBuffer, lda: lda, packed: packed, m: shape.m, n: shape.n, k: shape.k, ldc: ldc,
                                   threads: threads, fill: -3)
                    XCTAssertEqual(got.map(\.bitPattern), expected.map(\.bitPattern),
                                   "\(shape) lda \(lda) ldc \(ldc), \(String(cString: ckf_isa_name(isa))), \(threads) threads")
                }
            }
        }
    }

    func testFixedOrderGemmRejectsBadArguments() {
        let a = CBuffer<Float>(count: 16, repeating: 1), p = CBuffer<Float>(count: 64, repeating: 1)
        let c = CBuffer<Float>(count: 16, repeating: 5)
        XCTAssertEqual(ckf_gemm_fixed(a.pointer, 3, p.pointer, 2, 4, 0, 2, c.pointer, 2), -1)   // lda < K
        XCTAssertEqual(ckf_gemm_fixed(a.pointer, 4, p.pointer, 2, 4, 0, 2, c.pointer, 1), -1)   // ldc < N
        XCTAssertEqual(ckf_gemm_fixed(a.pointer, 4, p.pointer, 0, 4, 0, 2, c.pointer, 2), -1)   // N < 1
        XCTAssertEqual(ckf_gemm_fixed(nil, 4, p.pointer, 2, 4, 0, 2, c.pointer, 2), -1)
        XCTAssertEqual(c.array, [Float](repeating: 5, count: 16), "a rejected call wrote its output")
        XCTAssertEqual(ckf_gemm_packed_floats(17, 3), 96)
        XCTAssertEqual(ckf_gemm_packed_floats(0, 3), 0)
    }

    /// Inputs for the exp: a dense sweep of [−87, 88], random bit patterns inside it, the boundaries, the ranges
    /// where 2ⁿ changes, and a few values outside.
    private func expInputs() -> [Float] {
        var x: [Float] = []
        var random = SplitMix64(state: 5)
        var v: Float = -87
        while v <= 88 { x.append(v); v += 0.000_37 }
        let low = Float(-87).bitPattern, high = Float(88).bitPattern
        for _ in 0..<400_000 {
            let bits = UInt32(truncatingIfNeeded: random.next())
            let f = Float(bitPattern: bits)
            if f.isFinite && f >= -87 && f <= 88 { x.append(f) }
        }
        for n in -125...126 {
            let centre = Float(n) * Float(M_LN2) + Float(M_LN2) / 2
            var f = centre
            for _ in 0..<20 { x.append(f); f = f.nextUp }
        }
        x += [-87, 88, Float(bitPattern: low - 1), Float(bitPattern: high - 1), 0, -0, 1e-30, -1e-30]
        return x
    }

    func testPortableExpIsWithinOneUlpOfDoubleAndIdenticalOnEveryKernelSet() {
        let x = expInputs()
        var results: [[Float]] = []
        for isa in kernelSets {
            XCTAssertEqual(ckf_force_isa(isa), 1)
            var y = [Float](repeating: .nan, count: x.count)
            ckf_exp_portable(x, &y, x.count)
            results.append(y)
        }
        for other in results.dropFirst() { XCTAssertEqual(other.map(\.bitPattern), results[0].map(\.bitPattern)) }
        var worst = 0.0, worstX: Float = 0
        for (xi, yi) in zip(x, results[0]) {
            let exact = Foundation.exp(Double(xi))
            let ulp = Double(Float(exact).nextUp) - Double(Float(exact))
            let error = abs(Double(yi) - exact) / ulp
            if error > worst { (worst, worstX) = (error, xi) }
        }
        // Every float in [−87, 88] measured exhaustively once (the firmware notes have the command): 1.010 ulp.
        XCTAssertLessThanOrEqual(worst, 1.02, "worst at x = \(worstX)")
        // Outside the range the input is clamped; NaN reads as the lower end.
        for isa in kernelSets {
            XCTAssertEqual(ckf_force_isa(isa), 1)
            let edges: [Float] = [-1000, -87, 1000, 88, .nan, -.infinity, .infinity, -87.5, 89, 0, 0, 0]
            var y = [Float](repeating: 0, count: edges.count)
            ckf_exp_portable(edges, &y, edges.count)
            XCTAssertEqual(y[0], y[1]); XCTAssertEqual(y[2], y[3]); XCTAssertEqual(y[4], y[1])
            XCTAssertEqual(y[5], y[1]); XCTAssertEqual(y[6], y[3]); XCTAssertEqual(y[7], y[1]); XCTAssertEqual(y[8], y[3])
            XCTAssertEqual(y[9], 1)
            XCTAssertTrue(y[3].isFinite && y[3] > 1.6e38, "e^88 = \(y[3])")
        }
    }

    func testPortableSigmoidIsIdenticalOnEveryKernelSetAndCloseToDouble() {
        var x: [Float] = []
        var v: Float = -100
        while v <= 100 { x.append(v); v += 0.0013 }
        x += [.nan, .infinity, -.infinity, 0, -0]
        var results: [[Float]] = []
        for isa in kernelSets {
            XCTAssertEqual(ckf_force_isa(isa), 1)
            var y = [Float](repeating: .nan, count: x.count)
            ckf_sigmoid_portable(x, &y, x.count)
            results.append(y)
        }
        for other in results.dropFirst() { XCTAssertEqual(other.map(\.bitPattern), results[0].map(\.bitPattern)) }
        for (xi, yi) in zip(x, results[0]) where xi.isFinite {
            let exact = 1 / (1 + Foundation.exp(-Double(xi)))
            // exp within 1.02 ulp, then an addition and a division: at most 3 ulp of the result, plus the clamp
            // of e^−x at e^88 (an absolute 6.1e−39) for x < −88.
            let ulp = Double(Float(exact).nextUp) - Double(Float(exact))
            XCTAssertLessThanOrEqual(abs(Double(yi) - exact), 3 * ulp + 6.1e-39, "sigmoid(\(xi)) = \(yi), exact \(exact)")
        }
    }

    private func attention(_ args: ckf_attention_args, splits: [Int32]) -> [UInt32] {
        var args = args
        let count = Int(args.channels * args.height * args.width)
        let scratch = CBuffer<Float>(count: ckf_window_attention_scratch(&args), repeating: .nan)
        let output = CBuffer<Float>(count: count, repeating: .nan)
        args.output = output.pointer
        let bounds = [0] + splits + [args.height]
        for (begin, end) in zip(bounds, bounds.dropFirst()) {
            XCTAssertEqual(ckf_window_attention_portable(&args, begin, end, scratch.pointer), 0)
        }
        return output.array.map(\.bitPattern)
    }

    func testPortableWindowAttentionIsIdenticalOnEveryKernelSetAndRowSplit() {
        var random = SplitMix64(state: 9)
        let shapes: [(heads: Int, dim: Int, h: Int, w: Int, k: Int)] = [
            (1, 1, 1, 1, 3), (2, 3, 3, 5, 3), (4, 4, 4, 8, 3), (1, 5, 7, 13, 3), (2, 4, 16, 20, 3), (1, 8, 11, 37, 3),
            (1, 2, 9, 23, 5),
        ]
        for shape in shapes {
            let channels = shape.heads * shape.dim, plane = shape.h * shape.w, kk = shape.k * shape.k
            let values = CBuffer((0..<(channels * plane)).map { _ in fullFloat(&random, scale: 3) })
            let logits = CBuffer((0..<(shape.heads * kk * kk * plane)).map { _ in fullFloat(&random, scale: 12) })
            var args = ckf_attention_args()
            args.heads = Int32(shape.heads); args.window = Int32(shape.k); args.channels = Int32(channels)
            args.height = Int32(shape.h); args.width = Int32(shape.w)
            args.values = UnsafePointer(values.pointer); args.logits = UnsafePointer(logits.pointer)
            args.scale = Float(1.0 / Double(shape.dim).squareRoot())
            var results: [[UInt32]] = []
            for isa in kernelSets {
                XCTAssertEqual(ckf_force_isa(isa), 1)
                results.append(attention(args, splits: []))
                results.append(attention(args, splits: [Int32(shape.h / 2)]))
                results.append(attention(args, splits: [1, Int32(shape.h / 3), Int32(shape.h - 1)].filter { $0 > 0 && $0 < shape.h }))
            }
            for other in results.dropFirst() { XCTAssertEqual(other, results[0], "\(shape)") }
            XCTAssertFalse(results[0].contains(Float.nan.bitPattern), "\(shape): an output was not written")
        }
    }

    /// Runs ckf_window_attention_nhwc_portable with the rows split at `splits`, each part with its own NaN-filled
    /// scratch; the output (NaN-filled first) as bit patterns, NHWC.
    private func attentionNHWC(_ args: ckf_attention_args, splits: [Int32]) -> [UInt32] {
        var args = args
        let count = Int(args.channels * args.height * args.width)
        let output = CBuffer<Float>(count: count, repeating: .nan)
        args.output = output.pointer
        let bounds = [0] + splits + [args.height]
        for (begin, end) in zip(bounds, bounds.dropFirst()) {
            let scratch = CBuffer<Float>(count: ckf_window_attention_nhwc_scratch(&args), repeating: .nan)
            XCTAssertEqual(ckf_window_attention_nhwc_portable(&args, begin, end, scratch.pointer), 0)
        }
        return output.array.map(\.bitPattern)
    }

    func testNHWCWindowAttentionGivesThePlanarPortableBitsOnEveryKernelSetAndRowSplit() {
        var random = SplitMix64(state: 17)
        // Widths below 8, not a multiple of 8, and wide enough for the vector kernels' 4-pixel interior tiles;
        // one row; head sizes of 16 (two AVX2 vectors), 8, 12 and 20 (a masked vector), and odd ones.
        let shapes: [(heads: Int, dim: Int, h: Int, w: Int, k: Int)] = [
            (1, 1, 1, 1, 3), (2, 3, 3, 5, 3), (4, 16, 9, 21, 3), (4, 16, 1, 19, 3), (1, 16, 6, 7, 3), (2, 12, 10, 30, 3),
            (1, 20, 5, 13, 3), (4, 8, 12, 24, 3), (2, 5, 7, 17, 3), (1, 2, 9, 23, 5), (2, 16, 11, 29, 5), (4, 4, 2, 6, 5),
        ]
        for shape in shapes {
            let channels = shape.heads * shape.dim, plane = shape.h * shape.w, kk = shape.k * shape.k
            let slots = shape.heads * kk * kk
            let values = (0..<(channels * plane)).map { _ in fullFloat(&random, scale: 3) }
            let logits = (0..<(slots * plane)).map { _ in fullFloat(&random, scale: 12) }
            // The same tensors channel-interleaved: element [c][p] of the planar form is [p][c].
            var valuesNHWC = [Float](repeating: 0, count: values.count), logitsNHWC = [Float](repeating: 0, count: logits.count)
            for p in 0..<plane {
                for c in 0..<channels { valuesNHWC[p * channels + c] = values[c * plane + p] }
                for c in 0..<slots { logitsNHWC[p * slots + c] = logits[c * plane + p] }
            }
            let planarValues = CBuffer(values), planarLogits = CBuffer(logits)
            let nhwcValues = CBuffer(valuesNHWC), nhwcLogits = CBuffer(logitsNHWC)
            var args = ckf_attention_args()
            args.heads = Int32(shape.heads); args.window = Int32(shape.k); args.channels = Int32(channels)
            args.height = Int32(shape.h); args.width = Int32(shape.w)
            args.scale = Float(1.0 / Double(shape.dim).squareRoot())

            XCTAssertEqual(ckf_force_isa(CKF_ISA_GENERIC), 1)
            args.values = UnsafePointer(planarValues.pointer); args.logits = UnsafePointer(planarLogits.pointer)
            let planar = attention(args, splits: [])
            XCTAssertFalse(planar.contains(Float.nan.bitPattern), "\(shape): the planar reference left an output unwritten")
            var expected = [UInt32](repeating: 0, count: planar.count)
            for p in 0..<plane { for c in 0..<channels { expected[p * channels + c] = planar[c * plane + p] } }

            args.values = UnsafePointer(nhwcValues.pointer); args.logits = UnsafePointer(nhwcLogits.pointer)
            let h = Int32(shape.h)
            let splitSets: [[Int32]] = [[], [h / 2], [1, h / 3, h - 1], Array(1..<h)].map { splits in
                Array(Set(splits.filter { $0 > 0 && $0 < h })).sorted()
            }
            for isa in kernelSets {
                XCTAssertEqual(ckf_force_isa(isa), 1)
                for splits in splitSets {
                    let got = attentionNHWC(args, splits: splits)
                    let mismatches = zip(got, expected).filter { $0 != $1 }.count
                    XCTAssertEqual(mismatches, 0, "\(shape), \(String(cString: ckf_isa_name(isa))), splits \(splits)")
                }
            }
        }
    }

    func testNHWCWindowAttentionScratchDoesNotGrowWithHeightAndBadArgumentsWriteNothing() {
        var args = ckf_attention_args()
        args.heads = 4; args.window = 3; args.channels = 64; args.width = 128
        args.height = 1
        let small = ckf_window_attention_nhwc_scratch(&args)
        args.height = 4096
        XCTAssertEqual(ckf_window_attention_nhwc_scratch(&args), small)
        args.width = 256
        XCTAssertGreaterThan(ckf_window_attention_nhwc_scratch(&args), small)   // it grows with the width instead

        let values = CBuffer<Float>(count: 2 * 3 * 4, repeating: 1), logits = CBuffer<Float>(count: 81 * 3 * 4, repeating: 0)
        let output = CBuffer<Float>(count: 2 * 3 * 4, repeating: -5)
        var good = ckf_attention_args()
        good.heads = 1; good.window = 3; good.channels = 2; good.height = 3; good.width = 4; good.scale = 1
        good.values = UnsafePointer(values.pointer); good.logits = UnsafePointer(logits.pointer); good.output = output.pointer
        let scratch = CBuffer<Float>(count: ckf_window_attention_nhwc_scratch(&good), repeating: 0)
        var bad = [good, good, good, good, good]
        bad[0].window = 4          // even window
        bad[1].heads = 3           // channels not a multiple of heads
        bad[2].window = 9          // larger than the kernels accept
        bad[3].values = nil
        bad[4].width = 0
        for var args in bad {
            XCTAssertEqual(ckf_window_attention_nhwc_portable(&args, 0, 3, scratch.pointer), -1)
        }
        XCTAssertEqual(ckf_window_attention_nhwc_portable(&good, 0, 3, nil), -1)
        XCTAssertEqual(output.array, [Float](repeating: -5, count: 24))
        // Equal logits: every weight is 1/9 of its window; with values all 1 each output sums the in-image slots.
        XCTAssertEqual(ckf_window_attention_nhwc_portable(&good, 0, 3, scratch.pointer), 0)
        XCTAssertFalse(output.array.contains(-5))
    }
}
