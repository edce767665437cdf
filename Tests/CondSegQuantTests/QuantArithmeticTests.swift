// QuantArithmeticTests.swift — the int8 arithmetic against independent references: activation quantize /
// dequantize round trips, rounding and saturation edges (also against the C kernel's own quantizer), per-channel
// weight quantization, and the int8 convolution against a naive integer convolution written here (exact equality
// over odd shapes, strides, dilations, padding, saturated inputs; same bits for 1, 2 and 3 threads).

import CKernels
import CondSegCore
import CondSegRuntime
import XCTest

final class QuantArithmeticTests: XCTestCase {
    func testDequantizeThenQuantizeIsIdentityOnEveryCode() {
        for (scale, zp) in [(Float(0.0173), Int32(0)), (0.5, 128), (3.1e-4, 255), (1.0 / 255, 17)] {
            let q = ActivationQuantization(scale: scale, zeroPoint: zp)
            for code in 0...255 {
                XCTAssertEqual(q.quantize(q.dequantize(UInt8(code))), UInt8(code), "scale \(scale) zp \(zp) code \(code)")
            }
        }
    }

    func testQuantizeErrorIsAtMostHalfAStepInsideTheRange() {
        let q = ActivationQuantization(low: -1.3, high: 4.7)
        var state: UInt32 = 7
        for _ in 0..<10_000 {
            state = state &* 1664525 &+ 1013904223
            let x = q.range.lowerBound + Float(state >> 8) / Float(1 << 24) * (q.range.upperBound - q.range.lowerBound)
            let back = q.dequantize(q.quantize(x))
            XCTAssertLessThanOrEqual(abs(back - x), q.scale * 0.5001, "x = \(x)")
        }
    }

    func testRangeIncludesZeroExactly() {
        let positive = ActivationQuantization(low: 2, high: 6)        // widened to [0, 6]
        XCTAssertEqual(positive.zeroPoint, 0)
        XCTAssertEqual(positive.scale, 6 / 255, accuracy: 1e-9)
        let negative = ActivationQuantization(low: -5, high: -1)      // widened to [-5, 0]
        XCTAssertEqual(negative.zeroPoint, 255)
        let mixed = ActivationQuantization(low: -1, high: 3)
        XCTAssertEqual(mixed.dequantize(mixed.quantize(0)), 0)          // zero is exact
        XCTAssertEqual(mixed.zeroPoint, 64)                             // round(1 / (4/255)) = round(63.75)
    }

    func testRoundingIsToNearestEvenAndSaturates() {
        let q = ActivationQuantization(scale: 0.5, zeroPoint: 10)       // power-of-two scale: exact halves
        XCTAssertEqual(q.quantize(0.25), 10)    // 0.5 → 0 (even)
        XCTAssertEqual(q.quantize(0.75), 12)    // 1.5 → 2
        XCTAssertEqual(q.quantize(1.25), 12)    // 2.5 → 2
        XCTAssertEqual(q.quantize(-0.25), 10)   // −0.5 → −0
        XCTAssertEqual(q.quantize(-0.75), 8)    // −1.5 → −2
        XCTAssertEqual(q.quantize(1000), 255)
        XCTAssertEqual(q.quantize(-1000), 0)
        XCTAssertEqual(q.quantize(.infinity), 255)
        XCTAssertEqual(q.quantize(-.infinity), 0)
        XCTAssertEqual(q.quantize(.nan), 0)
    }

    func testSwiftQuantizeMatchesTheCKernel() {
        let q = ActivationQuantization(scale: 0.0371, zeroPoint: 93)
        var xs: [Float] = [0, -0, 0.01855, -0.01855, 5.9, -3.45, 100, -100, .nan, .infinity, -.infinity]
        var state: UInt32 = 99
        for _ in 0..<5000 {
            state = state &* 1664525 &+ 1013904223
            xs.append((Float(state >> 8) / Float(1 << 24) - 0.4) * 12)
        }
        var c = [UInt8](repeating: 0, count: xs.count)
        ck_quantize_u8(xs, &c, xs.count, 1 / q.scale, q.zeroPoint)
        XCTAssertEqual(xs.map { q.quantize($0) }, c)
    }

    func testSevenBitWeightQuantizationUsesPlusMinus63() {
        // Scales 63/16 / 63 = 1/16 and 63/8 / 63 = 1/8 are exact, so the ties below are exact ties.
        let weights: [Float] = [3.9375, -1.96875, -1.90625,   -7.875, 0.0625, 0.1875]
        let q = Int8ConvWeights(quantizing: weights, outChannels: 2, bias: [0, 0], bits: 7)
        XCTAssertEqual(q.scales[0], 1.0 / 16)
        XCTAssertEqual(q.values[0], 63)
        XCTAssertEqual(q.values[1], -32)        // −31.5 → −32 (even)
        XCTAssertEqual(q.values[2], -30)        // −30.5 → −30 (even)
        XCTAssertEqual(q.scales[1], 1.0 / 8)
        XCTAssertEqual(q.values[3], -63)
        XCTAssertEqual(q.values[4], 0)          // 0.5 → 0 (even)
        XCTAssertEqual(q.values[5], 2)          // 1.5 → 2 (even)
        XCTAssertEqual(q.maxAbsValue, 63)
        XCTAssertEqual(Int8ConvWeights.limit(bits: 8), 127)
        XCTAssertEqual(Int8ConvWeights.limit(bits: 7), 63)
    }

