// FastInt8Executor.swift — the fast int8 executor (`--calibration TABLE` and quantized model files, the default
// `--engine fast`): walks the same Graph as every executor, keeps activations NHWC, and keeps the tensors int8
// convolutions read as uint8 between layers: a convolution's GEMM epilogue (ck_qgemm_u8s8) applies bias, the
// residual of a fused add, ReLU and the requantization to the next layer's (scale, zero point) and writes uint8
// (and float32 only where a float op reads the value). 1×1 stride-1 convolutions are plain GEMMs on the NHWC input;
// the others im2col a block of output rows per thread into an L2-sized buffer, except 3×3 stride-1 ones on CPUs where
// the int8 Winograd F(4×4, 3×3) or F(2×2, 3×3) is faster (ck_qwino_u8s8: same int32 accumulators, same epilogue,
// same bits). Ops the quantizer keeps in float (sigmoid gates, window attention and its softmax, pooling,
// upsampling, the float-fallback convolutions) run in float32 NHWC (NHWCOps) and quantize their result in the same
// step when an int8 convolution reads it. A concat input that only the concat reads is written by its own step
// straight into its channel slice of the concat's buffers (FastInt8Plan), so most concats copy nothing. Those float
// ops use the portable arithmetic of CKernels (ckf_gemm_fixed for the float convolutions, ckf_sigmoid_portable,
// ckf_window_attention_nhwc_portable), so a frame gives the same bits on x86-64 and aarch64 and for any thread count.
// The convolutions are prepared as for the int8 reference (PreparedConvolutions.swift) and the int8 arithmetic is
// exactly its own (Int8ReferenceExecutor: the float reference with int8 convolutions plugged in); outputs are
// bit-identical for any thread count. Checked against it and, with an all-float table, op by op against the float
// reference (Tests/CondSegRuntimeTests/FastInt8ExecutorTests.swift).

import CKernels
import CondSegCore
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a ConDSeg graph with the int8 convolutions of a calibration table, NHWC, uint8 between int8 layers.
public final class FastInt8Executor: Int8GraphExecutor, @unchecked Sendable {
    public let setup: ExecutorSetup
    public let table: CalibrationTable
    /// Per node: the prepared int8 convolution, or nil.
    private let int8Convs: [PreparedInt8Conv?]
    /// Per node: the prepared float convolution, or nil.
    private let floatConvs: [PreparedFloatConv?]
    /// Per value: its quantization when an int8 convolution reads it.
    private let quantization: [ActivationQuantization?]
    private var plan: FastInt8Plan?
    private var arena: UnsafeMutableRawPointer?
    private var scratch: UnsafeMutableRawPointer?
    private var scratchBytes = 0
    private var arenaBytes = 0
    // Byte offsets and sizes of the scratch regions (made by `prepare`).
    private var im2colBytesPerThread = 0
    private var floatColumnsOffset = 0
    private var floatColumnsCount = 0
    private var gemmOutOffset = 0
    private var gemmOutPerThread = 0
    private var residualOffset = 0
    private var attentionOffset = 0
    private var attentionPerThread = 0
    /// Align-corners interpolation tables by (input size, output size) of an axis, made by `prepare`.
    private var upsampleTables: [SIMD2<Int>: NHWCOps.AlignCornersTable] = [:]
    /// Bytes of im2col rows per thread and block (the block's rows stay in L2 while the GEMM reads them).
    public var im2colBlockBytes = 1 << 17
    /// Floats of float im2col columns per chunk.
    public var floatChunkFloats = 1 << 18
    /// When true (the default), 3×3 stride-1 int8 convolutions run as int8 Winograd where the CPU's kernels prefer
    /// it (PreparedInt8Conv.winograd) and the tiling pays; false runs them as im2col + GEMM. Same bits either way.
    /// `CONDSEG_INT8_WINOGRAD=0` sets the starting value to false, so that the command line can measure both (the
    /// CLI warns about values other than 0, 1 and 2, which leave it on).
    public var int8Winograd = FastInt8Executor.defaultInt8Winograd
    /// The largest Winograd output tile a plan may choose: 4 (the default: F(4×4, 3×3) where it pays, else F(2×2))
    /// or 2 (F(2×2, 3×3) only; `CONDSEG_INT8_WINOGRAD=2`). Same bits either way; takes effect at the next `prepare`.
    public var int8WinogradLargestTile = FastInt8Executor.defaultInt8WinogradLargestTile

    /// true, unless `CONDSEG_INT8_WINOGRAD` is 0.
    static var defaultInt8Winograd: Bool {
        guard let text = getenv("CONDSEG_INT8_WINOGRAD") else { return true }
        return String(cString: text) != "0"
    }

