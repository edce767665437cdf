// Int8Convolution.swift — the int8 path: convolutions in exact integer arithmetic (uint8 activations ×
// int8 weights → int32, float requantization in the CKernels epilogue), plugged into the float reference through
// its ConvolutionOverride hook so that every other op (sigmoid gates, softmax window attention, pooling,
// upsampling, additions) stays exactly the reference's own.
//
// One int8 convolution: the float NCHW input is transposed to NHWC and quantized with its tensor's (scale, zero
// point) from the calibration table, im2col'd (NHWC, padding = zero point), multiplied by the per-output-channel
// int8 weights (ck_qgemm_u8s8; the zero point is removed with the packed row sums), and written back as float
// NCHW with bias and ReLU applied: v = (acc − zp·Σw)·(s_in·s_w[o]) + b[o]. Rows are split among threads by
// output image row; the kernels make the result independent of the split, so 1 and 2 threads agree bit for bit.

import CKernels
import CondSegCore
import Foundation

/// Int8 weights of one convolution: symmetric per output channel, BatchNorm already folded.
public struct Int8ConvWeights: Sendable, Equatable {
    /// [outChannels][inChannels·k·k] in PyTorch's OIHW order, values −127…127.
    public var values: [Int8]
    /// Per-output-channel scale: real weight = scale[o] · values[o][…].
    public var scales: [Float]
    /// Folded float bias, one per output channel.
    public var bias: [Float]

    public init(values: [Int8], scales: [Float], bias: [Float]) {
        self.values = values; self.scales = scales; self.bias = bias
    }

    /// Quantizes folded float weights: scale[o] = max|w[o]| / 127, q = clamp(rint(w / scale), −127, 127).
    public init(folded: FoldedConv) {
        self.init(quantizing: folded.weights, outChannels: folded.spec.outChannels, bias: folded.bias)
    }

    /// Quantizes float weights [outChannels][…] per output channel (an all-zero channel gets scale 1).
    public init(quantizing weights: [Float], outChannels out: Int, bias: [Float]) {
        let perOut = weights.count / out
        var values = [Int8](repeating: 0, count: weights.count)
        var scales = [Float](repeating: 1, count: out)
        for o in 0..<out {
            var maxAbs: Float = 0
            for i in 0..<perOut { maxAbs = max(maxAbs, abs(weights[o * perOut + i])) }
            let scale: Float = maxAbs > 0 ? maxAbs / 127 : 1
            scales[o] = scale
            for i in 0..<perOut {
                let q = (weights[o * perOut + i] / scale).rounded(.toNearestOrEven)
                values[o * perOut + i] = Int8(max(-127, min(127, q)))
            }
        }
        self.init(values: values, scales: scales, bias: bias)
    }

    /// The real weights these int8 values stand for.
    public var dequantized: [Float] {
        let perOut = values.count / max(scales.count, 1)
        return values.enumerated().map { Float($0.element) * scales[$0.offset / perOut] }
    }
}

/// One convolution made ready for ck_qgemm_u8s8: weights reordered to (ky, kx, cin) and packed.
final class PreparedInt8Conv {
    let spec: ConvSpec
    let input: ActivationQuantization
    let packed: UnsafeMutableRawPointer
    let multipliers: [Float]
    let bias: [Float]
    let k: Int

    init(spec: ConvSpec, weights: Int8ConvWeights, input: ActivationQuantization) {
        self.spec = spec
        self.input = input
        let kk = spec.kernel * spec.kernel
        k = spec.inChannels * kk
        var reordered = [Int8](repeating: 0, count: weights.values.count)
        for o in 0..<spec.outChannels {
            for c in 0..<spec.inChannels {
                for t in 0..<kk {   // OIHW (c, ky, kx) → (ky, kx, c)
                    reordered[o * k + t * spec.inChannels + c] = weights.values[o * k + c * kk + t]
                }
            }
        }
        let size = ck_qgemm_packed_size(Int32(spec.outChannels), Int32(k))
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: 64)
        let (outs, depth) = (Int32(spec.outChannels), Int32(k))
        let status = reordered.withUnsafeBufferPointer { ck_qgemm_pack_weights($0.baseAddress, outs, depth, buffer) }
        packed = buffer
        precondition(status == 0, "weights of \(spec.weight) cannot be packed (K = \(k))")
        multipliers = weights.scales.map { input.scale * $0 }
        bias = weights.bias
    }

    deinit { packed.deallocate() }
}