    func testSixBitWeightQuantizationUsesPlusMinus31() {
        // Scales 31/16 / 31 = 1/16 and 31/8 / 31 = 1/8 are exact, so the ties below are exact ties.
        let weights: [Float] = [1.9375, -0.96875, -0.90625,   -3.875, 0.0625, 0.1875]
        let q = Int8ConvWeights(quantizing: weights, outChannels: 2, bias: [0, 0], bits: 6)
        XCTAssertEqual(q.scales[0], 1.0 / 16)
        XCTAssertEqual(q.values[0], 31)
        XCTAssertEqual(q.values[1], -16)        // −15.5 → −16 (even)
        XCTAssertEqual(q.values[2], -14)        // −14.5 → −14 (even)
        XCTAssertEqual(q.scales[1], 1.0 / 8)
        XCTAssertEqual(q.values[3], -31)
        XCTAssertEqual(q.values[4], 0)          // 0.5 → 0 (even)
        XCTAssertEqual(q.values[5], 2)          // 1.5 → 2 (even)
        XCTAssertEqual(Int8ConvWeights.limit(bits: 6), 31)
        XCTAssertEqual(Int8ConvWeights.supportedBits, 6...8)
        // Whatever the rounding of w / scale, the clamp keeps every value within ±31 (the AVX2 two-vpmaddubsw
        // kernel needs ±32), and each channel's largest weight lands on ±31.
        var state: UInt32 = 12345
        let random = (0..<(64 * 27)).map { _ -> Float in
            state = state &* 1_664_525 &+ 1_013_904_223
            return (Float(state >> 8) / Float(1 << 24) - 0.5) * Float(1 + (state >> 28))
        }
        let r = Int8ConvWeights(quantizing: random, outChannels: 64, bias: [Float](repeating: 0, count: 64), bits: 6)
        XCTAssertEqual(r.maxAbsValue, 31)
        for o in 0..<64 { XCTAssertEqual(r.values[(o * 27)..<(o * 27 + 27)].map { abs(Int($0)) }.max(), 31, "channel \(o)") }
    }

    func testPerChannelWeightQuantization() {
        let weights: [Float] = [0.5, -0.25,   0, 0,   -2.54, 1.27]
        let q = Int8ConvWeights(quantizing: weights, outChannels: 3, bias: [1, 2, 3])
        XCTAssertEqual(q.scales[0], 0.5 / 127, accuracy: 1e-9)
        XCTAssertEqual(q.values[0], 127)
        XCTAssertEqual(q.values[1], -64)        // −0.25 / (0.5/127) = −63.5 → −64 (even)
        XCTAssertEqual(q.values[2], 0)
        XCTAssertEqual(q.values[3], 0)
        XCTAssertEqual(q.scales[1], 1)          // an all-zero channel keeps a harmless scale
        XCTAssertEqual(q.values[4], -127)
        XCTAssertEqual(q.values[5], 64)         // 1.27 / 0.02 = 63.5 → 64
        XCTAssertEqual(q.bias, [1, 2, 3])
        for (i, w) in q.dequantized.enumerated() {
            XCTAssertLessThanOrEqual(abs(w - weights[i]), q.scales[i / 2] / 2 + 1e-7)
        }
    }

    /// Naive integer convolution (NCHW, zero point as padding, saturating quantization of the inputs).
    func naiveIntegerConv(_ x: [Float], c: Int, h: Int, w: Int, spec: ConvSpec, weights: [Int8], zp: Int32,
                          bias: [Float], outH: Int, outW: Int) -> [Float] {
        var y = [Float](repeating: 0, count: spec.outChannels * outH * outW)
        for o in 0..<spec.outChannels {
            for oy in 0..<outH {
                for ox in 0..<outW {
                    var acc = 0
                    for ci in 0..<c {
                        for ky in 0..<spec.kernel {
                            for kx in 0..<spec.kernel {
                                let iy = oy * spec.stride - spec.padding + ky * spec.dilation
                                let ix = ox * spec.stride - spec.padding + kx * spec.dilation
                                var q = Int(zp)
                                if iy >= 0 && iy < h && ix >= 0 && ix < w {
                                    q = Int(max(0, min(255, x[(ci * h + iy) * w + ix].rounded(.toNearestOrEven) + Float(zp))))
                                }
                                let wv = Int(weights[((o * c + ci) * spec.kernel + ky) * spec.kernel + kx])
                                acc += (q - Int(zp)) * wv
                            }
                        }
                    }
                    var v = Float(acc) + bias[o]
                    if spec.relu { v = max(v, 0) }
                    y[(o * outH + oy) * outW + ox] = v
                }
            }
        }
        return y
    }

