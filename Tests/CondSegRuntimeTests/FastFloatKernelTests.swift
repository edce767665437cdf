// FastFloatKernelTests.swift — the CKernels float kernels the fast executors call (window attention, sigmoid,
// im2col, the convolution epilogue), each against the reference operator or a double-precision computation, for
// every kernel set this machine runs.

import CKernels
import CondSegCore
import CondSegRuntime
import Foundation
import XCTest

final class FastFloatKernelTests: XCTestCase {
    override func tearDown() {
        _ = ckf_force_isa(ckf_detected_isa())
        super.tearDown()
    }

    private struct Generator {
        var state: UInt64
        mutating func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2_000_001 - 1_000_000) / 1_000_000
        }
    }

    private func attention(_ args: ckf_attention_args, splitAt split: Int?) -> [Float] {
        var args = args
        var scratch = [Float](repeating: .nan, count: ckf_window_attention_scratch(&args))
        let output = UnsafeMutablePointer<Float>.allocate(capacity: Int(args.channels * args.height * args.width))
        defer { output.deallocate() }
        output.initialize(repeating: .nan, count: Int(args.channels * args.height * args.width))
        args.output = output
        if let split {
            XCTAssertEqual(ckf_window_attention(&args, 0, Int32(split), &scratch), 0)
            XCTAssertEqual(ckf_window_attention(&args, Int32(split), args.height, &scratch), 0)
        } else {
            XCTAssertEqual(ckf_window_attention(&args, 0, args.height, &scratch), 0)
        }
        return Array(UnsafeBufferPointer(start: output, count: Int(args.channels * args.height * args.width)))
    }

    /// Many shapes, including images narrower than the vector width and than the window: the portable kernels equal
    /// the reference bit for bit; AVX2 stays within the derived bound of the double-precision result; splitting rows
    /// changes nothing.
    func testWindowAttentionAgainstReferenceAndDouble() throws {
        var generator = Generator(state: 7)
        let shapes: [(heads: Int, headDim: Int, h: Int, w: Int, k: Int)] = [
            (1, 1, 1, 1, 3), (2, 3, 3, 5, 3), (4, 4, 4, 4, 3), (1, 5, 7, 13, 3), (2, 4, 16, 20, 3), (1, 8, 11, 37, 3),
            (1, 2, 9, 23, 5),
        ]
        for shape in shapes {
            let channels = shape.heads * shape.headDim, plane = shape.h * shape.w, kk = shape.k * shape.k
            let values = (0..<(channels * plane)).map { _ in generator.next() * 3 }
            let logits = (0..<(shape.heads * kk * kk * plane)).map { _ in generator.next() * 12 }
            var expected = [Float](repeating: 0, count: channels * plane)
            var weights = [Float](repeating: 0, count: kk * kk * plane)
            ReferenceOps.windowAttention(heads: shape.heads, window: shape.k, channels: channels, height: shape.h,
                                         width: shape.w, values: values, logits: logits, output: &expected,
                                         weights: &weights, threads: 1)
            let exact = naiveAbsoluteAttention(heads: shape.heads, window: shape.k, channels: channels, height: shape.h,
                                               width: shape.w, values: values, logits: logits, absolute: false)
            let absolute = naiveAbsoluteAttention(heads: shape.heads, window: shape.k, channels: channels,
                                                  height: shape.h, width: shape.w, values: values, logits: logits)
            values.withUnsafeBufferPointer { v in
                logits.withUnsafeBufferPointer { l in
                    var args = ckf_attention_args()
                    args.heads = Int32(shape.heads); args.window = Int32(shape.k); args.channels = Int32(channels)
                    args.height = Int32(shape.h); args.width = Int32(shape.w)
                    args.values = v.baseAddress; args.logits = l.baseAddress
                    args.scale = Float(1.0 / Double(shape.headDim).squareRoot())
                    for isa in [CKF_ISA_GENERIC, CKF_ISA_AVX2] where ckf_force_isa(isa) == 1 {
                        let whole = attention(args, splitAt: nil)
                        let split = attention(args, splitAt: shape.h / 2)
                        XCTAssertEqual(whole, split, "row split changes the result (\(shape), isa \(isa.rawValue))")
                        if isa == CKF_ISA_GENERIC {
                            XCTAssertEqual(whole, expected, "portable attention differs from the reference (\(shape))")
                        }
                        // Within its softmax error and γ_(k⁴+1) of the exact value. Softmax: exp ≤ 4 ulp, plus the
                        // rounding of t = l·scale and t − m (≤ |t|·u and |t − m|·u ≤ 2·tmax·u in the exponent, twice
                        // through the normalisation), a k²-term sum and a division.
                        let tmax = 12 * Double(args.scale)
                        let factor = (8 + 6 * tmax) * unitRoundoff + 2 * gamma(kk) + gamma(kk * kk + 1)
                        for i in 0..<whole.count where abs(Double(whole[i]) - exact[i]) > factor * absolute[i] + 1e-30 {
                            XCTFail("\(shape) isa \(isa.rawValue) element \(i): \(whole[i]) vs exact \(exact[i]), bound \(factor * absolute[i])")
                            break
                        }
                    }
                }
            }
        }
        var bad = ckf_attention_args()
        bad.heads = 3; bad.window = 3; bad.channels = 4; bad.height = 2; bad.width = 2
        var scratch = [Float](repeating: 0, count: 16)
        XCTAssertEqual(ckf_window_attention(&bad, 0, 2, &scratch), -1, "channels not divisible by heads are refused")
    }

    func testSigmoidWithinFourUlpOfDouble() {
        let inputs: [Float] = [0, -0.0, 1e-8, -1e-8, 0.5, -0.5, 3, -3, 10, -10, 17, -17, 30, -30, 87, -87, 88.5, -88.5,
                               100, -100, 1e30, -1e30, 1, 2, 4, 8, 16] + (0..<93).map { Float($0) * 0.37 - 17 }
        var output = [Float](repeating: .nan, count: inputs.count)
        for isa in [CKF_ISA_GENERIC, CKF_ISA_AVX2] where ckf_force_isa(isa) == 1 {
            ckf_sigmoid(inputs, &output, inputs.count)
            for (x, y) in zip(inputs, output) {
                let exact = 1 / (1 + Foundation.exp(-Double(x)))
                XCTAssertLessThanOrEqual(abs(Double(y) - exact), 6 * unitRoundoff * exact + 1e-37,
                                         "sigmoid(\(x)) = \(y), exact \(exact) (isa \(isa.rawValue))")
            }
        }
    }

    /// The float im2col copies exactly what the reference's does, for strides, dilations and oversized padding.
    func testIm2colEqualsReference() {
        var generator = Generator(state: 3)
        let cases: [(k: Int, s: Int, p: Int, d: Int, h: Int, w: Int)] = [
            (3, 1, 1, 1, 5, 7), (3, 2, 1, 1, 8, 8), (7, 2, 3, 1, 16, 16), (3, 1, 6, 6, 8, 8), (3, 1, 18, 18, 4, 4),
            (1, 2, 0, 1, 8, 6),
        ]
        for c in cases {
            let spec = ConvSpec(weight: "w", inChannels: 3, outChannels: 1, kernel: c.k, stride: c.s, padding: c.p,
                                dilation: c.d)
            let outH = spec.outputSize(c.h), outW = spec.outputSize(c.w)
            let x = (0..<(3 * c.h * c.w)).map { _ in generator.next() }
            for (rowBegin, rows) in [(0, outH), (1, max(1, outH - 2))] where rowBegin + rows <= outH {
                let count = 3 * c.k * c.k * rows * outW
                var expected = [Float](repeating: .nan, count: count), actual = expected
                ReferenceOps.im2col(spec, input: x, inH: c.h, inW: c.w, outW: outW, rowBegin: rowBegin, rows: rows,
                                    columns: &expected, threads: 1)
                ckf_im2col(x, Int32(c.h), Int32(c.w), Int32(c.k), Int32(c.s), Int32(c.p), Int32(c.d), Int32(outW),
                           Int32(rowBegin), Int32(rows), 0, 2, &actual, rows * outW)
                ckf_im2col(x, Int32(c.h), Int32(c.w), Int32(c.k), Int32(c.s), Int32(c.p), Int32(c.d), Int32(outW),
                           Int32(rowBegin), Int32(rows), 2, 3, &actual, rows * outW)
                XCTAssertEqual(actual, expected, "im2col \(c) rows \(rowBegin)+\(rows)")
            }
        }
    }

    /// The fused epilogue gives the bits of the reference's separate passes: bias (+ReLU), then add, then ReLU.
    func testConvEpilogueEqualsSeparatePasses() {
        var generator = Generator(state: 11)
        let channels = 5, plane = 37
        let bias = (0..<channels).map { _ in generator.next() }
        let r0 = (0..<(channels * plane)).map { _ in generator.next() }, r1 = r0.map { $0 * 0.3 + 0.1 }
        for isa in [CKF_ISA_GENERIC, CKF_ISA_AVX2] where ckf_force_isa(isa) == 1 {
            for relu in [false, true] {
                let y0 = (0..<(channels * plane)).map { _ in generator.next() }
                var expected = y0
                for i in 0..<expected.count {
                    expected[i] = ((expected[i] + bias[i / plane]) + r0[i]) + r1[i]
                    if relu { expected[i] = max(expected[i], 0) }
                }
                var actual = y0
                r0.withUnsafeBufferPointer { a in
                    r1.withUnsafeBufferPointer { b in
                        var table: [UnsafePointer<Float>?] = [a.baseAddress, b.baseAddress]
                        // Two column ranges, as the chunked convolution calls it.
                        ckf_conv_epilogue(&actual, plane, Int32(channels), 0, 20, bias, &table, 2, relu ? 1 : 0)
                        ckf_conv_epilogue(&actual, plane, Int32(channels), 20, Int(plane - 20), bias, &table, 2, relu ? 1 : 0)
                    }
                }
                XCTAssertEqual(actual, expected, "epilogue isa \(isa.rawValue) relu \(relu)")
            }
        }
    }
}