/// The int8 convolutions of one graph, as a `ConvolutionOverride` for the reference executor. A convolution runs
/// in int8 when the table flags its input tensor `int8`; the others return false (the reference runs them).
public final class Int8Convolutions: ConvolutionOverride {
    /// Indexed by node id: the prepared int8 convolution, nil for float ones and for other ops.
    private var prepared: [PreparedInt8Conv?]
    public let threads: Int
    private var nhwcFloat: [Float] = []
    private var nhwcBytes: [UInt8] = []
    private var columns: [UInt8] = []
    private var gemmOutput: [Float] = []

    /// Prepares every convolution of `graph` whose input tensor is flagged int8 in `table`. `weights` gives
    /// already-quantized weights by weight-tensor name (a quantized model file); the others are quantized from
    /// `folded`.
    public init(graph: Graph, folded: [FoldedConv?], table: CalibrationTable, threads: Int,
                weights: [String: Int8ConvWeights] = [:], file: String = "calibration table") throws {
        self.threads = max(1, threads)
        let names = graph.valueNames
        var byName: [String: CalibrationEntry] = [:]
        for e in table.entries { byName[e.name] = e }
        prepared = Array(repeating: nil, count: graph.nodes.count)
        var cache: [String: Int8ConvWeights] = weights
        for node in graph.nodes {
            guard case .conv(let spec) = node.kind else { continue }
            let inputName = names[node.inputs[0]]
            guard let entry = byName[inputName] else {
                throw CalibrationTableError(file: file, problem: "no record for tensor \(inputName) (read by \(names[node.id]))")
            }
            guard entry.precision == .int8 else { continue }
            let w: Int8ConvWeights
            if let done = cache[spec.weight] { w = done } else {
                guard let f = folded[node.id] else {
                    throw CalibrationTableError(file: file, problem: "no weights for \(names[node.id])")
                }
                w = Int8ConvWeights(folded: f)
                cache[spec.weight] = w
            }
            prepared[node.id] = PreparedInt8Conv(spec: spec, weights: w, input: entry.quantization)
        }
    }

    /// Ids of the convolutions that run in int8.
    public var int8NodeIDs: [ValueID] { prepared.indices.filter { prepared[$0] != nil } }

    public func convolve(node: Node, input: UnsafePointer<Float>, inputShape: ValueShape,
                         output: UnsafeMutablePointer<Float>, outputShape: ValueShape) -> Bool {
        guard node.id < prepared.count, let conv = prepared[node.id] else { return false }
        Int8Convolutions.run(conv, input: input, cin: inputShape.c, inH: inputShape.h, inW: inputShape.w, output: output,
                             cout: outputShape.c, outH: outputShape.h, outW: outputShape.w, threads: threads,
                             nhwcFloat: &nhwcFloat, nhwcBytes: &nhwcBytes, columns: &columns, gemmOutput: &gemmOutput)
        return true
    }

    /// Runs one int8 convolution of a `channels`×`height`×`width` float input with an explicit input
    /// quantization (tests and the refinement search, which tries several scales). Output NCHW.
    public static func convolve(spec: ConvSpec, weights: Int8ConvWeights, input quantization: ActivationQuantization,
                                input: [Float], height: Int, width: Int, threads: Int) -> [Float] {
        let conv = PreparedInt8Conv(spec: spec, weights: weights, input: quantization)
        let outH = spec.outputSize(height), outW = spec.outputSize(width)
        var output = [Float](repeating: 0, count: spec.outChannels * outH * outW)
        var a: [Float] = [], b: [UInt8] = [], c: [UInt8] = [], d: [Float] = []
        input.withUnsafeBufferPointer { x in
            output.withUnsafeMutableBufferPointer { y in
                run(conv, input: x.baseAddress!, cin: spec.inChannels, inH: height, inW: width, output: y.baseAddress!,
                    cout: spec.outChannels, outH: outH, outW: outW, threads: threads,
                    nhwcFloat: &a, nhwcBytes: &b, columns: &c, gemmOutput: &d)
            }
        }
        return output
    }

