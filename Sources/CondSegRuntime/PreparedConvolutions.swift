// PreparedConvolutions.swift — convolutions made ready once, at load, for both int8 executors: int8 weights
// (symmetric per output channel, BatchNorm folded), the choice of which convolutions run in int8 (those whose
// input tensor the calibration table flags int8; a quantized model file's own int8 weights are used as they are),
// the weights reordered to (ky, kx, cin) and packed for ck_qgemm_u8s8 (and, for 3×3 stride-1 convolutions on CPUs
// where it is faster, for the int8 Winograd ck_qwino_u8s8 F(2×2) and, on request, F(4×4), which give the same
// bits), the requantization multipliers, and the im2col, Winograd and GEMM arguments every int8 convolution call
// starts from. The float-fallback convolutions of the fast int8 executor (NHWC) are prepared here too.
//
// One int8 convolution: uint8 NHWC input with its tensor's (scale, zero point), im2col (padding = zero point),
// times the int8 weights (the zero point is removed with the packed row sums), then per output channel
// v = (acc − zp·Σw)·(s_in·s_w[o]) + b[o] (+ residual, ReLU) in the CKernels epilogue.

import CKernels
import CondSegCore

/// Int8 weights of one convolution: symmetric per output channel, BatchNorm already folded.
public struct Int8ConvWeights: Sendable, Equatable {
    /// [outChannels][inChannels·k·k] in PyTorch's OIHW order, values −127…127 (−63…63 for 7-bit weights, −31…31 for 6).
    public var values: [Int8]
    /// Per-output-channel scale: real weight = scale[o] · values[o][…].
    public var scales: [Float]
    /// Folded float bias, one per output channel.
    public var bias: [Float]

    public init(values: [Int8], scales: [Float], bias: [Float]) {
        self.values = values; self.scales = scales; self.bias = bias
    }

    /// Quantizes folded float weights with `bits` (8, 7 or 6): limit L = 2^(bits−1) − 1 (127, 63 or 31),
    /// scale[o] = max|w[o]| / L, q = clamp(rint(w / scale), −L, L). The clamp makes L the exact bound: |q| never
    /// reaches L + 1 (64 for 7 bits, 32 for 6), whatever the rounding of w / scale.
    public init(folded: FoldedConv, bits: Int = 8) {
        self.init(quantizing: folded.weights, outChannels: folded.spec.outChannels, bias: folded.bias, bits: bits)
    }

    /// The largest |q| of `bits`-bit symmetric weights: 127 for 8 bits, 63 for 7, 31 for 6.
    public static func limit(bits: Int) -> Int { (1 << (bits - 1)) - 1 }

    /// The weight widths a calibration table may ask for: 8, 7 (the AVX2 vpmaddubsw kernel's range) and 6 (the
    /// range in which the AVX2 kernel may sum two vpmaddubsw in int16).
    public static let supportedBits: ClosedRange<Int> = 6...8

    /// The largest |value| of these weights.
    public var maxAbsValue: Int { values.reduce(0) { Swift.max($0, abs(Int($1))) } }