    /// 2 when `CONDSEG_INT8_WINOGRAD` is 2, else 4.
    static var defaultInt8WinogradLargestTile: Int {
        guard let text = getenv("CONDSEG_INT8_WINOGRAD") else { return 4 }
        return String(cString: text) == "2" ? 2 : 4
    }
    /// When true (the default), concat inputs that only the concat reads are written straight into its buffers
    /// (FastInt8Plan); false copies them. Takes effect at the next `prepare`.
    public var concatInPlace = true
    /// When true, `nodeSeconds` accumulates the wall time of every step across runs (for `bench --profile`).
    public var profiling = false
    /// Seconds spent in each step, indexed by the id of the node the step writes.
    public private(set) var nodeSeconds: [Double] = []
    /// Called after every step with the value it wrote: its float32 NHWC buffer and its uint8 NHWC buffer (either
    /// may be nil) and its NCHW shape (tests compare values with the reference executors).
    public var stepObserver: ((Node, UnsafeMutablePointer<Float>?, UnsafeMutablePointer<UInt8>?, ValueShape) -> Void)?

    public init(graph: Graph, folded: [FoldedConv?], config: ModelConfig, table: CalibrationTable,
                tableFile: String, threads: Int, weights: [String: Int8ConvWeights] = [:], keepTaps: Bool = false) throws {
        try table.check(graph: graph, file: tableFile)
        setup = ExecutorSetup(graph: graph, config: config, threads: threads, keepTaps: keepTaps)
        self.table = table
        int8Convs = try Int8ConvolutionSet(graph: graph, folded: folded, table: table, tableFile: tableFile,
                                           weights: weights).byNode
        var floatConvs = [PreparedFloatConv?](repeating: nil, count: graph.nodes.count)
        var quantization = [ActivationQuantization?](repeating: nil, count: graph.nodes.count)
        for node in graph.nodes {
            guard case .conv(let spec) = node.kind else { continue }
            if let conv = int8Convs[node.id] {
                quantization[node.inputs[0]] = conv.input
            } else {
                guard node.id < folded.count, let f = folded[node.id] else {
                    throw ExecutionError("convolution \(node.name) has no folded weights")
                }
                floatConvs[node.id] = PreparedFloatConv(spec: spec, folded: f)
            }
        }
        self.floatConvs = floatConvs
        self.quantization = quantization
    }

    deinit {
        arena?.deallocate()
        scratch?.deallocate()
    }

    /// Ids of the convolutions that run in int8.
    public var int8NodeIDs: [ValueID] { int8Convs.indices.filter { int8Convs[$0] != nil } }

    public var int8ConvolutionIDs: Set<ValueID> { Set(int8NodeIDs) }

    /// Ids of the int8 convolutions the current plan runs as int8 Winograd with the current settings and kernels.
    public var int8WinogradNodeIDs: [ValueID] { winogradConvolutions.keys.filter { int8WinogradTile($0) != nil }.sorted() }

    /// The output tile size (2 or 4) convolution `id` runs with as Winograd now, or nil if it does not: chosen by
    /// the plan, and allowed by the setting and the kernels.
    public func int8WinogradTile(_ id: ValueID) -> Int? {
        guard int8Winograd, ck_qwino_preferred() != 0 else { return nil }
        return winogradConvolutions[id]
    }

    /// Multiply-adds the Winograd form of convolution `id` does per frame in the current plan: (m+2)² per m×m tile
    /// per input and output channel (tiles past the image edge included); nil if it does not run that way.
    public func int8WinogradMultiplies(_ id: ValueID) -> Int? {
        guard let tile = int8WinogradTile(id), let conv = int8Convs[id], let out = plan?.shapes[id] else { return nil }
        return FastInt8Executor.winogradTiles(out, dilation: conv.spec.dilation, tile: tile) * (tile + 2) * (tile + 2)
            * conv.spec.inChannels * conv.spec.outChannels
    }

    /// Smallest share of a Winograd tiling's outputs that must lie inside the image for the convolution to run that
    /// way. A dilated convolution's 2×2 tiles cover rows oy and oy + d, so a small image with a large dilation
    /// computes many outputs past its edge (dconv4 at 8×8 with d = 18 keeps 1 in 4); Winograd is 1.2–1.5× faster
    /// than the direct kernels on AVX2 with 7-bit weights, so below about 3 in 4 it loses.
    static let winogradMinimumUtilisation = 0.75

    /// Fewest 4×4 tiles for F(4×4, 3×3): below, its weights (36 transformed points per channel pair, re-read for
    /// every block of tiles) cost more than its fewer multiplies save. Measured standalone (one thread, AVX2, 7-bit
    /// weights; F(2×2) time / F(4×4) time): 1.5× at 32×32 and larger maps, 1.35× (C = 128) to 0.99× (C = 256) at
    /// 16×16 (16 tiles), 0.77× at 8×8 with C = 512.
    static let winogradLargeTileMinimumTiles = 32

    /// Int8 convolutions of the current plan that have Winograd weights and a tiling that pays, with their tile size.
    private var winogradConvolutions: [ValueID: Int] = [:]