    func testInt8ConvolutionEqualsNaiveIntegerConvolutionOverOddShapes() {
        // Scales 1 make every step an integer below 2^24, so the float epilogue is exact: equality is required.
        let cases: [(cin: Int, cout: Int, k: Int, stride: Int, pad: Int, dil: Int, h: Int, w: Int, relu: Bool)] = [
            (3, 7, 7, 2, 3, 1, 19, 13, true),
            (5, 1, 3, 1, 1, 1, 9, 11, false),
            (17, 33, 1, 1, 0, 1, 5, 7, true),
            (4, 9, 3, 1, 2, 2, 10, 6, false),
            (6, 5, 1, 2, 0, 1, 8, 9, false),
            (2, 1, 7, 1, 3, 1, 12, 12, false),
            (70, 3, 3, 1, 6, 6, 7, 8, true),
            (8, 4, 1, 1, 0, 1, 1, 1, true),      // a 1×1 map (channel attention's vectors)
        ]
        var state: UInt32 = 2024
        func next() -> UInt32 { state = state &* 1664525 &+ 1013904223; return state >> 8 }
        for (n, t) in cases.enumerated() {
            let spec = ConvSpec(weight: "w\(n)", inChannels: t.cin, outChannels: t.cout, kernel: t.k, stride: t.stride,
                                padding: t.pad, dilation: t.dil, relu: t.relu)
            let zp = Int32(next() % 256)
            let input = ActivationQuantization(scale: 1, zeroPoint: zp)
            // Integer inputs, 5% of them outside the representable range (they must saturate).
            let x: [Float] = (0..<(t.cin * t.h * t.w)).map { _ in
                let r = next()
                if r % 20 == 0 { return r % 2 == 0 ? 400 : -400 }
                return Float(Int(r % 256) - Int(zp))
            }
            let weights = (0..<(t.cout * t.cin * t.k * t.k)).map { _ in Int8(Int(next() % 255) - 127) }
            let bias = (0..<t.cout).map { _ in Float(Int(next() % 2001) - 1000) }
            let q = Int8ConvWeights(values: weights, scales: [Float](repeating: 1, count: t.cout), bias: bias)
            let outH = spec.outputSize(t.h), outW = spec.outputSize(t.w)
            let expected = naiveIntegerConv(x, c: t.cin, h: t.h, w: t.w, spec: spec, weights: weights, zp: zp,
                                            bias: bias, outH: outH, outW: outW)
            for threads in [1, 2, 3] {
                let got = Int8Convolutions.convolve(spec: spec, weights: q, input: input, input: x, height: t.h,
                                                    width: t.w, threads: threads)
                XCTAssertEqual(got, expected, "case \(n) \(t), \(threads) threads")
            }
        }
    }

    func testRequantizationMatchesDoublePrecisionReference() {
        // Real scales: the int8 result must equal the double-precision product of the dequantized operands up to
        // the epilogue's single-precision rounding (multiplier and accumulator conversion: a few ulps).
        let spec = ConvSpec(weight: "w", inChannels: 16, outChannels: 12, kernel: 3, padding: 1, relu: false)
        let input = ActivationQuantization(low: -0.8, high: 2.9)
        var state: UInt32 = 5
        func next() -> Float { state = state &* 1664525 &+ 1013904223; return Float(state >> 8) / Float(1 << 24) }
        let h = 6, w = 5
        let x = (0..<(16 * h * w)).map { _ in -1 + 4.2 * next() }   // includes values beyond [-0.8, 2.9]
        let wf = (0..<(12 * 16 * 9)).map { _ in (next() - 0.5) * 0.3 }
        let q = Int8ConvWeights(quantizing: wf, outChannels: 12, bias: (0..<12).map { _ in next() - 0.5 })
        let got = Int8Convolutions.convolve(spec: spec, weights: q, input: input, input: x,
                                            height: h, width: w, threads: 2)
        var maxErr = 0.0, maxMag = 0.0
        for o in 0..<12 {
            for oy in 0..<h {
                for ox in 0..<w {
                    var acc = Double(q.bias[o])
                    for c in 0..<16 {
                        for ky in 0..<3 {
                            for kx in 0..<3 {
                                let iy = oy - 1 + ky, ix = ox - 1 + kx
                                let xq = (iy >= 0 && iy < h && ix >= 0 && ix < w)
                                    ? Double(input.dequantize(input.quantize(x[(c * h + iy) * w + ix]))) : 0
                                acc += xq * Double(q.values[((o * 16 + c) * 3 + ky) * 3 + kx]) * Double(q.scales[o])
                            }
                        }
                    }
                    maxErr = max(maxErr, abs(acc - Double(got[(o * h + oy) * w + ox])))
                    maxMag = max(maxMag, abs(acc))
                }
            }
        }
        XCTAssertLessThan(maxErr, maxMag * 1e-5, "max error \(maxErr) at magnitude \(maxMag)")
    }
}

