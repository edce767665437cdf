// ReferenceOpsTests.swift — every reference operator against a naive implementation written here from the
// PyTorch definitions (in double precision), over odd shapes: convolution (stride, padding, dilation, chunked
// im2col), bilinear align-corners upsampling, max pooling, the CDFA window attention + fold, and channel /
// spatial attention run through the executor on small hand-built graphs.

import CondSegCore
import CondSegTestSupport
import XCTest

/// Deterministic pseudo-random values in [-1, 1).
func randomValues(_ count: Int, seed: UInt64) -> [Float] {
    var state = seed &* 6364136223846793005 &+ 1442695040888963407
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Double(state >> 40) / Double(1 << 24) * 2 - 1)
    }
}

final class ReferenceOpsTests: XCTestCase {
    // MARK: convolution

    func naiveConv(_ spec: ConvSpec, w: [Float], b: [Float], x: [Float], h: Int, wd: Int) -> [Float] {
        let oh = spec.outputSize(h), ow = spec.outputSize(wd), k = spec.kernel
        var y = [Float](repeating: 0, count: spec.outChannels * oh * ow)
        for o in 0..<spec.outChannels {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var s = Double(b[o])
                    for c in 0..<spec.inChannels {
                        for ky in 0..<k {
                            for kx in 0..<k {
                                let iy = oy * spec.stride - spec.padding + ky * spec.dilation
                                let ix = ox * spec.stride - spec.padding + kx * spec.dilation
                                guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                                s += Double(w[((o * spec.inChannels + c) * k + ky) * k + kx]) * Double(x[(c * h + iy) * wd + ix])
                            }
                        }
                    }
                    y[(o * oh + oy) * ow + ox] = spec.relu ? Float(max(s, 0)) : Float(s)
                }
            }
        }
        return y
    }

    func checkConv(_ spec: ConvSpec, h: Int, w: Int, threads: Int, file: StaticString = #filePath, line: UInt = #line) {
        let k = spec.kernel
        let weights = randomValues(spec.outChannels * spec.inChannels * k * k, seed: 1)
        let bias = randomValues(spec.outChannels, seed: 2)
        let x = randomValues(spec.inChannels * h * w, seed: 3)
        let oh = spec.outputSize(h), ow = spec.outputSize(w)
        var y = [Float](repeating: .nan, count: spec.outChannels * oh * ow)
        var scratch = [Float](repeating: .nan, count: max(1, ReferenceOps.convScratch(spec, outH: oh, outW: ow)))
        ReferenceOps.conv(spec, weights: weights, bias: bias, input: x, inH: h, inW: w, output: &y, outH: oh, outW: ow,
                          scratch: &scratch, threads: threads)
        let expected = naiveConv(spec, w: weights, b: bias, x: x, h: h, wd: w)
        // Sum of |terms| bounds the float32 rounding error: K products, each ≤ 1 in magnitude → K·2⁻²³·few.
        let tolerance = Float(spec.inChannels * k * k) * 1e-6 + 1e-6
        let (diff, _) = maxAbsDiff(y, expected)
        XCTAssertLessThan(diff, tolerance, "conv k\(k) s\(spec.stride) p\(spec.padding) d\(spec.dilation) \(h)×\(w)", file: file, line: line)
    }

    func testConvolutionOddShapes() {
        for threads in [1, 3] {
            checkConv(ConvSpec(weight: "w", inChannels: 3, outChannels: 5, kernel: 3, stride: 2, padding: 1, dilation: 2, relu: true),
                      h: 11, w: 9, threads: threads)
            checkConv(ConvSpec(weight: "w", inChannels: 7, outChannels: 4, kernel: 3, padding: 6, dilation: 6), h: 13, w: 10, threads: threads)
            checkConv(ConvSpec(weight: "w", inChannels: 3, outChannels: 6, kernel: 7, stride: 2, padding: 3), h: 17, w: 15, threads: threads)
            checkConv(ConvSpec(weight: "w", inChannels: 5, outChannels: 3, kernel: 1), h: 7, w: 5, threads: threads)
            checkConv(ConvSpec(weight: "w", inChannels: 5, outChannels: 3, kernel: 1, stride: 2), h: 7, w: 5, threads: threads)
        }
    }

    func testConvolutionChunksIm2colRows() {
        // 64·9 rows × 64×64 pixels exceeds the im2col limit, so the output is computed in row chunks.
        let spec = ConvSpec(weight: "w", inChannels: 64, outChannels: 3, kernel: 3, padding: 1, relu: false)
        XCTAssertLessThan(ReferenceOps.convScratch(spec, outH: 64, outW: 64), 64 * 9 * 64 * 64)
        checkConv(spec, h: 64, w: 64, threads: 2)
    }

    // MARK: upsampling and pooling

    func testUpsampleAlignCorners() {
        for (h, w, f) in [(5, 7, 2), (3, 4, 4), (1, 3, 2), (8, 8, 8)] {
            let c = 3
            let x = randomValues(c * h * w, seed: 9)
            let oh = h * f, ow = w * f
            var y = [Float](repeating: .nan, count: c * oh * ow)
            ReferenceOps.upsampleAlignCorners(channels: c, input: x, inH: h, inW: w, output: &y, outH: oh, outW: ow, threads: 2)
            for ch in 0..<c {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        // PyTorch align_corners=True: source = dst·(in−1)/(out−1).
                        let sy = oh > 1 ? Double(oy) * Double(h - 1) / Double(oh - 1) : 0
                        let sx = ow > 1 ? Double(ox) * Double(w - 1) / Double(ow - 1) : 0
                        let y0 = Int(sy), x0 = Int(sx)
                        let y1 = min(y0 + 1, h - 1), x1 = min(x0 + 1, w - 1)
                        let ly = sy - Double(y0), lx = sx - Double(x0)
                        func v(_ yy: Int, _ xx: Int) -> Double { Double(x[(ch * h + yy) * w + xx]) }
                        let expected = (1 - ly) * ((1 - lx) * v(y0, x0) + lx * v(y0, x1)) + ly * ((1 - lx) * v(y1, x0) + lx * v(y1, x1))
                        XCTAssertEqual(Double(y[(ch * oh + oy) * ow + ox]), expected, accuracy: 1e-5, "\(h)×\(w)×\(f) at \(oy),\(ox)")
                    }
                }
            }
        }
    }

    /// The separable computation keeps PyTorch's float arithmetic bit for bit: every output equals
    /// (1−λh)((1−λw)v00 + λw v01) + λh((1−λw)v10 + λw v11) evaluated in Float, for up-, down- and odd-factor sizes.
    func testUpsampleAlignCornersIsTheFloatFormulaBitForBit() {
        for (h, w, oh, ow) in [(5, 7, 10, 14), (4, 9, 9, 4), (6, 6, 3, 2), (1, 3, 2, 7), (3, 1, 5, 1), (16, 16, 32, 32)] {
            let c = 4
            let x = randomValues(c * h * w, seed: 13).map { $0 * 37 - 11 }
            var y = [Float](repeating: .nan, count: c * oh * ow)
            ReferenceOps.upsampleAlignCorners(channels: c, input: x, inH: h, inW: w, output: &y, outH: oh, outW: ow, threads: 3)
            let (y0, y1, ly) = ReferenceOps.alignCornersTable(inSize: h, outSize: oh)
            let (x0, x1, lx) = ReferenceOps.alignCornersTable(inSize: w, outSize: ow)
            var mismatches = 0
            for ch in 0..<c {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        func v(_ yy: Int, _ xx: Int) -> Float { x[(ch * h + yy) * w + xx] }
                        let w1 = lx[ox], w0 = 1 - w1, h1 = ly[oy], h0 = 1 - h1
                        let top = w0 * v(y0[oy], x0[ox]) + w1 * v(y0[oy], x1[ox])
                        let bottom = w0 * v(y1[oy], x0[ox]) + w1 * v(y1[oy], x1[ox])
                        let expected = h0 * top + h1 * bottom
                        if y[(ch * oh + oy) * ow + ox].bitPattern != expected.bitPattern { mismatches += 1 }
                    }
                }
            }
            XCTAssertEqual(mismatches, 0, "\(h)×\(w) → \(oh)×\(ow)")
        }
    }

    /// Global max over every plane length (the four running maxima and the tail), with the maximum placed at every
    /// position, NaN values skipped; the mean is the in-order Double sum over the plane.
    func testGlobalPoolIsTheMeanAndTheMaxOfEachChannel() {
        for plane in [1, 2, 3, 4, 5, 7, 8, 9, 13, 4099] {
            for peak in Set([0, plane / 2, plane - 1]) {
                var x = randomValues(2 * plane, seed: UInt64(plane)).map { $0 - 2 }   // all below 0: -inf start matters
                x[peak] = 3.5
                x[plane + peak] = -0.25
                if plane > 2 { x[(peak + 1) % plane] = .nan }
                var y = [Float](repeating: 0, count: 2)
                ReferenceOps.globalPool(max: true, channels: 2, input: x, plane: plane, output: &y)
                XCTAssertEqual(y[0], 3.5, "plane \(plane), peak at \(peak)")
                let second = x[plane..<(2 * plane)].filter { !$0.isNaN }.max()!
                XCTAssertEqual(y[1], second, "plane \(plane), peak at \(peak)")
                ReferenceOps.globalPool(max: false, channels: 2, input: x, plane: plane, output: &y)
                let sum = x[plane..<(2 * plane)].reduce(0.0) { $0 + Double($1) }
                XCTAssertEqual(y[1], Float(sum / Double(plane)), "plane \(plane)")
            }
        }
    }

    func testMaxPoolPaddingIsNegativeInfinity() {
        let c = 2, h = 7, w = 5
        let x = randomValues(c * h * w, seed: 4).map { $0 - 5 }   // all negative: zero padding would win
        let oh = (h + 2 - 3) / 2 + 1, ow = (w + 2 - 3) / 2 + 1
        var y = [Float](repeating: .nan, count: c * oh * ow)
        ReferenceOps.maxPool(kernel: 3, stride: 2, padding: 1, channels: c, input: x, inH: h, inW: w, output: &y,
                             outH: oh, outW: ow, threads: 2)
        for ch in 0..<c {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var m = -Float.infinity
                    for iy in (oy * 2 - 1)...(oy * 2 + 1) where iy >= 0 && iy < h {
                        for ix in (ox * 2 - 1)...(ox * 2 + 1) where ix >= 0 && ix < w { m = max(m, x[(ch * h + iy) * w + ix]) }
                    }
                    XCTAssertEqual(y[(ch * oh + oy) * ow + ox], m)
                }
            }
        }
    }

    // MARK: window attention

    /// The definition (docs/architecture.md), step by step: softmax over j, o[p, i] = Σ_j a·v[p + off_j], then fold.
    func naiveWindowAttention(heads: Int, k: Int, c: Int, h: Int, w: Int, v: [Float], logits: [Float]) -> [Double] {
        let kk = k * k, hd = c / heads, scale = 1 / Double(hd).squareRoot()
        var y = [Double](repeating: 0, count: c * h * w)
        for py in 0..<h {
            for px in 0..<w {
                for head in 0..<heads {
                    for i in 0..<kk {
                        var a = (0..<kk).map { j in Double(logits[((head * kk * kk) + i * kk + j) * h * w + py * w + px]) * scale }
                        let m = a.max()!
                        a = a.map { exp($0 - m) }
                        let s = a.reduce(0, +)
                        a = a.map { $0 / s }
                        let qy = py + i / k - k / 2, qx = px + i % k - k / 2
                        guard qy >= 0, qy < h, qx >= 0, qx < w else { continue }   // fold drops slots outside
                        for cc in 0..<hd {
                            let ch = head * hd + cc
                            var o = 0.0
                            for j in 0..<kk {
                                let sy = py + j / k - k / 2, sx = px + j % k - k / 2
                                guard sy >= 0, sy < h, sx >= 0, sx < w else { continue }   // zero-padded unfold
                                o += a[j] * Double(v[(ch * h + sy) * w + sx])
                            }
                            y[(ch * h + qy) * w + qx] += o
                        }
                    }
                }
            }
        }
        return y
    }

    func testWindowAttentionAndFold() {
        for (heads, c, h, w) in [(2, 8, 5, 6), (4, 8, 3, 3), (1, 3, 7, 2)] {
            let k = 3
            let v = randomValues(c * h * w, seed: 5)
            let logits = randomValues(heads * 81 * h * w, seed: 6).map { $0 * 4 }
            var y = [Float](repeating: .nan, count: c * h * w)
            var scratch = [Float](repeating: .nan, count: 81 * h * w)
            ReferenceOps.windowAttention(heads: heads, window: k, channels: c, height: h, width: w, values: v, logits: logits,
                                         output: &y, weights: &scratch, threads: 2)
            let expected = naiveWindowAttention(heads: heads, k: k, c: c, h: h, w: w, v: v, logits: logits)
            for i in 0..<y.count {
                XCTAssertEqual(Double(y[i]), expected[i], accuracy: 1e-5, "heads \(heads) c \(c) \(h)×\(w) at \(i)")
            }
        }
    }

    // MARK: channel and spatial attention through the executor

    /// x → channel attention (shared fc1/fc2 on avg and max pools) → spatial attention, as ConDSeg's blocks do.
    func testChannelAndSpatialAttentionGraph() throws {
        let c = 32, hidden = 2, h = 16, w = 16
        var g = Graph()
        let x = g.add(.input, [], name: "input", channels: 3, stride: 1)
        let expand = ConvSpec(weight: "expand", inChannels: 3, outChannels: c, kernel: 1)
        let e = g.add(.conv(expand), [x], name: "expand", channels: c, stride: 1)
        let fc1 = ConvSpec(weight: "fc1", inChannels: c, outChannels: hidden, kernel: 1, relu: true)
        let fc2 = ConvSpec(weight: "fc2", inChannels: hidden, outChannels: c, kernel: 1)
        let avg = g.add(.globalAvgPool, [e], name: "avg", channels: c, stride: 0)
        let mx = g.add(.globalMaxPool, [e], name: "max", channels: c, stride: 0)
        let a = g.add(.conv(fc2), [g.add(.conv(fc1), [avg], name: "fc1", channels: hidden, stride: 0)], name: "fc2", channels: c, stride: 0)
        let m = g.add(.conv(fc2), [g.add(.conv(fc1), [mx], name: "fc1", channels: hidden, stride: 0)], name: "fc2", channels: c, stride: 0)
        let gate = g.add(.sigmoid, [g.add(.add(relu: false), [a, m], name: "sum", channels: c, stride: 0)], name: "sig", channels: c, stride: 0)
        let ca = g.add(.mul, [e, gate], name: "ca", channels: c, stride: 1)
        let mm = g.add(.channelMeanMax, [ca], name: "meanmax", channels: 2, stride: 1)
        let saConv = ConvSpec(weight: "sa", inChannels: 2, outChannels: 1, kernel: 7, padding: 3)
        let s = g.add(.sigmoid, [g.add(.conv(saConv), [mm], name: "sa", channels: 1, stride: 1)], name: "ssig", channels: 1, stride: 1)
        let out = g.add(.mul, [ca, s], name: "sa_out", channels: c, stride: 1)
        g.outputs["mask"] = out

        let specs: [String: ConvSpec] = ["expand": expand, "fc1": fc1, "fc2": fc2, "sa": saConv]
        var weights: [String: [Float]] = [:]
        for (i, (name, spec)) in specs.sorted(by: { $0.key < $1.key }).enumerated() {
            weights[name] = randomValues(spec.outChannels * spec.inChannels * spec.kernel * spec.kernel, seed: UInt64(10 + i))
        }
        let folded: [FoldedConv?] = g.nodes.map { node in
            guard case .conv(let spec) = node.kind else { return nil }
            return FoldedConv(spec: spec, weights: weights[spec.weight]!, bias: [Float](repeating: 0, count: spec.outChannels))
        }
        let executor = try ReferenceExecutor(graph: g, folded: folded, config: ModelConfig(encoder: .resnet18, width: 16, mid: 16, heads: 4, inputSize: 16), threads: 2)
        let input = randomValues(3 * h * w, seed: 20)
        try executor.run(input: input, height: h, width: w)
        let y = executor.output("mask")

        // Naive: the same formulas in double precision.
        let hw = h * w
        var feat = [Double](repeating: 0, count: c * hw)
        for o in 0..<c { for p in 0..<hw { for i in 0..<3 { feat[o * hw + p] += Double(weights["expand"]![o * 3 + i]) * Double(input[i * hw + p]) } } }
        func mlp(_ v: [Double]) -> [Double] {
            let hid = (0..<hidden).map { j in max(0, (0..<c).reduce(0.0) { $0 + Double(weights["fc1"]![j * c + $1]) * v[$1] }) }
            return (0..<c).map { o in (0..<hidden).reduce(0.0) { $0 + Double(weights["fc2"]![o * hidden + $1]) * hid[$1] } }
        }
        let avgV = (0..<c).map { o in feat[(o * hw)..<((o + 1) * hw)].reduce(0, +) / Double(hw) }
        let maxV = (0..<c).map { o in feat[(o * hw)..<((o + 1) * hw)].max()! }
        let gateV = zip(mlp(avgV), mlp(maxV)).map { 1 / (1 + exp(-($0 + $1))) }
        var caV = feat
        for o in 0..<c { for p in 0..<hw { caV[o * hw + p] *= gateV[o] } }
        var meanMax = [Double](repeating: 0, count: 2 * hw)
        for p in 0..<hw {
            meanMax[p] = (0..<c).reduce(0.0) { $0 + caV[$1 * hw + p] } / Double(c)
            meanMax[hw + p] = (0..<c).map { caV[$0 * hw + p] }.max()!
        }
        for o in 0..<c {
            for py in 0..<h {
                for px in 0..<w {
                    var sv = 0.0
                    for i in 0..<2 { for ky in 0..<7 { for kx in 0..<7 {
                        let iy = py + ky - 3, ix = px + kx - 3
                        guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                        sv += Double(weights["sa"]![(i * 7 + ky) * 7 + kx]) * meanMax[i * hw + iy * w + ix]
                    } } }
                    let expected = caV[o * hw + py * w + px] / (1 + exp(-sv))
                    XCTAssertEqual(Double(y[o * hw + py * w + px]), expected, accuracy: 1e-4 * max(1, abs(expected)))
                }
            }
        }
    }
}