    public var plannedSize: (height: Int, width: Int)? { plan.map { ($0.height, $0.width) } }

    public func execute(input: UnsafePointer<Float>) {
        execute(plan: plan!, input: input)
    }

    /// Peak activation and scratch memory of the current plan, in bytes.
    public var plannedBytes: Int { arenaBytes + scratchBytes }

    /// Values of the current plan that live in a channel slice of the concat that reads them (written in place).
    public var concatAliasedValueIDs: Set<ValueID> { Set(plan?.aliasedInto.keys.map { $0 } ?? []) }

    /// Convolutions computed inside the add that reads them in the current plan.
    public var fusedConvolutionIDs: Set<ValueID> { plan?.fusedConvolutions ?? [] }

    public func shape(_ id: ValueID) -> ValueShape? { plan?.shapes[id] }

    public func value(_ id: ValueID) -> [Float] {
        guard let plan, let arena, let shape = plan.shapes[id], let offset = plan.floatOffsets[id] else { return [] }
        let x = (arena + offset).assumingMemoryBound(to: Float.self)
        var out = [Float](repeating: 0, count: shape.count)
        out.withUnsafeMutableBufferPointer {
            NHWCOps.toPlanar(x, $0.baseAddress!, channels: shape.c, plane: shape.plane, stride: plan.floatStrides[id],
                             threads: 1)
        }
        return out
    }

    // MARK: planning

