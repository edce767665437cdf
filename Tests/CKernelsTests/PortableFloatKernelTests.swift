// Tests of the portable float kernels (ckernels_float.h) that the int8 executors use between int8 layers: the
// fixed-order GEMM equals a naive fused-multiply-add chain written here bit for bit (every kernel set this CPU
// runs, odd shapes, padded strides, any split of the rows over 1…4 threads), and so does the blocked convolution
// with its epilogue (ckf_conv_fixed) followed by the scalar epilogue and quantization, and the direct convolution
// for few output channels equals im2col + that; global pooling equals its definition; the portable exp is within 1.02 ulp
// of e^x computed in double precision and every kernel set gives the same bits; the sigmoid and the window
// attention give the same bits on every kernel set and for any row split, and so does its NHWC form, which gives the
// planar portable C attention's bits element for element; the vector quantize, the align-corners upsampling and
// the gate multiply (each with its fused uint8 output), the per-pixel channel mean/max and the narrow GEMM and wide-
// row direct convolution paths equal their definitions on every kernel set. The aarch64 (NEON) sets are compared
// with these bits by the native self-test under qemu (scripts/test-aarch64.sh).
import CKernels
import CondSegIO
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

    /// ckf_conv_fixed: the fixed-order GEMM (the naive chain above), then per element c + bias, + residual, ReLU
    /// (`v > 0 ? v : 0`) and ck_quantize_u8, written here; shapes crossing the row block (CKF_CONV_BLOCK_ROWS),
    /// channels crossing the 16-wide panels, strided outputs and residual, with and without a float output (then
    /// in scratch), every kernel set, rows split over 1…3 threads. NaN residuals under ReLU give +0 as the scalar.
    func testConvWithEpilogueEqualsTheGemmThenTheScalarEpilogueForEveryKernelSetAndSplit() {
        var random = SplitMix64(state: 97)
        let shapes: [(m: Int, n: Int, k: Int)] = [(1, 1, 1), (7, 17, 3), (121, 324, 64), (245, 33, 9), (250, 1, 64),
                                                  (361, 20, 5), (13, 16, 70)]
        for shape in shapes {
            let (m, n, k) = shape
            let lda = k + random.below(3)
            let a = (0..<(m * lda)).map { _ in fullFloat(&random, scale: 4) }
            let w = (0..<(n * k)).map { _ in fullFloat(&random, scale: 0.5) }
            let bias = (0..<n).map { _ in fullFloat(&random, scale: 2) }
            let product = naiveGemm(a: a, lda: lda, w: w, m: m, n: n, k: k, ldc: n, fill: 0)
            let packed = CBuffer<Float>(count: ckf_gemm_packed_floats(Int32(n), Int32(k)), repeating: .nan)
            let wBuffer = CBuffer(w), aBuffer = CBuffer(a), biasBuffer = CBuffer(bias)
            ckf_gemm_pack(wBuffer.pointer, Int32(n), Int32(k), k, packed.pointer)
            for variant in 0..<8 {
                let useResidual = variant & 1 != 0, relu = variant & 2 != 0, floatOut = variant & 4 != 0
                let ldr = n + random.below(4), ldc = n + random.below(5), ldq = n + random.below(6)
                var residual = (0..<(m * ldr)).map { _ in fullFloat(&random, scale: 3) }
                if relu { for i in stride(from: 0, to: residual.count, by: 7) { residual[i] = .nan } }
                let (inv, zp): (Float, Int32) = (1 / 0.037, Int32(random.below(256)))
                var expected = [Float](repeating: -5, count: m * ldc)
                var expectedBytes = [UInt8](repeating: 7, count: m * ldq)
                for row in 0..<m {
                    for col in 0..<n {
                        var v = product[row * n + col] + bias[col]
                        if useResidual { v = v + residual[row * ldr + col] }
                        if relu { v = v > 0 ? v : 0 }
                        expected[row * ldc + col] = v
                        var q: UInt8 = 0
                        ck_quantize_u8(&v, &q, 1, inv, zp)
                        expectedBytes[row * ldq + col] = q
                    }
                }
                let residualBuffer = CBuffer(residual)
                for isa in kernelSets {
                    XCTAssertEqual(ckf_force_isa(isa), 1)
                    for threads in 1...3 {
                        let c = CBuffer<Float>(count: m * ldc, repeating: -5)
                        let bytes = CBuffer<UInt8>(count: m * ldq, repeating: 7)
                        let scratch = CBuffer<Float>(count: threads * ckf_conv_scratch_floats(Int32(n)), repeating: .nan)
                        var args = ckf_conv_args()
                        args.a = UnsafePointer(aBuffer.pointer); args.lda = lda
                        args.packed = UnsafePointer(packed.pointer); args.n = Int32(n); args.k = Int32(k)
                        args.bias = UnsafePointer(biasBuffer.pointer)
                        args.residual = useResidual ? UnsafePointer(residualBuffer.pointer) : nil; args.ld_residual = ldr
                        args.relu = relu ? 1 : 0
                        args.c = floatOut ? c.pointer : nil; args.ldc = ldc
                        args.out_u8 = bytes.pointer; args.ld_u8 = ldq
                        args.out_inv_scale = inv; args.out_zero_point = zp
                        let status = CBuffer<Int32>(count: threads, repeating: 9)
                        nonisolated(unsafe) let job = args
                        nonisolated(unsafe) let ps = status.pointer, scratchBase = scratch.pointer
                        let perThread = ckf_conv_scratch_floats(Int32(n))
                        DispatchQueue.concurrentPerform(iterations: threads) { chunk in
                            var args = job
                            let begin = m * chunk / threads, end = m * (chunk + 1) / threads
                            ps[chunk] = ckf_conv_fixed(&args, Int32(begin), Int32(end), scratchBase + chunk * perThread)
                        }
                        let label = "\(shape) variant \(variant), \(String(cString: ckf_isa_name(isa))), \(threads) threads"
                        XCTAssertEqual(status.array, [Int32](repeating: 0, count: threads), label)
                        XCTAssertEqual(bytes.array, expectedBytes, label)
                        if floatOut {
                            XCTAssertEqual(c.array.map(\.bitPattern), expected.map(\.bitPattern), label)
                        } else {
                            XCTAssertEqual(c.array, [Float](repeating: -5, count: m * ldc), "\(label): wrote C without one")
                        }
                    }
                }
            }
        }
    }

    /// ckf_im2col_nhwc against im2col written here from its definition: strides, padding, dilation, row ranges.
    func testNHWCIm2colEqualsItsDefinition() {
        var random = SplitMix64(state: 3)
        for (h, w, c, k, s, p, d) in [(7, 9, 2, 7, 1, 3, 1), (8, 8, 3, 3, 2, 1, 1), (10, 6, 5, 3, 1, 4, 2), (5, 5, 1, 1, 1, 0, 1),
                                      (6, 7, 16, 3, 1, 1, 1)] {
            let x = (0..<(h * w * c)).map { _ in fullFloat(&random, scale: 5) }
            let outH = (h + 2 * p - d * (k - 1) - 1) / s + 1, outW = (w + 2 * p - d * (k - 1) - 1) / s + 1
            let kk = k * k * c
            for (begin, end) in [(0, outH), (1, max(1, outH - 1))] where begin < end {
                var expected = [Float](repeating: 0, count: (end - begin) * outW * kk)
                for oy in begin..<end {
                    for ox in 0..<outW {
                        for ky in 0..<k {
                            for kx in 0..<k {
                                let iy = oy * s - p + ky * d, ix = ox * s - p + kx * d
                                for ch in 0..<c {
                                    let inside = iy >= 0 && iy < h && ix >= 0 && ix < w
                                    expected[((oy - begin) * outW + ox) * kk + (ky * k + kx) * c + ch] = inside ? x[(iy * w + ix) * c + ch] : 0
                                }
                            }
                        }
                    }
                }
                let got = CBuffer<Float>(count: expected.count, repeating: .nan)
                ckf_im2col_nhwc(x, Int32(h), Int32(w), Int32(c), Int32(k), Int32(s), Int32(p), Int32(d), Int32(outW),
                                Int32(begin), Int32(end), got.pointer)
                XCTAssertEqual(got.array.map(\.bitPattern), expected.map(\.bitPattern), "\(h)×\(w)×\(c) k\(k) s\(s) p\(p) d\(d)")
            }
        }
    }

    /// ckf_conv_direct_nhwc gives the bits of ckf_im2col_nhwc followed by ckf_conv_fixed (the path above) for 1…4
    /// output channels: kernels 1, 3, 7, strides, padding wider than the kernel reach, dilation, rows not a multiple
    /// of the 8-pixel vectors, with bias, residual, ReLU, uint8 and strided outputs, on every kernel set and row split.
    func testDirectConvolutionEqualsIm2colThenTheBlockedGemm() {
        var random = SplitMix64(state: 11)
        let geometries: [(h: Int, w: Int, c: Int, k: Int, s: Int, p: Int, d: Int)] = [
            (13, 19, 2, 7, 1, 3, 1), (9, 11, 64, 1, 1, 0, 1), (10, 17, 3, 3, 2, 1, 1), (8, 9, 5, 3, 1, 5, 2), (3, 3, 1, 3, 1, 2, 1)]
        for geometry in geometries {
            let (h, w, c, k, s, p, d) = geometry
            let outH = (h + 2 * p - d * (k - 1) - 1) / s + 1, outW = (w + 2 * p - d * (k - 1) - 1) / s + 1
            let kk = k * k * c, pixels = outH * outW
            let x = (0..<(h * w * c)).map { _ in fullFloat(&random, scale: 3) }
            let columns = CBuffer<Float>(count: pixels * kk, repeating: .nan)
            ckf_im2col_nhwc(x, Int32(h), Int32(w), Int32(c), Int32(k), Int32(s), Int32(p), Int32(d), Int32(outW), 0,
                            Int32(outH), columns.pointer)
            for n in 1...Int(CKF_DIRECT_MAX_N) {
                let weights = CBuffer((0..<(n * kk)).map { _ in fullFloat(&random, scale: 0.5) })
                let packed = CBuffer<Float>(count: ckf_gemm_packed_floats(Int32(n), Int32(kk)), repeating: .nan)
                ckf_gemm_pack(weights.pointer, Int32(n), Int32(kk), kk, packed.pointer)
                let bias = CBuffer((0..<n).map { _ in fullFloat(&random, scale: 1) })
                for variant in 0..<4 {
                    let useResidual = variant & 1 != 0, relu = variant & 2 != 0
                    let ldc = n + variant, ldq = n + 1
                    let residual = CBuffer((0..<(pixels * n)).map { _ in fullFloat(&random, scale: 2) })
                    let (inv, zp): (Float, Int32) = (1 / 0.02, 128)
                    // The reference path: im2col, then the blocked GEMM with its epilogue.
                    let wantC = CBuffer<Float>(count: pixels * ldc, repeating: -1)
                    let wantQ = CBuffer<UInt8>(count: pixels * ldq, repeating: 9)
                    var gemm = ckf_conv_args()
                    gemm.a = UnsafePointer(columns.pointer); gemm.lda = kk; gemm.packed = UnsafePointer(packed.pointer)
                    gemm.n = Int32(n); gemm.k = Int32(kk); gemm.bias = UnsafePointer(bias.pointer)
                    gemm.residual = useResidual ? UnsafePointer(residual.pointer) : nil; gemm.ld_residual = n
                    gemm.relu = relu ? 1 : 0; gemm.c = wantC.pointer; gemm.ldc = ldc
                    gemm.out_u8 = wantQ.pointer; gemm.ld_u8 = ldq; gemm.out_inv_scale = inv; gemm.out_zero_point = zp
                    XCTAssertEqual(ckf_force_isa(CKF_ISA_GENERIC), 1)
                    XCTAssertEqual(ckf_conv_fixed(&gemm, 0, Int32(pixels), nil), 0)
                    for isa in kernelSets {
                        XCTAssertEqual(ckf_force_isa(isa), 1)
                        for split in [1, 3] {
                            let gotC = CBuffer<Float>(count: pixels * ldc, repeating: -1)
                            let gotQ = CBuffer<UInt8>(count: pixels * ldq, repeating: 9)
                            var args = ckf_direct_args()
                            args.in_h = Int32(h); args.in_w = Int32(w); args.channels = Int32(c)
                            args.kernel = Int32(k); args.stride = Int32(s); args.padding = Int32(p); args.dilation = Int32(d)
                            args.out_w = Int32(outW); args.packed = UnsafePointer(packed.pointer); args.n = Int32(n)
                            args.bias = UnsafePointer(bias.pointer)
                            args.residual = useResidual ? UnsafePointer(residual.pointer) : nil; args.ld_residual = n
                            args.relu = relu ? 1 : 0; args.c = gotC.pointer; args.ldc = ldc
                            args.out_u8 = gotQ.pointer; args.ld_u8 = ldq; args.out_inv_scale = inv; args.out_zero_point = zp
                            x.withUnsafeBufferPointer { xs in
                                args.x = xs.baseAddress
                                for part in 0..<split {
                                    let begin = outH * part / split, end = outH * (part + 1) / split
                                    XCTAssertEqual(ckf_conv_direct_nhwc(&args, Int32(begin), Int32(end)), 0)
                                }
                            }
                            let label = "\(geometry) n \(n) variant \(variant) \(String(cString: ckf_isa_name(isa))) split \(split)"
                            XCTAssertEqual(gotC.array.map(\.bitPattern), wantC.array.map(\.bitPattern), label)
                            XCTAssertEqual(gotQ.array, wantQ.array, label)
                        }
                    }
                }
            }
        }
        var bad = ckf_direct_args()
        XCTAssertEqual(ckf_conv_direct_nhwc(&bad, 0, 1), -1)
        XCTAssertEqual(ckf_conv_direct_nhwc(nil, 0, 1), -1)
    }

    func testConvWithEpilogueRejectsBadArguments() {
        let a = CBuffer<Float>(count: 16, repeating: 1), p = CBuffer<Float>(count: 64, repeating: 1)
        let c = CBuffer<Float>(count: 16, repeating: 5)
        var args = ckf_conv_args()
        args.a = UnsafePointer(a.pointer); args.lda = 4; args.packed = UnsafePointer(p.pointer); args.n = 2; args.k = 4
        args.c = c.pointer; args.ldc = 2
        XCTAssertEqual(ckf_conv_fixed(&args, 0, 2, nil), 0)
        c.pointer.update(repeating: 5, count: 16)
        var bad = args; bad.ldc = 1
        XCTAssertEqual(ckf_conv_fixed(&bad, 0, 2, nil), -1)                   // ldc < N
        bad = args; bad.c = nil
        XCTAssertEqual(ckf_conv_fixed(&bad, 0, 2, nil), -1)                   // no float output and no scratch
        bad = args; bad.residual = UnsafePointer(a.pointer); bad.ld_residual = 1
        XCTAssertEqual(ckf_conv_fixed(&bad, 0, 2, nil), -1)                   // ld_residual < N
        bad = args; bad.lda = 3
        XCTAssertEqual(ckf_conv_fixed(&bad, 0, 2, nil), -1)                   // lda < K
        XCTAssertEqual(ckf_conv_fixed(nil, 0, 2, nil), -1)
        XCTAssertEqual(c.array, [Float](repeating: 5, count: 16), "a rejected call wrote its output")
        XCTAssertEqual(ckf_conv_scratch_floats(3), Int(CKF_CONV_BLOCK_ROWS) * 3)
    }

    /// ckf_global_pool_nhwc against the definition written here (float64 sum in pixel order; `x >= m ? x : m` from
    /// −∞), with NaN, ±0 and infinities among the inputs, channel ranges crossing the 64-channel groups; bit for bit
    /// except NaN payloads.
    func testGlobalPoolingEqualsTheDefinitionForEveryKernelSet() {
        var random = SplitMix64(state: 23)
        for (plane, channels) in [(1, 1), (37, 3), (1000, 70), (257, 130), (64, 64)] {
            var x = (0..<(plane * channels)).map { _ in fullFloat(&random, scale: 100) }
            for i in stride(from: 3, to: x.count, by: 11) { x[i] = [Float.nan, -0.0, 0.0, .infinity, -.infinity][i % 5] }
            let buffer = CBuffer(x)
            for useMax in [false, true] {
                var expected = [Float](repeating: 0, count: channels)
                for c in 0..<channels {
                    if useMax {
                        var m = -Float.infinity
                        for p in 0..<plane { let v = x[p * channels + c]; m = v >= m ? v : m }
                        expected[c] = m
                    } else {
                        var sum = 0.0
                        for p in 0..<plane { sum = sum + Double(x[p * channels + c]) }
                        expected[c] = Float(sum / Double(plane))
                    }
                }
                for isa in kernelSets {
                    XCTAssertEqual(ckf_force_isa(isa), 1)
                    for (begin, end) in [(0, channels), (channels / 3, channels - channels / 4)] {
                        let y = CBuffer<Float>(count: channels, repeating: 42)
                        ckf_global_pool_nhwc(buffer.pointer, plane, Int32(channels), Int32(begin), Int32(end), useMax ? 1 : 0, y.pointer)
                        var want = [Float](repeating: 42, count: channels)
                        for c in begin..<end { want[c] = expected[c] }
                        // A NaN is a NaN: which operand's payload an addition keeps is the compiler's choice.
                        let canonical = { (v: [Float]) in v.map { $0.isNaN ? Float.nan.bitPattern : $0.bitPattern } }
                        XCTAssertEqual(canonical(y.array), canonical(want),
                                       "\(plane)×\(channels) [\(begin), \(end)) max \(useMax) \(String(cString: ckf_isa_name(isa)))")
                    }
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

    /// ckf_quantize_u8 gives ck_quantize_u8's bytes on every kernel set: every length up to 70 (the vector blocks and
    /// their tails), rounding ties, values past both clamps, ±∞ and NaN, and any zero point.
    func testVectorQuantizeEqualsTheScalarQuantizeOnEveryKernelSet() {
        var random = SplitMix64(state: 12)
        var specials: [Float] = [0, -0.0, 0.5, 1.5, 2.5, -0.5, -1.5, 127.5, 128.5, -128.5, 1e9, -1e9, 65536.5, -65536.5,
                                 .infinity, -.infinity, .nan, .greatestFiniteMagnitude, -.leastNonzeroMagnitude]
        for _ in 0..<200 { specials.append(fullFloat(&random, scale: 300)) }
        for length in 0...70 {
            let x = (0..<length).map { i in i % 3 == 0 ? specials[random.below(specials.count)] : fullFloat(&random, scale: 40) }
            for (inv, zp) in [(Float(1), Int32(0)), (Float(1) / 0.037, Int32(random.below(256))), (Float(0.5), Int32(255))] {
                var expected = [UInt8](repeating: 0, count: length)
                for i in 0..<length { var v = x[i]; ck_quantize_u8(&v, &expected[i], 1, inv, zp) }
                let input = CBuffer(x)
                for isa in kernelSets {
                    XCTAssertEqual(ckf_force_isa(isa), 1)
                    let got = CBuffer<UInt8>(count: length + 3, repeating: 77)
                    ckf_quantize_u8(input.pointer, got.pointer, length, inv, zp)
                    let label = "length \(length), zero point \(zp), \(String(cString: ckf_isa_name(isa)))"
                    XCTAssertEqual(Array(got.array.prefix(length)), expected, label)
                    XCTAssertEqual(Array(got.array.suffix(3)), [77, 77, 77], "\(label): wrote past the end")
                }
            }
        }
    }

    /// ckf_upsample_nhwc against the align-corners expression written here (h0·(w0·a + w1·b) + h1·(w0·d + w1·e), one
    /// rounding per operation), on every kernel set, odd channel counts and sizes, output pixel strides wider than the
    /// channels (a concat's slice), any split of the rows; its uint8 output is ckf_quantize_u8 of its floats.
    func testUpsampleEqualsItsDefinitionAndQuantizesItsOwnFloatsOnEveryKernelSet() {
        var random = SplitMix64(state: 5)
        func table(_ inSize: Int, _ outSize: Int) -> ([Int32], [Int32], [Float]) {
            let scale: Float = outSize > 1 ? Float(inSize - 1) / Float(outSize - 1) : 0
            var first = [Int32](), second = [Int32](), weight = [Float]()
            for o in 0..<outSize {
                let src = scale * Float(o)
                let lo = min(Int(src), inSize - 1)
                first.append(Int32(lo)); second.append(Int32(lo + (lo < inSize - 1 ? 1 : 0))); weight.append(src - Float(lo))
            }
            return (first, second, weight)
        }
        for (c, inH, inW, outH, outW) in [(1, 1, 1, 2, 3), (3, 2, 5, 4, 10), (8, 4, 4, 8, 8), (17, 3, 7, 12, 28),
                                          (64, 5, 6, 10, 12), (33, 8, 3, 31, 5)] {
            let x = (0..<(inH * inW * c)).map { _ in fullFloat(&random, scale: 6) }
            let (r0, r1, ly) = table(inH, outH), (c0, c1, lx) = table(inW, outW)
            let ldy = c + random.below(5), ldq = c + random.below(7)
            var expected = [Float](repeating: -9, count: outH * outW * ldy)
            var expectedBytes = [UInt8](repeating: 3, count: outH * outW * ldq)
            let (inv, zp) = (Float(1) / 0.041, Int32(random.below(256)))
            for oy in 0..<outH {
                let h1 = ly[oy], h0 = 1 - h1
                for ox in 0..<outW {
                    let w1 = lx[ox], w0 = 1 - w1
                    for k in 0..<c {
                        func at(_ row: Int32, _ col: Int32) -> Float { x[(Int(row) * inW + Int(col)) * c + k] }
                        let top = w0 * at(r0[oy], c0[ox]) + w1 * at(r0[oy], c1[ox])
                        let bottom = w0 * at(r1[oy], c0[ox]) + w1 * at(r1[oy], c1[ox])
                        var v = h0 * top + h1 * bottom
                        expected[(oy * outW + ox) * ldy + k] = v
                        ck_quantize_u8(&v, &expectedBytes[(oy * outW + ox) * ldq + k], 1, inv, zp)
                    }
                }
            }
            let input = CBuffer(x), tables = [CBuffer(r0), CBuffer(r1), CBuffer(c0), CBuffer(c1)]
            let rowWeight = CBuffer(ly), colWeight = CBuffer(lx)
            for isa in kernelSets {
                XCTAssertEqual(ckf_force_isa(isa), 1)
                for (withBytes, split) in [(false, 1), (true, 1), (true, 3)] {
                    let y = CBuffer<Float>(count: expected.count, repeating: -9)
                    let bytes = CBuffer<UInt8>(count: expectedBytes.count, repeating: 3)
                    var args = ckf_upsample_args()
                    args.x = UnsafePointer(input.pointer); args.in_w = Int32(inW); args.channels = Int32(c)
                    args.out_w = Int32(outW)
                    args.row_first = UnsafePointer(tables[0].pointer); args.row_second = UnsafePointer(tables[1].pointer)
                    args.row_weight = UnsafePointer(rowWeight.pointer)
                    args.col_first = UnsafePointer(tables[2].pointer); args.col_second = UnsafePointer(tables[3].pointer)
                    args.col_weight = UnsafePointer(colWeight.pointer)
                    args.y = y.pointer; args.ldy = ldy
                    if withBytes { args.out_u8 = bytes.pointer; args.ld_u8 = ldq; args.out_inv_scale = inv; args.out_zero_point = zp }
                    for part in 0..<split {
                        XCTAssertEqual(ckf_upsample_nhwc(&args, Int32(outH * part / split), Int32(outH * (part + 1) / split)), 0)
                    }
                    let label = "\(c)×\(inH)×\(inW) → \(outH)×\(outW), \(String(cString: ckf_isa_name(isa))), bytes \(withBytes)"
                    XCTAssertEqual(y.array.map(\.bitPattern), expected.map(\.bitPattern), label)
                    XCTAssertEqual(bytes.array, withBytes ? expectedBytes : [UInt8](repeating: 3, count: expectedBytes.count), label)
                }
            }
        }
        var bad = ckf_upsample_args()
        XCTAssertEqual(ckf_upsample_nhwc(&bad, 0, 1), -1)
        XCTAssertEqual(ckf_upsample_nhwc(nil, 0, 1), -1)
    }

    /// ckf_mul_nhwc: one multiply per element with a channel or a pixel gate, wider output strides, pixel ranges,
    /// and its uint8 output is ckf_quantize_u8 of its floats, on every kernel set; bad arguments write nothing.
    func testGateMultiplyEqualsItsDefinitionOnEveryKernelSet() {
        var random = SplitMix64(state: 8)
        for (c, plane) in [(1, 1), (3, 7), (16, 40), (64, 33), (37, 50)] {
            for channelGate in [true, false] {
                let x = (0..<(plane * c)).map { _ in fullFloat(&random, scale: 5) }
                let gate = (0..<(channelGate ? c : plane)).map { _ in fullFloat(&random, scale: 1) }
                let ldy = c + random.below(4), ldq = c + random.below(5)
                let (inv, zp) = (Float(1) / 0.02, Int32(random.below(256)))
                var expected = [Float](repeating: 4, count: plane * ldy), expectedBytes = [UInt8](repeating: 9, count: plane * ldq)
                for p in 0..<plane {
                    for k in 0..<c {
                        var v = x[p * c + k] * (channelGate ? gate[k] : gate[p])
                        expected[p * ldy + k] = v
                        ck_quantize_u8(&v, &expectedBytes[p * ldq + k], 1, inv, zp)
                    }
                }
                let xb = CBuffer(x), gb = CBuffer(gate)
                for isa in kernelSets {
                    XCTAssertEqual(ckf_force_isa(isa), 1)
                    let y = CBuffer<Float>(count: expected.count, repeating: 4)
                    let q = CBuffer<UInt8>(count: expectedBytes.count, repeating: 9)
                    let half = plane / 2
                    for (begin, end) in [(0, half), (half, plane)] {
                        XCTAssertEqual(ckf_mul_nhwc(xb.pointer, gb.pointer, Int32(c), channelGate ? 1 : 0, begin, end,
                                                    y.pointer, ldy, q.pointer, ldq, inv, zp), 0)
                    }
                    let label = "\(c) channels, \(plane) pixels, channel gate \(channelGate), \(String(cString: ckf_isa_name(isa)))"
                    XCTAssertEqual(y.array.map(\.bitPattern), expected.map(\.bitPattern), label)
                    XCTAssertEqual(q.array, expectedBytes, label)
                }
            }
        }
        let x = CBuffer<Float>(count: 8, repeating: 1), y = CBuffer<Float>(count: 8, repeating: 2)
        XCTAssertEqual(ckf_mul_nhwc(x.pointer, nil, 4, 1, 0, 2, y.pointer, 4, nil, 0, 1, 0), -1)
        XCTAssertEqual(ckf_mul_nhwc(x.pointer, x.pointer, 4, 1, 0, 2, y.pointer, 3, nil, 0, 1, 0), -1)
        XCTAssertEqual(ckf_mul_nhwc(x.pointer, x.pointer, 4, 1, 0, 2, y.pointer, 4, UnsafeMutablePointer<UInt8>(bitPattern: 64), 2, 1, 0), -1)
        XCTAssertEqual(y.array, [Float](repeating: 2, count: 8))
    }

    /// The fixed-order GEMM and the convolution for 1…4 output channels (AVX2's narrow kernel: 8 rows per vector,
    /// transposed 8×8 blocks and a k tail) against the naive chain, with and without bias, every kernel set.
    func testNarrowGemmAndConvolutionEqualTheNaiveChainOnEveryKernelSet() {
        var random = SplitMix64(state: 77)
        for (m, n, k) in [(8, 1, 8), (9, 2, 7), (64, 1, 64), (23, 3, 17), (40, 4, 9), (7, 4, 100), (131, 1, 3)] {
            let lda = k + random.below(3)
            let a = (0..<(m * lda)).map { _ in fullFloat(&random, scale: 4) }
            let w = (0..<(n * k)).map { _ in fullFloat(&random, scale: 0.5) }
            let bias = (0..<n).map { _ in fullFloat(&random, scale: 2) }
            let product = naiveGemm(a: a, lda: lda, w: w, m: m, n: n, k: k, ldc: n, fill: 0)
            let packed = CBuffer<Float>(count: ckf_gemm_packed_floats(Int32(n), Int32(k)), repeating: .nan)
            let wb = CBuffer(w), ab = CBuffer(a), bb = CBuffer(bias)
            ckf_gemm_pack(wb.pointer, Int32(n), Int32(k), k, packed.pointer)
            for isa in kernelSets {
                XCTAssertEqual(ckf_force_isa(isa), 1)
                for withBias in [false, true] {
                    let c = CBuffer<Float>(count: m * n, repeating: -1)
                    var args = ckf_conv_args()
                    args.a = UnsafePointer(ab.pointer); args.lda = lda; args.packed = UnsafePointer(packed.pointer)
                    args.n = Int32(n); args.k = Int32(k); args.bias = withBias ? UnsafePointer(bb.pointer) : nil
                    args.c = c.pointer; args.ldc = n
                    XCTAssertEqual(ckf_conv_fixed(&args, 0, Int32(m), nil), 0)
                    let expected = (0..<(m * n)).map { withBias ? product[$0] + bias[$0 % n] : product[$0] }
                    XCTAssertEqual(c.array.map(\.bitPattern), expected.map(\.bitPattern),
                                   "\(m)×\(n)×\(k), bias \(withBias), \(String(cString: ckf_isa_name(isa)))")
                }
            }
        }
    }

    /// ckf_channel_mean_max_nhwc against its definition written here (float sum in channel order then one division;
    /// m = x >= m ? x : m from −∞, so −0 after +0 wins and NaN is skipped), every kernel set, odd channel and pixel
    /// counts, pixel ranges.
    func testChannelMeanMaxEqualsItsDefinitionOnEveryKernelSet() {
        var random = SplitMix64(state: 23)
        for (c, plane) in [(1, 1), (2, 9), (3, 17), (8, 8), (17, 30), (64, 41), (64, 8)] {
            var x = (0..<(c * plane)).map { _ in fullFloat(&random, scale: 9) }
            for i in stride(from: 0, to: x.count, by: 11) { x[i] = [Float(0), -0.0, .nan, .infinity][random.below(4)] }
            var expected = [Float](repeating: 0, count: 2 * plane)
            for p in 0..<plane {
                var sum: Float = 0, m = -Float.infinity
                for k in 0..<c {
                    let v = x[p * c + k]
                    sum = sum + v
                    m = v >= m ? v : m
                }
                expected[2 * p] = sum / Float(c)
                expected[2 * p + 1] = m
            }
            let input = CBuffer(x)
            for isa in kernelSets {
                XCTAssertEqual(ckf_force_isa(isa), 1)
                let y = CBuffer<Float>(count: 2 * plane, repeating: 5)
                let cut = plane / 3
                ckf_channel_mean_max_nhwc(input.pointer, Int32(c), 0, cut, y.pointer)
                ckf_channel_mean_max_nhwc(input.pointer, Int32(c), cut, plane, y.pointer)
                XCTAssertEqual(y.array.map(\.bitPattern), expected.map(\.bitPattern),
                               "\(c) channels, \(plane) pixels, \(String(cString: ckf_isa_name(isa)))")
            }
        }
    }

    /// The direct convolution's plain-load path (stride 1, 1 or 2 channels, 8 output pixels whose taps are all inside
    /// the row) and its gather path around it give the bits of im2col + the fixed-order GEMM, every kernel set.
    func testDirectConvolutionOnWideRowsEqualsIm2colThenTheGemm() {
        var random = SplitMix64(state: 19)
        for (h, w, c, k, p, d, n) in [(6, 40, 1, 7, 3, 1, 1), (5, 37, 2, 7, 3, 1, 1), (4, 29, 2, 3, 2, 2, 3),
                                      (3, 24, 1, 3, 0, 1, 4), (4, 21, 3, 3, 1, 1, 2)] {
            let outH = h + 2 * p - d * (k - 1), outW = w + 2 * p - d * (k - 1), kk = k * k * c, pixels = outH * outW
            let x = CBuffer((0..<(h * w * c)).map { _ in fullFloat(&random, scale: 3) })
            let columns = CBuffer<Float>(count: pixels * kk, repeating: .nan)
            ckf_im2col_nhwc(x.pointer, Int32(h), Int32(w), Int32(c), Int32(k), 1, Int32(p), Int32(d), Int32(outW), 0,
                            Int32(outH), columns.pointer)
            let weights = CBuffer((0..<(n * kk)).map { _ in fullFloat(&random, scale: 0.5) })
            let packed = CBuffer<Float>(count: ckf_gemm_packed_floats(Int32(n), Int32(kk)), repeating: .nan)
            ckf_gemm_pack(weights.pointer, Int32(n), Int32(kk), kk, packed.pointer)
            let bias = CBuffer((0..<n).map { _ in fullFloat(&random, scale: 1) })
            let want = CBuffer<Float>(count: pixels * n, repeating: -1)
            var gemm = ckf_conv_args()
            gemm.a = UnsafePointer(columns.pointer); gemm.lda = kk; gemm.packed = UnsafePointer(packed.pointer)
            gemm.n = Int32(n); gemm.k = Int32(kk); gemm.bias = UnsafePointer(bias.pointer); gemm.c = want.pointer; gemm.ldc = n
            XCTAssertEqual(ckf_force_isa(CKF_ISA_GENERIC), 1)
            XCTAssertEqual(ckf_conv_fixed(&gemm, 0, Int32(pixels), nil), 0)
            for isa in kernelSets {
                XCTAssertEqual(ckf_force_isa(isa), 1)
                let got = CBuffer<Float>(count: pixels * n, repeating: -1)
                var args = ckf_direct_args()
                args.x = UnsafePointer(x.pointer); args.in_h = Int32(h); args.in_w = Int32(w); args.channels = Int32(c)
                args.kernel = Int32(k); args.stride = 1; args.padding = Int32(p); args.dilation = Int32(d)
                args.out_w = Int32(outW); args.packed = UnsafePointer(packed.pointer); args.n = Int32(n)
                args.bias = UnsafePointer(bias.pointer); args.c = got.pointer; args.ldc = n
                XCTAssertEqual(ckf_conv_direct_nhwc(&args, 0, Int32(outH)), 0)
                XCTAssertEqual(got.array.map(\.bitPattern), want.array.map(\.bitPattern),
                               "\(h)×\(w)×\(c), \(k)×\(k) pad \(p) dilation \(d), n \(n), \(String(cString: ckf_isa_name(isa)))")
            }
        }
    }
}