    /// Quantizes float weights [outChannels][…] per output channel with `bits` (8, 7 or 6; an all-zero channel
    /// gets scale 1).
    public init(quantizing weights: [Float], outChannels out: Int, bias: [Float], bits: Int = 8) {
        precondition(Int8ConvWeights.supportedBits.contains(bits), "weight bits must be 6, 7 or 8")
        let limit = Float(Int8ConvWeights.limit(bits: bits))
        let perOut = weights.count / out
        var values = [Int8](repeating: 0, count: weights.count)
        var scales = [Float](repeating: 1, count: out)
        for o in 0..<out {
            var maxAbs: Float = 0
            for i in 0..<perOut { maxAbs = max(maxAbs, abs(weights[o * perOut + i])) }
            let scale: Float = maxAbs > 0 ? maxAbs / limit : 1
            scales[o] = scale
            for i in 0..<perOut {
                let q = (weights[o * perOut + i] / scale).rounded(.toNearestOrEven)
                values[o * perOut + i] = Int8(max(-limit, min(limit, q)))
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

/// `weights` ([outChannels][inChannels][k][k], PyTorch's OIHW) reordered to [outChannels][k][k][inChannels], the
/// order of an NHWC im2col row.
func tapsMajor<T>(_ weights: [T], _ spec: ConvSpec) -> [T] {
    let kk = spec.kernel * spec.kernel, k = spec.inChannels * kk
    var reordered = weights
    for o in 0..<spec.outChannels {
        for c in 0..<spec.inChannels {
            for t in 0..<kk { reordered[o * k + t * spec.inChannels + c] = weights[o * k + c * kk + t] }
        }
    }
    return reordered
}

/// One convolution made ready for ck_qgemm_u8s8: weights reordered to (ky, kx, cin) and packed, multipliers
/// s_in·s_w[o] and bias in buffers that live as long as it does.
final class PreparedInt8Conv {
    let spec: ConvSpec
    let input: ActivationQuantization
    let packed: UnsafeMutableRawPointer
    let multipliers: UnsafeMutablePointer<Float>
    let bias: UnsafeMutablePointer<Float>
    /// Depth of the GEMM: inChannels·k·k.
    let k: Int
    /// The same weights transformed and packed for the int8 Winograd F(2×2, 3×3) (ck_qwino_pack_weights), for a 3×3
    /// stride-1 convolution when this CPU's kernels prefer it (ck_qwino_preferred: AVX2 without VNNI); else nil.
    let winograd: UnsafeMutableRawPointer?
    /// The F(4×4, 3×3) packing (2.25× the bytes of F(2×2)), made on first request by `winogradWeights(tile: 4)`, so
    /// that only convolutions a plan runs that way hold it.
    private var winograd4: UnsafeMutableRawPointer?
    private var winograd4Tried = false
    /// The (ky, kx, cin) weights, kept for that packing (empty without Winograd).
    private let winogradSource: [Int8]

    /// `winograd: false` leaves out the Winograd packing (the int8 reference executor runs im2col + GEMM only).
    init(spec: ConvSpec, weights: Int8ConvWeights, input: ActivationQuantization, winograd: Bool = true) {
        self.spec = spec
        self.input = input
        k = spec.inChannels * spec.kernel * spec.kernel
        let reordered = tapsMajor(weights.values, spec)
        let size = ck_qgemm_packed_size(Int32(spec.outChannels), Int32(k))
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: 64)
        let (outs, depth) = (Int32(spec.outChannels), Int32(k))
        let status = reordered.withUnsafeBufferPointer { ck_qgemm_pack_weights($0.baseAddress, outs, depth, buffer) }
        packed = buffer
        precondition(status == 0, "weights of \(spec.weight) cannot be packed (K = \(k))")
        let eligible = winograd && PreparedInt8Conv.hasWinogradForm(spec)
        self.winograd = eligible ? PreparedInt8Conv.packWinograd(spec, reordered, tile: 2) : nil
        winogradSource = self.winograd != nil ? reordered : []
        multipliers = .allocate(capacity: spec.outChannels)
        multipliers.initialize(from: weights.scales.map { input.scale * $0 }, count: spec.outChannels)
        bias = .allocate(capacity: spec.outChannels)
        bias.initialize(from: weights.bias, count: spec.outChannels)
    }

    /// Whether `spec` is a 3×3 stride-1 convolution and the active kernels prefer Winograd.
    private static func hasWinogradForm(_ spec: ConvSpec) -> Bool {
        spec.kernel == 3 && spec.stride == 1 && !spec.isLinear && ck_qwino_preferred() != 0
    }

    /// ck_qwino_pack_weights of the (ky, kx, cin) weights for tile size `tile`; nil if the weights are too large
    /// for that transform's exact int32 range.
    private static func packWinograd(_ spec: ConvSpec, _ reordered: [Int8], tile: Int) -> UnsafeMutableRawPointer? {
        let (outs, ins) = (Int32(spec.outChannels), Int32(spec.inChannels))
        let size = ck_qwino_packed_size(Int32(tile), outs, ins)
        guard size > 0 else { return nil }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        let status = reordered.withUnsafeBufferPointer { ck_qwino_pack_weights(Int32(tile), $0.baseAddress, outs, ins, buffer) }
        guard status == 0 else { buffer.deallocate(); return nil }
        return buffer
    }

    /// The Winograd weights for output tiles of `tile`×`tile` (2 or 4): nil where this convolution has no Winograd
    /// form, or (F(4×4)) its weights are too large for that transform to stay exact. F(4×4) is packed on the first
    /// request (not thread-safe: executors call it while planning).
    func winogradWeights(tile: Int) -> UnsafeMutableRawPointer? {
        guard winograd != nil else { return nil }
        if tile == 2 { return winograd }
        guard tile == 4 else { return nil }
        if !winograd4Tried {
            winograd4Tried = true
            winograd4 = PreparedInt8Conv.packWinograd(spec, winogradSource, tile: 4)
        }
        return winograd4
    }

    deinit {
        winograd?.deallocate()
        winograd4?.deallocate()
        packed.deallocate()
        multipliers.deallocate()
        bias.deallocate()
    }

    /// GEMM arguments for `m` output pixels whose rows (k uint8 each) start at `a`, `lda` apart: the packed
    /// weights, the input zero point, multipliers, bias and ReLU; the caller adds outputs and residuals.
    func gemmArguments(m: Int, a: UnsafePointer<UInt8>, lda: Int, relu: Bool) -> ck_qgemm_args {
        var args = ck_qgemm_args()
        args.M = Int32(m); args.N = Int32(spec.outChannels); args.K = Int32(k)
        args.a = a; args.lda = lda
        args.packed_b = UnsafeRawPointer(packed)
        args.a_zero_point = input.zeroPoint
        args.multiplier = UnsafePointer(multipliers)
        args.bias = UnsafePointer(bias)
        args.relu = relu ? 1 : 0
        return args
    }

    /// Winograd arguments with `tile`×`tile` output tiles for a uint8 NHWC `input` of `inShape` and an output of
    /// `out` (nil without Winograd weights of that tile size); `epilogue` must outlive their use (it is the GEMM
    /// epilogue over the whole output).
    func winogradArguments(tile: Int, input: UnsafePointer<UInt8>, inShape: ValueShape, out: ValueShape,
                           epilogue: UnsafePointer<ck_qgemm_args>) -> ck_qwino_args? {
        guard let winograd = winogradWeights(tile: tile) else { return nil }
        var w = ck_qwino_args()
        w.input = input
        w.height = Int32(inShape.h); w.width = Int32(inShape.w); w.channels = Int32(inShape.c)
        w.pixel_stride = inShape.c; w.row_stride = inShape.w * inShape.c
        w.pad_top = Int32(spec.padding); w.pad_left = Int32(spec.padding)
        w.dilation_h = Int32(spec.dilation); w.dilation_w = Int32(spec.dilation)
        w.out_height = Int32(out.h); w.out_width = Int32(out.w)
        w.pad_value = UInt8(self.input.zeroPoint)
        w.packed_wino = UnsafeRawPointer(winograd)
        w.epilogue = epilogue
        return w
    }

    /// im2col arguments for a uint8 NHWC `input` of `inShape`, writing rows of k bytes to `rows` (padding reads
    /// as the input zero point); run them with ck_im2col_u8_nhwc over a range of output rows.
    func im2colArguments(input: UnsafePointer<UInt8>, inShape: ValueShape, outWidth: Int,
                         rows: UnsafeMutablePointer<UInt8>) -> ck_im2col_args {
        var im = ck_im2col_args()
        im.input = input
        im.height = Int32(inShape.h); im.width = Int32(inShape.w); im.channels = Int32(inShape.c)
        im.pixel_stride = inShape.c; im.row_stride = inShape.w * inShape.c
        im.kernel_h = Int32(spec.kernel); im.kernel_w = Int32(spec.kernel)
        im.stride_h = Int32(spec.stride); im.stride_w = Int32(spec.stride)
        im.pad_top = Int32(spec.padding); im.pad_left = Int32(spec.padding)
        im.dilation_h = Int32(spec.dilation); im.dilation_w = Int32(spec.dilation)
        im.out_width = Int32(outWidth)
        im.pad_value = UInt8(self.input.zeroPoint)
        im.rows = rows
        im.ld_rows = k
        return im
    }
}

/// A float-fallback convolution of the fast int8 executor, in NHWC: weights reordered to [out][ky][kx][in]
/// (BatchNorm folded), then packed for the fixed-order GEMM (ckf_gemm_fixed), whose results are the same bits on
/// every instruction set and for any thread count.
final class PreparedFloatConv {
    let spec: ConvSpec
    /// ckf_gemm_pack of the [out][ky][kx][in] weights.
    let packed: [Float]
    let bias: [Float]
    /// Depth of the GEMM: inChannels·k·k.
    let k: Int

    init(spec: ConvSpec, folded: FoldedConv) {
        self.spec = spec
        let k = spec.inChannels * spec.kernel * spec.kernel, n = spec.outChannels
        self.k = k
        let weights = tapsMajor(folded.weights, spec)
        var packed = [Float](repeating: 0, count: ckf_gemm_packed_floats(Int32(n), Int32(k)))
        weights.withUnsafeBufferPointer { w in
            packed.withUnsafeMutableBufferPointer { ckf_gemm_pack(w.baseAddress!, Int32(n), Int32(k), k, $0.baseAddress!) }
        }
        self.packed = packed
        bias = folded.bias
    }
}

/// The int8 convolutions of one graph, by node id: a convolution runs in int8 when the table flags its input
/// tensor `int8`. Both int8 executors are made from this. Weights are quantized with the table's weight bits.
struct Int8ConvolutionSet {
    /// Indexed by node id: the prepared int8 convolution, nil for float convolutions and other ops.
    let byNode: [PreparedInt8Conv?]

    /// Prepares every convolution of `graph` whose input tensor is flagged int8 in `table` (which must cover the
    /// graph). `weights` gives already-quantized weights by weight-tensor name (a quantized model file); the others
    /// are quantized from `folded` (shared weights once). `winograd: false` leaves out the Winograd packing.
    init(graph: Graph, folded: [FoldedConv?], table: CalibrationTable, tableFile: String,
         weights: [String: Int8ConvWeights], winograd: Bool = true) throws {
        let names = graph.valueNames
        var byName: [String: CalibrationEntry] = [:]
        for e in table.entries { byName[e.name] = e }
        var prepared = [PreparedInt8Conv?](repeating: nil, count: graph.nodes.count)
        var cache = weights
        for node in graph.nodes {
            guard case .conv(let spec) = node.kind else { continue }
            let inputName = names[node.inputs[0]]
            guard let entry = byName[inputName] else {
                throw CalibrationTableError(file: tableFile, problem: "no record for tensor \(inputName) (read by \(names[node.id]))")
            }
            guard entry.precision == .int8 else { continue }
            let w: Int8ConvWeights
            if let done = cache[spec.weight] { w = done } else {
                guard node.id < folded.count, let f = folded[node.id] else {
                    throw ExecutionError("convolution \(node.name) has no folded weights")
                }
                w = Int8ConvWeights(folded: f, bits: table.weightBits)
                cache[spec.weight] = w
            }
            prepared[node.id] = PreparedInt8Conv(spec: spec, weights: w, input: entry.quantization, winograd: winograd)
        }
        byNode = prepared
    }

    /// Ids of the convolutions that run in int8.
    var nodeIDs: [ValueID] { byNode.indices.filter { byNode[$0] != nil } }
}