    /// Makes the plan and allocates arena and scratch for one input size (the first run of a size does this).
    public func prepare(height: Int, width: Int) {
        let int8Flags = graph.nodes.map { int8Convs[$0.id] != nil }
        let plan = FastInt8Plan(graph: graph, height: height, width: width, targets: setup.targets, pinned: setup.pinned,
                                    int8Conv: int8Flags, concatInPlace: concatInPlace)
        upsampleTables = [:]
        winogradConvolutions = [:]
        var im2colBytes = 0, floatColumns = 0, gemmOut = 0, residual = 0, attentionThread = 0
        for step in plan.steps {
            let node = graph.nodes[step.fusedConv ?? step.node]
            let out = plan.shapes[node.id]!
            switch node.kind {
            case .conv(let spec):
                if let conv = int8Convs[node.id] {
                    if !spec.isPointwise { im2colBytes = max(im2colBytes, int8BlockRows(conv, out) * out.w * conv.k) }
                    if let tile = winogradTile(conv, out) {
                        winogradConvolutions[node.id] = tile
                        im2colBytes = max(im2colBytes, ck_qwino_scratch_size(Int32(tile), Int32(spec.inChannels)))
                    }
                } else if let conv = floatConvs[node.id] {
                    let rows = floatChunkRows(conv, out)
                    if !spec.isPointwise { floatColumns = max(floatColumns, rows * out.w * conv.k) }
                    gemmOut = max(gemmOut, ckf_conv_scratch_floats(Int32(spec.outChannels)))
                }
                if step.fusedConv != nil && graph.nodes[step.node].inputs.count > 2 { residual = max(residual, out.count) }
            case .upsample:
                let input = plan.shapes[node.inputs[0]]!
                for (inSize, outSize) in [(input.h, out.h), (input.w, out.w)] where upsampleTables[SIMD2(inSize, outSize)] == nil {
                    upsampleTables[SIMD2(inSize, outSize)] = NHWCOps.AlignCornersTable(inSize: inSize, outSize: outSize)
                }
            case .windowAttention(let heads, let k):
                var args = ckf_attention_args()
                args.heads = Int32(heads); args.window = Int32(k); args.width = Int32(out.w)
                attentionThread = max(attentionThread, ckf_window_attention_nhwc_scratch(&args))
            default: break
            }
        }
        func rounded(_ bytes: Int) -> Int { (bytes + 63) & ~63 }
        im2colBytesPerThread = rounded(im2colBytes)
        var offset = im2colBytesPerThread * threads
        floatColumnsOffset = offset; floatColumnsCount = floatColumns; offset += rounded(floatColumns * 4)
        gemmOutOffset = offset; gemmOutPerThread = rounded(gemmOut * 4) / 4; offset += gemmOutPerThread * 4 * threads
        residualOffset = offset; offset += rounded(residual * 4)
        attentionOffset = offset
        attentionPerThread = rounded(attentionThread * 4)
        offset += attentionPerThread * threads
        arena?.deallocate()
        scratch?.deallocate()
        arenaBytes = plan.arenaBytes
        scratchBytes = max(offset, 64)
        arena = UnsafeMutableRawPointer.allocate(byteCount: arenaBytes, alignment: 64)
        arena!.initializeMemory(as: UInt8.self, repeating: 0, count: arenaBytes)
        scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 64)
        scratch!.initializeMemory(as: UInt8.self, repeating: 0, count: scratchBytes)
        nodeSeconds = [Double](repeating: 0, count: graph.nodes.count)
        self.plan = plan
    }

    /// `tile`×`tile` tiles of a Winograd F(tile×tile, 3×3) tiling of `out` with this dilation (some may reach past
    /// its edges).
    static func winogradTiles(_ out: ValueShape, dilation: Int, tile: Int) -> Int {
        let (m, d) = (Int32(tile), Int32(dilation))
        return Int(ck_qwino_tile_rows(m, Int32(out.h), d)) * Int(ck_qwino_tile_rows(m, Int32(out.w), d))
    }

    /// Share of the outputs of a Winograd F(tile×tile, 3×3) tiling of `out` that lie inside it.
    static func winogradUtilisation(_ out: ValueShape, dilation: Int, tile: Int) -> Double {
        Double(out.h * out.w) / Double(max(1, tile * tile * winogradTiles(out, dilation: dilation, tile: tile)))
    }

    /// The Winograd tile size the plan gives `conv` with output `out`: 4 where allowed, its weights fit the F(4×4)
    /// range, the tiling keeps enough outputs inside and there are enough tiles; else 2 where the F(2×2) tiling
    /// keeps enough outputs inside; else nil (im2col + GEMM).
    private func winogradTile(_ conv: PreparedInt8Conv, _ out: ValueShape) -> Int? {
        guard conv.winograd != nil else { return nil }
        let d = conv.spec.dilation
        if int8WinogradLargestTile >= 4,
           FastInt8Executor.winogradUtilisation(out, dilation: d, tile: 4) >= FastInt8Executor.winogradMinimumUtilisation,
           FastInt8Executor.winogradTiles(out, dilation: d, tile: 4) >= FastInt8Executor.winogradLargeTileMinimumTiles,
           conv.winogradWeights(tile: 4) != nil {
            return 4
        }
        return FastInt8Executor.winogradUtilisation(out, dilation: d, tile: 2) >= FastInt8Executor.winogradMinimumUtilisation
            ? 2 : nil
    }

    private func int8BlockRows(_ conv: PreparedInt8Conv, _ out: ValueShape) -> Int {
        max(1, min(out.h, im2colBlockBytes / max(1, conv.k * out.w)))
    }

    private func floatChunkRows(_ conv: PreparedFloatConv, _ out: ValueShape) -> Int {
        conv.spec.isPointwise ? out.h : max(1, min(out.h, floatChunkFloats / max(1, conv.k * out.w)))
    }

    // MARK: execution

    private func floats(_ plan: FastInt8Plan, _ id: ValueID) -> UnsafeMutablePointer<Float>? {
        plan.floatOffsets[id].map { (arena! + $0).assumingMemoryBound(to: Float.self) }
    }

    private func bytes(_ plan: FastInt8Plan, _ id: ValueID) -> UnsafeMutablePointer<UInt8>? {
        plan.byteOffsets[id].map { (arena! + $0).assumingMemoryBound(to: UInt8.self) }
    }

    private func execute(plan: FastInt8Plan, input: UnsafePointer<Float>) {
        for step in plan.steps {
            let started = profiling ? DispatchTime.now().uptimeNanoseconds : 0
            let node = graph.nodes[step.node]
            let out = plan.shapes[step.node]!
            let yf = floats(plan, step.node), yq = bytes(plan, step.node)
            let fs = plan.floatStrides[step.node], bs = plan.byteStrides[step.node]
            let q = quantization[plan.byteQuantizationOf[step.node]]
            if let conv = step.fusedConv {
                guard case .add(let relu) = node.kind else { preconditionFailure("fused into a non-add") }
                convolve(node: graph.nodes[conv], plan: plan, residuals: node.inputs.dropFirst(),
                         reluAfter: relu, outFloat: yf, floatStride: fs, outBytes: yq, byteStride: bs, outQuantization: q)
            } else if case .conv = node.kind {
                convolve(node: node, plan: plan, residuals: node.inputs[0..<0], reluAfter: false, outFloat: yf,
                         floatStride: fs, outBytes: yq, byteStride: bs, outQuantization: q)
            } else if case .concat = node.kind {
                concat(node: node, plan: plan, output: yf, outBytes: yq, quantization: q)
            } else {
                let bytes = yq.flatMap { yq in q.map { NHWCOps.ByteOutput(bytes: yq, stride: bs, quantization: $0) } }
                let quantized = run(node: node, plan: plan, output: yf!, outStride: fs, shape: out, input: input,
                                    bytes: bytes)
                if !quantized, let yq, let q {
                    NHWCOps.quantize(yf!, floatStride: fs, yq, byteStride: bs, channels: out.c, plane: out.plane,
                                     quantization: q, threads: threads)
                }
            }
            if profiling { nodeSeconds[step.node] += Double(DispatchTime.now().uptimeNanoseconds - started) * 1e-9 }
            if let stepObserver { observe(stepObserver, node: node, plan: plan, floats: yf, bytes: yq, shape: out) }
        }
    }

    /// Shows a step's value to the observer. A value living in a concat's buffers is shown with its own shape: its
    /// floats copied out of the concat's buffer (and back, so an observer that replaces them is honoured), its uint8
    /// slice withheld (it uses the concat's quantization) and re-quantized from the observed floats.
    private func observe(_ observer: (Node, UnsafeMutablePointer<Float>?, UnsafeMutablePointer<UInt8>?, ValueShape) -> Void,
                         node: Node, plan: FastInt8Plan, floats: UnsafeMutablePointer<Float>?,
                         bytes: UnsafeMutablePointer<UInt8>?, shape: ValueShape) {
        guard let alias = plan.aliasedInto[node.id] else { return observer(node, floats, bytes, shape) }
        let fs = plan.floatStrides[node.id], c = shape.c
        guard let floats else { return observer(node, nil, nil, shape) }
        var copy = [Float](repeating: 0, count: shape.count)
        copy.withUnsafeMutableBufferPointer { buffer in
            let dense = buffer.baseAddress!
            for p in 0..<shape.plane { (dense + p * c).update(from: floats + p * fs, count: c) }
            observer(node, dense, nil, shape)
            for p in 0..<shape.plane { (floats + p * fs).update(from: dense + p * c, count: c) }
        }
        if let bytes, let q = quantization[alias.concat] {
            NHWCOps.quantize(floats, floatStride: fs, bytes, byteStride: plan.byteStrides[node.id], channels: c,
                             plane: shape.plane, quantization: q, threads: 1)
        }
    }

    /// A concat: the inputs that live in its buffers are already there; the others are copied into its float
    /// buffer and/or quantized into its uint8 buffer, channel slice by channel slice.
    private func concat(node: Node, plan: FastInt8Plan, output y: UnsafeMutablePointer<Float>?,
                        outBytes: UnsafeMutablePointer<UInt8>?, quantization q: ActivationQuantization?) {
        let out = plan.shapes[node.id]!
        var channel = 0
        for input in node.inputs {
            let c = plan.shapes[input]!.c
            defer { channel += c }
            if plan.aliasedInto[input]?.concat == node.id { continue }
            NHWCOps.copyChannels(UnsafePointer(floats(plan, input)!), channels: c, plane: out.plane,
                                 into: y.map { $0 + channel }, outBytes: outBytes.map { $0 + channel }, stride: out.c,
                                 quantization: q, threads: threads)
        }
    }

    /// Runs a float op into `y`; returns true when it also wrote its uint8 copy `bytes` (mul and upsample quantize
    /// each pixel while its floats are in cache), false when the caller still has to quantize.
    @discardableResult
    private func run(node: Node, plan: FastInt8Plan, output y: UnsafeMutablePointer<Float>, outStride: Int,
                     shape out: ValueShape, input: UnsafePointer<Float>, bytes: NHWCOps.ByteOutput?) -> Bool {
        let threads = self.threads
        func x(_ k: Int) -> UnsafeMutablePointer<Float> { floats(plan, node.inputs[k])! }
        func shape(_ k: Int) -> ValueShape { plan.shapes[node.inputs[k]]! }
        switch node.kind {
        case .input:
            NHWCOps.fromPlanar(input, y, channels: out.c, plane: out.plane, threads: threads)
        case .conv:
            preconditionFailure("convolutions run in convolve")
        case .maxPool(let k, let s, let p):
            NHWCOps.maxPool(kernel: k, stride: s, padding: p, channels: out.c, input: x(0), inH: shape(0).h,
                            inW: shape(0).w, output: y, outH: out.h, outW: out.w, threads: threads)
        case .add(let relu):
            sumFloats(node.inputs[...], plan: plan, into: y, count: out.count, relu: relu)
        case .mul:
            let gateNode = graph.nodes[node.inputs[1]]
            NHWCOps.mul(x(0), gate: x(1), y, channels: out.c, plane: out.plane, channelGate: gateNode.stride == 0,
                        outStride: outStride, bytes: bytes, threads: threads)
            return bytes != nil
        case .concat:
            preconditionFailure("concats run in concat")
        case .upsample:
            NHWCOps.upsampleAlignCorners(channels: out.c, input: x(0), rows: upsampleTables[SIMD2(shape(0).h, out.h)]!,
                                         columns: upsampleTables[SIMD2(shape(0).w, out.w)]!, inW: shape(0).w, output: y, outW: out.w,
                                         outStride: outStride, bytes: bytes, threads: threads)
            return bytes != nil
        case .globalAvgPool:
            NHWCOps.globalPool(max: false, channels: out.c, input: x(0), plane: shape(0).plane, output: y, threads: threads)
        case .globalMaxPool:
            NHWCOps.globalPool(max: true, channels: out.c, input: x(0), plane: shape(0).plane, output: y, threads: threads)
        case .channelMeanMax:
            NHWCOps.channelMeanMax(channels: shape(0).c, input: x(0), plane: shape(0).plane, output: y, threads: threads)
        case .sigmoid:
            let src = x(0), total = out.count
            parallelChunks((total + 4095) / 4096, threads: threads, state: (src, y, total)) { s, _, range in
                let (src, y, total) = s
                let begin = range.lowerBound * 4096, end = min(total, range.upperBound * 4096)
                ckf_sigmoid_portable(src + begin, y + begin, end - begin)
            }
        case .windowAttention(let heads, let k):
            // Values, logits and result stay NHWC (the CKernels NHWC attention); each thread has its own band scratch.
            var args = ckf_attention_args()
            args.heads = Int32(heads); args.window = Int32(k); args.channels = Int32(out.c)
            args.height = Int32(out.h); args.width = Int32(out.w)
            args.values = UnsafePointer(x(0))
            args.logits = UnsafePointer(x(1))
            args.output = y
            args.scale = Float(1.0 / Double(out.c / heads).squareRoot())
            let threadScratch = scratch! + attentionOffset
            parallelChunks(out.h, threads: threads, state: (args, threadScratch, attentionPerThread)) { s, chunk, rows in
                var local = s.0
                _ = ckf_window_attention_nhwc_portable(&local, Int32(rows.lowerBound), Int32(rows.upperBound),
                                                       (s.1 + chunk * s.2).assumingMemoryBound(to: Float.self))
            }
        }
        return false
    }

    /// The float residual of a fused add: the single other operand, or the sum of several (in scratch).
    private func residual(_ ids: ArraySlice<ValueID>, plan: FastInt8Plan, count: Int) -> UnsafeMutablePointer<Float>? {
        if ids.isEmpty { return nil }
        if ids.count == 1 { return floats(plan, ids.first!)! }
        let sum = (scratch! + residualOffset).assumingMemoryBound(to: Float.self)
        sumFloats(ids, plan: plan, into: sum, count: count, relu: false)
        return sum
    }

    /// y = Σ values `ids` (in order), then ReLU if asked; no allocation (pointer table on the stack).
    private func sumFloats(_ ids: ArraySlice<ValueID>, plan: FastInt8Plan, into y: UnsafeMutablePointer<Float>,
                           count: Int, relu: Bool) {
        withUnsafeTemporaryAllocation(of: UnsafePointer<Float>?.self, capacity: ids.count) { table in
            for (k, id) in ids.enumerated() { table[k] = UnsafePointer(floats(plan, id)!) }
            sumElementwise(UnsafeBufferPointer(table), into: y, count: count, relu: relu, threads: threads)
        }
    }

    /// One convolution (with the residual of a fused add), writing its float and/or uint8 NHWC outputs.
    private func convolve(node: Node, plan: FastInt8Plan, residuals: ArraySlice<ValueID>, reluAfter: Bool,
                          outFloat: UnsafeMutablePointer<Float>?, floatStride: Int,
                          outBytes: UnsafeMutablePointer<UInt8>?, byteStride: Int,
                          outQuantization: ActivationQuantization?) {
        let out = plan.shapes[node.id]!, inShape = plan.shapes[node.inputs[0]]!
        precondition(outBytes == nil || outQuantization != nil, "uint8 output of \(node.name) without a quantization")
        guard case .conv(let spec) = node.kind else { preconditionFailure("\(node.name) is not a convolution") }
        let output = ConvOutput(residual: residual(residuals, plan: plan, count: out.count), relu: spec.relu || reluAfter,
                                float: outFloat, floatStride: floatStride, bytes: outBytes, byteStride: byteStride,
                                quantization: outQuantization)
        if let conv = int8Convs[node.id] {
            convolveInt8(conv, nodeID: node.id, input: bytes(plan, node.inputs[0])!, inShape: inShape, out: out,
                         output: output)
        } else {
            convolveFloat(floatConvs[node.id]!, input: floats(plan, node.inputs[0])!, inShape: inShape, out: out,
                          output: output)
        }
    }

    private func convolveInt8(_ conv: PreparedInt8Conv, nodeID: ValueID, input: UnsafeMutablePointer<UInt8>, inShape: ValueShape,
                              out: ValueShape, output: ConvOutput) {
        precondition(output.float == nil || output.bytes == nil || output.floatStride == output.byteStride,
                     "the float and uint8 outputs of \(conv.spec.weight) have different strides")
        let job = Int8ConvJob(conv: conv, blockRows: int8BlockRows(conv, out), scratch: scratch!,
                              perThread: im2colBytesPerThread, input: input, inShape: inShape, out: out, output: output)
        if let tile = int8WinogradTile(nodeID) {
            let tileRows = Int(ck_qwino_tile_rows(Int32(tile), Int32(out.h), Int32(conv.spec.dilation)))
            parallelChunks(tileRows, threads: threads, state: job) { job, chunk, rows in
                job.runWinograd(tile: tile, chunk: chunk, tileRows: rows)
            }
        } else {
            parallelChunks(out.h, threads: threads, state: job) { job, chunk, rows in job.run(chunk: chunk, rows: rows) }
        }
    }

    private func convolveFloat(_ conv: PreparedFloatConv, input: UnsafeMutablePointer<Float>, inShape: ValueShape,
                               out: ValueShape, output: ConvOutput) {
        let spec = conv.spec, cout = spec.outChannels, k = conv.k
        let direct = spec.isPointwise
        let (residual, relu, outFloat, outBytes, q) = (output.residual, output.relu, output.float, output.bytes,
                                                       output.quantization)
        let (floatStride, byteStride) = (output.floatStride, output.byteStride)
        if cout <= Int(CKF_DIRECT_MAX_N) && !direct {
            // Few output channels with a spatial kernel (the 7×7 spatial attention): straight from the NHWC input,
            // 8 output pixels per vector, the same bits as im2col + the fixed-order GEMM without the 16-channel
            // panel. (A 1×1 one stays a GEMM on its input: its gathers would read 8 pixels' rows per channel.)
            conv.packed.withUnsafeBufferPointer { weights in
                conv.bias.withUnsafeBufferPointer { bias in
                    var args = ckf_direct_args()
                    args.x = UnsafePointer(input); args.in_h = Int32(inShape.h); args.in_w = Int32(inShape.w)
                    args.channels = Int32(spec.inChannels); args.kernel = Int32(spec.kernel)
                    args.stride = Int32(spec.stride); args.padding = Int32(spec.padding); args.dilation = Int32(spec.dilation)
                    args.out_w = Int32(out.w); args.packed = weights.baseAddress; args.n = Int32(cout)
                    args.bias = bias.baseAddress
                    args.residual = residual.map { UnsafePointer($0) }; args.ld_residual = cout
                    args.relu = relu ? 1 : 0
                    args.c = outFloat; args.ldc = floatStride
                    args.out_u8 = outBytes; args.ld_u8 = byteStride
                    args.out_inv_scale = q.map { 1 / $0.scale } ?? 1; args.out_zero_point = q?.zeroPoint ?? 0
                    parallelChunks(out.h, threads: self.threads, state: args) { args, _, rows in
                        var args = args
                        let status = ckf_conv_direct_nhwc(&args, Int32(rows.lowerBound), Int32(rows.upperBound))
                        precondition(status == 0, "ckf_conv_direct_nhwc rejected its arguments")
                    }
                }
            }
            return
        }
        let gemmOutPerThread = self.gemmOutPerThread
        let rows = floatChunkRows(conv, out)
        let columns = (scratch! + floatColumnsOffset).assumingMemoryBound(to: Float.self)
        let gemmScratch = (scratch! + gemmOutOffset).assumingMemoryBound(to: Float.self)
        let threads = self.threads
        conv.packed.withUnsafeBufferPointer { weights in
            conv.bias.withUnsafeBufferPointer { biasBuffer in
                let w = weights.baseAddress!, bias = biasBuffer.baseAddress!
                var oy0 = 0
                while oy0 < out.h {
                    let count = min(rows, out.h - oy0)
                    let m0 = oy0 * out.w, m = count * out.w
                    let a: UnsafePointer<Float>
                    if direct {
                        a = UnsafePointer(input + m0 * inShape.c)
                    } else {
                        let first = oy0
                        parallelChunks(count, threads: threads, state: (spec, input, inShape, out.w, first, columns)) { s, _, range in
                            let (spec, input, inShape, outW, first, columns) = s
                            NHWCOps.im2col(spec, input: input, inH: inShape.h, inW: inShape.w, outW: outW,
                                           rows: (first + range.lowerBound)..<(first + range.upperBound),
                                           firstRow: first, columns: columns)
                        }
                        a = UnsafePointer(columns)
                    }
                    // C[m][n] = Σ_k A[m][k] · W[n][k], k in increasing order with one fused multiply-add per step,
                    // then c + bias, + residual, ReLU and the quantization, per block of pixels while it is in cache
                    // (ckf_conv_fixed): the same bits on every CPU and thread count.
                    var args = ckf_conv_args()
                    args.a = a; args.lda = direct ? inShape.c : k; args.packed = w
                    args.n = Int32(cout); args.k = Int32(k); args.bias = bias
                    args.residual = residual.map { UnsafePointer($0 + m0 * cout) }; args.ld_residual = cout
                    args.relu = relu ? 1 : 0
                    args.c = outFloat.map { $0 + m0 * floatStride }; args.ldc = floatStride
                    args.out_u8 = outBytes.map { $0 + m0 * byteStride }; args.ld_u8 = byteStride
                    args.out_inv_scale = q.map { 1 / $0.scale } ?? 1; args.out_zero_point = q?.zeroPoint ?? 0
                    let job = FloatConvJob(args: args, scratch: gemmScratch, perThread: gemmOutPerThread)
                    parallelChunks(m, threads: threads, state: job) { job, chunk, pixels in job.run(chunk: chunk, pixels) }
                    oy0 += count
                }
            }
        }
    }
}

