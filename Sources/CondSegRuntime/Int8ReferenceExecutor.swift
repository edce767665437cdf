// Int8ReferenceExecutor.swift — the int8 reference (`--engine reference` with `--calibration TABLE` or a quantized
// model file): the float reference executor with the int8 convolutions plugged in through its ConvolutionOverride
// hook, so that every other op (sigmoid gates, softmax window attention, pooling, upsampling, additions) stays
// exactly the reference's own. The fast int8 executor (FastInt8Executor) is checked bit for bit against it.
//
// One int8 convolution here: the float NCHW input is transposed to NHWC and quantized with its tensor's (scale,
// zero point) from the calibration table, then runs the prepared convolution (PreparedConvolutions.swift) and is
// written back as float NCHW. Rows are split among threads by output image row; the kernels make the result
// independent of the split, so 1 and 2 threads agree bit for bit.

import CKernels
import CondSegCore

/// Runs the network with the int8 convolutions of a calibration table (every other op in float32, the reference's).
public final class Int8ReferenceExecutor: Int8GraphExecutor, @unchecked Sendable {
    /// The float reference that runs the graph; its convolution override is `convolutions`.
    public let executor: ReferenceExecutor
    public let convolutions: Int8Convolutions
    public let table: CalibrationTable
    public var setup: ExecutorSetup { executor.setup }

    public init(graph: Graph, folded: [FoldedConv?], config: ModelConfig, table: CalibrationTable, tableFile: String,
                threads: Int, weights: [String: Int8ConvWeights] = [:], keepTaps: Bool = false) throws {
        try table.check(graph: graph, file: tableFile)
        executor = try ReferenceExecutor(graph: graph, folded: folded, config: config, threads: threads, keepTaps: keepTaps)
        convolutions = try Int8Convolutions(graph: graph, folded: folded, table: table, threads: threads,
                                            weights: weights, file: tableFile)
        self.table = table
        executor.convolutionOverride = convolutions
    }

    public var profiling: Bool {
        get { executor.profiling }
        set { executor.profiling = newValue }
    }
    public var nodeSeconds: [Double] { executor.nodeSeconds }
    public var plannedBytes: Int { executor.plannedBytes }
    public var int8ConvolutionIDs: Set<ValueID> { Set(convolutions.int8NodeIDs) }
    public var plannedSize: (height: Int, width: Int)? { executor.plannedSize }
    public func prepare(height: Int, width: Int) { executor.prepare(height: height, width: width) }
    public func execute(input: UnsafePointer<Float>) { executor.execute(input: input) }
    public func value(_ id: ValueID) -> [Float] { executor.value(id) }
    public func shape(_ id: ValueID) -> ValueShape? { executor.shape(id) }
}

/// The int8 convolutions of one graph, as a `ConvolutionOverride` for the reference executor. A convolution runs
/// in int8 when the table flags its input tensor `int8`; the others return false (the reference runs them).
public final class Int8Convolutions: ConvolutionOverride {
    private let int8: Int8ConvolutionSet
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
        int8 = try Int8ConvolutionSet(graph: graph, folded: folded, table: table, tableFile: file, weights: weights,
                                      winograd: false)
    }

    /// Ids of the convolutions that run in int8.
    public var int8NodeIDs: [ValueID] { int8.nodeIDs }
    public var convolutionIDs: [ValueID] { int8.nodeIDs }

    public func convolve(node: Node, input: UnsafePointer<Float>, inputShape: ValueShape,
                         output: UnsafeMutablePointer<Float>, outputShape: ValueShape) -> Bool {
        guard node.id < int8.byNode.count, let conv = int8.byNode[node.id] else { return false }
        Int8Convolutions.run(conv, input: input, inShape: inputShape, output: output, outShape: outputShape,
                             threads: threads, nhwcFloat: &nhwcFloat, nhwcBytes: &nhwcBytes, columns: &columns,
                             gemmOutput: &gemmOutput)
        return true
    }

    /// Runs one int8 convolution of a `channels`×`height`×`width` float input with an explicit input
    /// quantization (tests and the refinement search, which tries several scales). Output NCHW.
    public static func convolve(spec: ConvSpec, weights: Int8ConvWeights, input quantization: ActivationQuantization,
                                input: [Float], height: Int, width: Int, threads: Int) -> [Float] {
        let conv = PreparedInt8Conv(spec: spec, weights: weights, input: quantization, winograd: false)
        let inShape = ValueShape(n: 1, c: spec.inChannels, h: height, w: width)
        let outShape = ValueShape(n: 1, c: spec.outChannels, h: spec.outputSize(height), w: spec.outputSize(width))
        var output = [Float](repeating: 0, count: outShape.count)
        var a: [Float] = [], b: [UInt8] = [], c: [UInt8] = [], d: [Float] = []
        input.withUnsafeBufferPointer { x in
            output.withUnsafeMutableBufferPointer { y in
                run(conv, input: x.baseAddress!, inShape: inShape, output: y.baseAddress!, outShape: outShape,
                    threads: threads, nhwcFloat: &a, nhwcBytes: &b, columns: &c, gemmOutput: &d)
            }
        }
        return output
    }

    private static func run(_ conv: PreparedInt8Conv, input: UnsafePointer<Float>, inShape: ValueShape,
                            output: UnsafeMutablePointer<Float>, outShape: ValueShape, threads: Int,
                            nhwcFloat: inout [Float], nhwcBytes: inout [UInt8], columns: inout [UInt8],
                            gemmOutput: inout [Float]) {
        let spec = conv.spec
        let cin = inShape.c, plane = inShape.plane
        let cout = outShape.c, outW = outShape.w, m = outShape.plane
        if nhwcFloat.count < plane * cin { nhwcFloat = [Float](repeating: 0, count: plane * cin) }
        if nhwcBytes.count < plane * cin { nhwcBytes = [UInt8](repeating: 0, count: plane * cin) }
        if gemmOutput.count < m * cout { gemmOutput = [Float](repeating: 0, count: m * cout) }
        let direct = spec.isPointwise
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
                    let q = qBuf.baseAddress!
                    let cols = colBuf.baseAddress
                    let out = outBuf.baseAddress!
                    parallelChunks(outShape.h, threads: threads) { rows in
                        var a: ck_qgemm_args
                        if direct {
                            a = conv.gemmArguments(m: m, a: q, lda: cin, relu: spec.relu)
                        } else {
                            var im = conv.im2colArguments(input: q, inShape: inShape, outWidth: outW,
                                                          rows: cols! + rows.lowerBound * outW * conv.k)
                            ck_im2col_u8_nhwc(&im, Int32(rows.lowerBound), Int32(rows.upperBound))
                            a = conv.gemmArguments(m: m, a: UnsafePointer(cols!), lda: conv.k, relu: spec.relu)
                        }
                        a.out_f32 = out
                        a.ldc = cout
                        let status = ck_qgemm_u8s8(&a, Int32(rows.lowerBound * outW), Int32(rows.upperBound * outW))
                        precondition(status == 0, "ck_qgemm_u8s8 rejected the arguments of \(spec.weight)")
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