    private static func run(_ conv: PreparedInt8Conv, input: UnsafePointer<Float>, cin: Int, inH: Int, inW: Int,
                            output: UnsafeMutablePointer<Float>, cout: Int, outH: Int, outW: Int, threads: Int,
                            nhwcFloat: inout [Float], nhwcBytes: inout [UInt8], columns: inout [UInt8],
                            gemmOutput: inout [Float]) {
        let spec = conv.spec
        let plane = inH * inW
        let m = outH * outW
        if nhwcFloat.count < plane * cin { nhwcFloat = [Float](repeating: 0, count: plane * cin) }
        if nhwcBytes.count < plane * cin { nhwcBytes = [UInt8](repeating: 0, count: plane * cin) }
        if gemmOutput.count < m * cout { gemmOutput = [Float](repeating: 0, count: m * cout) }
        let direct = spec.kernel == 1 && spec.stride == 1 && spec.padding == 0
        if !direct && columns.count < m * conv.k { columns = [UInt8](repeating: 0, count: m * conv.k) }

        nhwcFloat.withUnsafeMutableBufferPointer { tBuf in
            let t = tBuf.baseAddress!
            // NCHW → NHWC (float), then the C kernel's exact quantization.
            parallelChunks(plane, threads: threads) { range in
                for i in range {
                    for c in 0..<cin { t[i * cin + c] = input[c * plane + i] }
                }
            }
        }
        nhwcFloat.withUnsafeBufferPointer { t in
            nhwcBytes.withUnsafeMutableBufferPointer { q in
                ck_quantize_u8(t.baseAddress!, q.baseAddress!, plane * cin, 1 / conv.input.scale, conv.input.zeroPoint)
            }
        }
        nhwcBytes.withUnsafeBufferPointer { qBuf in
            columns.withUnsafeMutableBufferPointer { colBuf in
                gemmOutput.withUnsafeMutableBufferPointer { outBuf in
                    conv.multipliers.withUnsafeBufferPointer { mul in
                        conv.bias.withUnsafeBufferPointer { bias in
                            let q = qBuf.baseAddress!
                            let cols = colBuf.baseAddress
                            let out = outBuf.baseAddress!
                            parallelChunks(outH, threads: threads) { rows in
                                var a = ck_qgemm_args()
                                a.M = Int32(m); a.N = Int32(cout); a.K = Int32(conv.k)
                                if direct {
                                    a.a = q; a.lda = cin
                                } else {
                                    var im = ck_im2col_args()
                                    im.input = q
                                    im.height = Int32(inH); im.width = Int32(inW); im.channels = Int32(cin)
                                    im.pixel_stride = cin; im.row_stride = inW * cin
                                    im.kernel_h = Int32(spec.kernel); im.kernel_w = Int32(spec.kernel)
                                    im.stride_h = Int32(spec.stride); im.stride_w = Int32(spec.stride)
                                    im.pad_top = Int32(spec.padding); im.pad_left = Int32(spec.padding)
                                    im.dilation_h = Int32(spec.dilation); im.dilation_w = Int32(spec.dilation)
                                    im.out_width = Int32(outW)
                                    im.pad_value = UInt8(conv.input.zeroPoint)
                                    im.rows = cols! + rows.lowerBound * outW * conv.k
                                    im.ld_rows = conv.k
                                    ck_im2col_u8_nhwc(&im, Int32(rows.lowerBound), Int32(rows.upperBound))
                                    a.a = UnsafePointer(cols!); a.lda = conv.k
                                }
                                a.packed_b = UnsafeRawPointer(conv.packed)
                                a.a_zero_point = conv.input.zeroPoint
                                a.multiplier = mul.baseAddress
                                a.bias = bias.baseAddress
                                a.relu = spec.relu ? 1 : 0
                                a.out_f32 = out
                                a.ldc = cout
                                let status = ck_qgemm_u8s8(&a, Int32(rows.lowerBound * outW), Int32(rows.upperBound * outW))
                                precondition(status == 0, "ck_qgemm_u8s8 rejected the arguments of \(spec.weight)")
                            }
                        }
                    }
                }
            }
        }
        // NHWC → NCHW.
        gemmOutput.withUnsafeBufferPointer { gBuf in
            let g = gBuf.baseAddress!
            parallelChunks(cout, threads: threads) { channels in
                for c in channels {
                    let dst = output + c * m
                    for i in 0..<m { dst[i] = g[i * cout + c] }
                }
            }
        }
    }
}