/// One chunk of a float-fallback convolution (ckf_conv_fixed on its pixels), with its thread's block scratch for a
/// convolution that has no float output.
private struct FloatConvJob {
    let args: ckf_conv_args
    let scratch: UnsafeMutablePointer<Float>, perThread: Int

    func run(chunk: Int, _ pixels: Range<Int>) {
        var args = self.args
        let status = ckf_conv_fixed(&args, Int32(pixels.lowerBound), Int32(pixels.upperBound),
                                    scratch + chunk * perThread)
        precondition(status == 0, "ckf_conv_fixed rejected its arguments")
    }
}

/// What a convolution's epilogue adds and where it writes: the float residual of a fused add, ReLU, the float32
/// and/or uint8 NHWC outputs with their pixel strides (wider than the channels inside a concat's buffer) and the
/// uint8 output's quantization.
private struct ConvOutput {
    let residual: UnsafeMutablePointer<Float>?, relu: Bool
    let float: UnsafeMutablePointer<Float>?, floatStride: Int
    let bytes: UnsafeMutablePointer<UInt8>?, byteStride: Int
    let quantization: ActivationQuantization?
}

/// The work of one int8 convolution, split by output rows (`parallelChunks(_:threads:state:_:)`: nothing is
/// allocated per call). Each thread im2cols its rows in blocks into its own scratch and runs the GEMM with the fused
/// epilogue.
private struct Int8ConvJob {
    let conv: PreparedInt8Conv, blockRows: Int
    let scratch: UnsafeMutableRawPointer, perThread: Int
    let input: UnsafeMutablePointer<UInt8>, inShape: ValueShape, out: ValueShape
    let output: ConvOutput

    /// Points `a`'s residual and outputs at output row (pixel) `m0` and sets the requantization.
    private func setOutputs(_ a: inout ck_qgemm_args, from m0: Int) {
        let cout = conv.spec.outChannels
        if let residual = output.residual { a.residual_f32 = UnsafePointer(residual + m0 * cout); a.ld_residual = cout }
        // One row stride for both outputs: they are both the value's own buffers or both the concat's.
        let ldc = output.float != nil ? output.floatStride : output.bytes != nil ? output.byteStride : cout
        if let outFloat = output.float { a.out_f32 = outFloat + m0 * ldc }
        if let outBytes = output.bytes, let q = output.quantization {
            a.out_u8 = outBytes + m0 * ldc
            a.out_inv_scale = 1 / q.scale
            a.out_zero_point = q.zeroPoint
        }
        a.ldc = ldc
    }

    /// Tile rows `tileRows` of the Winograd form with `tile`×`tile` output tiles (whole output rows, disjoint
    /// between chunks).
    func runWinograd(tile: Int, chunk: Int, tileRows: Range<Int>) {
        var whole = conv.gemmArguments(m: out.h * out.w, a: UnsafePointer(input), lda: conv.k, relu: output.relu)
        setOutputs(&whole, from: 0)
        withUnsafePointer(to: whole) { epilogue in
            var w = conv.winogradArguments(tile: tile, input: UnsafePointer(input), inShape: inShape, out: out,
                                           epilogue: epilogue)!
            let status = ck_qwino_u8s8(&w, Int32(tileRows.lowerBound), Int32(tileRows.upperBound), scratch + chunk * perThread)
            precondition(status == 0, "ck_qwino_u8s8 rejected the arguments of \(conv.spec.weight)")
        }
    }

    func run(chunk: Int, rows: Range<Int>) {
        let k = conv.k, direct = conv.spec.isPointwise
        let columns = (scratch + chunk * perThread).assumingMemoryBound(to: UInt8.self)
        var oy0 = rows.lowerBound
        while oy0 < rows.upperBound {
            let count = direct ? rows.upperBound - oy0 : min(blockRows, rows.upperBound - oy0)
            let m0 = oy0 * out.w, m = count * out.w
            var a: ck_qgemm_args
            if direct {
                a = conv.gemmArguments(m: m, a: UnsafePointer(input + m0 * inShape.c), lda: inShape.c, relu: output.relu)
            } else {
                var im = conv.im2colArguments(input: UnsafePointer(input), inShape: inShape, outWidth: out.w, rows: columns)
                ck_im2col_u8_nhwc(&im, Int32(oy0), Int32(oy0 + count))
                a = conv.gemmArguments(m: m, a: UnsafePointer(columns), lda: k, relu: output.relu)
            }
            setOutputs(&a, from: m0)
            let status = ck_qgemm_u8s8(&a, 0, a.M)
            precondition(status == 0, "ck_qgemm_u8s8 rejected the arguments of \(conv.spec.weight)")
            oy0 += count
        }
    }
}
