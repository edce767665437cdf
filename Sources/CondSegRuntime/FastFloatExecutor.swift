// FastFloatExecutor.swift — the optimised float32 executor: walks the same Graph as the reference (no second copy
// of the forward pass) with a schedule and memory plan of its own (FastFloatPlan: convolution+add fusion, concat
// in place), 3×3 stride-1 convolutions (dilated ones too) by Winograd F(4×4, 3×3) (CKernels ckf_winograd_*:
// input transform into the per-point GEMMs' layout, one sgemm per transform point, output transform fused with the
// epilogue), the other convolutions as OpenBLAS sgemm over L2-sized im2col chunks (1×1 stride-1 ones as a plain
// GEMM on the input) with bias, residual additions and ReLU applied to each chunk while it is in cache
// (ckf_conv_epilogue). Every GEMM runs single-threaded inside our own worker threads (each thread its own rows,
// columns or tiles): OpenBLAS's own threads, spinning between calls, competed with ours for the two cores and
// cost a third more CPU per frame at 2 threads. And the CKernels float kernels (AVX2+FMA or portable C, chosen at run time) for the window attention, sigmoid
// and elementwise ops. After the first frame of a size, a frame allocates nothing: arena and scratch are made once.
// Checked op by op against the reference in Tests/CondSegRuntimeTests/FastFloatExecutorTests.swift.

import CKernels
import COpenBLAS
import CondSegCore
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a ConDSeg graph in float32, batch 1 per call, faster than `ReferenceExecutor` (and within the tolerances
/// the tests derive from it, not bit-identical).
public final class FastFloatExecutor: FloatGraphExecutor, @unchecked Sendable {
    public let setup: ExecutorSetup
    let folded: [FoldedConv?]
    private var plan: FastFloatPlan?
    private var arena: UnsafeMutablePointer<Float>?
    private var arenaCount = 0
    private var scratch: UnsafeMutablePointer<Float>?
    private var scratchCount = 0
    private var attentionScratchPerThread = 0
    private var im2colFloatsPerThread = 0
    private var pointerTable: UnsafeMutablePointer<UnsafePointer<Float>?>
    private let pointerTableCount = 64
    /// Floats of im2col columns per chunk: the chunk's columns and output stay in the L2 cache for the epilogue.
    public var im2colChunkFloats = 1 << 18
    /// Output tile side of the Winograd 3×3 convolutions: 4 (F(4×4, 3×3)), 6 (F(6×6, 3×3)) or 0 (none: every
    /// convolution by im2col and sgemm). 4 is the default by measurement: on the default model it took less time
    /// per frame than 6 (whose 8×8 tiles cost more to transform and fit 128-pixel rows badly) and its error is
    /// about half of 6's (error bound 37× the direct sum's against 81×; docs/architecture.md). Takes effect at the next `prepare`. The environment variable
    /// `CONDSEG_WINOGRAD` (0, 4 or 6) sets the starting value, so that the command line can measure the choices.
    public var winogradTile = FastFloatExecutor.defaultWinogradTile
    /// Tiles per Winograd block (one input transform, the per-point GEMMs and one output transform).
    public var winogradBlockTiles = 64
    /// Winograd plan of each convolution that runs that way (node id → setup), for the current plan.
    private var winograd: [ValueID: ckf_winograd_conv] = [:]
    /// Transformed weights by node id and tile side (they do not depend on the input size).
    private var winogradWeights: [ValueID: (m: Int, v: [Float])] = [:]
    private var winogradScratch: UnsafeMutablePointer<Float>?
    private var winogradScratchPerThread = 0
    /// When true, `nodeSeconds` accumulates the wall time of every step across runs (for `bench --profile`);
    /// a fused convolution's time is counted on the add it was fused into.
    public var profiling = false
    /// Seconds spent in each step, indexed by the id of the node the step writes.
    public private(set) var nodeSeconds: [Double] = []
    /// Called after every step with the value it wrote (tests compare it with the reference and may overwrite it).
    public var stepObserver: ((Node, UnsafeMutablePointer<Float>, ValueShape) -> Void)?

    /// An executor over `graph` with BatchNorm-folded convolutions `folded` (indexed by node id).
    public init(graph: Graph, folded: [FoldedConv?], config: ModelConfig, threads: Int, keepTaps: Bool = false) throws {
        setup = ExecutorSetup(graph: graph, config: config, threads: threads, keepTaps: keepTaps)
        self.folded = folded
        for node in graph.nodes {
            if case .conv = node.kind, folded.count <= node.id || folded[node.id] == nil {
                throw ExecutionError("convolution \(node.name) has no folded weights")
            }
            if node.inputs.count > pointerTableCount {
                throw ExecutionError("\(node.name) has \(node.inputs.count) inputs (at most \(pointerTableCount))")
            }
        }
        pointerTable = .allocate(capacity: pointerTableCount)
    }

    deinit {
        arena.map { UnsafeMutableRawPointer($0).deallocate() }
        scratch.map { UnsafeMutableRawPointer($0).deallocate() }
        winogradScratch.map { UnsafeMutableRawPointer($0).deallocate() }
        pointerTable.deallocate()
    }

    /// 4, or the value of `CONDSEG_WINOGRAD` when it is 0, 4 or 6.
    static var defaultWinogradTile: Int {
        guard let text = getenv("CONDSEG_WINOGRAD"), let value = Int(String(cString: text)), [0, 4, 6].contains(value)
        else { return 4 }
        return value
    }

    public var plannedSize: (height: Int, width: Int)? { plan.map { ($0.height, $0.width) } }

    public func execute(input: UnsafePointer<Float>) {
        // Every sgemm runs on one of our threads (each its own columns or tiles): OpenBLAS threads of its own
        // would compete with them for the cores.
        openblas_set_num_threads(1)
        execute(plan: plan!, input: input)
    }

    /// Peak activation and scratch memory of the current plan, in bytes.
    public var plannedBytes: Int { (arenaCount + scratchCount) * MemoryLayout<Float>.size }

    /// Convolutions computed inside the add that reads them (they have no value of their own) in the current plan.
    public var fusedConvolutionIDs: Set<ValueID> { plan?.fusedConvolutions ?? [] }

    /// Convolutions the current plan computes by Winograd, with their output tile side m (F(m×m, 3×3)).
    public var winogradConvolutions: [ValueID: Int] { winograd.mapValues { Int($0.m) } }

    public func value(_ id: ValueID) -> [Float] {
        guard let plan, let arena, let shape = plan.shapes[id], let offset = plan.offsets[id] else { return [] }
        return Array(UnsafeBufferPointer(start: arena + offset, count: shape.count))
    }

    public func shape(_ id: ValueID) -> ValueShape? { plan?.shapes[id] }

    /// Makes the plan and allocates arena and scratch for one input size (the first run of a size does this).
    public func prepare(height: Int, width: Int) {
        let plan = FastFloatPlan(graph: graph, height: height, width: width, targets: setup.targets, pinned: setup.pinned)
        var im2colFloats = 0, attentionFloats = 0, winogradFloats = 0
        winograd = [:]
        for step in plan.steps {
            let node = graph.nodes[step.fusedConv ?? step.node]
            let out = plan.shapes[node.id]!
            switch node.kind {
            case .conv(let spec) where !spec.isPointwise:
                if let w = winogradSetup(spec, input: plan.shapes[node.inputs[0]]!, output: out) {
                    winograd[node.id] = w
                    if winogradWeights[node.id]?.m != winogradTile {
                        var v = [Float](repeating: 0, count: Int(ckf_winograd_points(Int32(winogradTile))) * spec.outChannels * spec.inChannels)
                        folded[node.id]!.weights.withUnsafeBufferPointer { weights in
                            ckf_winograd_weights(Int32(winogradTile), Int32(spec.outChannels), Int32(spec.inChannels),
                                                 weights.baseAddress!, &v)
                        }
                        winogradWeights[node.id] = (winogradTile, v)
                    }
                    let tiles = winogradBlockSize(w).tiles
                    let points = Int(ckf_winograd_points(w.m))
                    let floats = points * (spec.inChannels + spec.outChannels) * tiles
                    winogradFloats = max(winogradFloats, floats, ((winogradSharedTiles(w) ?? 0) * floats / tiles + threads - 1) / threads)
                    continue
                }
                let kk = spec.inChannels * spec.kernel * spec.kernel
                im2colFloats = max(im2colFloats, kk * rowsPerChunk(spec, out) * out.w,
                                   splitsChannels(spec, out) ? (kk * out.plane + threads - 1) / threads : 0)
            case .windowAttention(let heads, let k):
                var args = ckf_attention_args()
                args.heads = Int32(heads); args.window = Int32(k); args.width = Int32(out.w)
                attentionFloats = max(attentionFloats, ckf_window_attention_scratch(&args))
            default: break
            }
        }
        attentionScratchPerThread = (attentionFloats + 15) & ~15
        im2colFloatsPerThread = (im2colFloats + 15) & ~15
        arena.map { UnsafeMutableRawPointer($0).deallocate() }
        scratch.map { UnsafeMutableRawPointer($0).deallocate() }
        arenaCount = plan.arenaCount
        scratchCount = max(im2colFloatsPerThread * threads, attentionScratchPerThread * threads, 16)
        arena = Self.allocateFloats(arenaCount)
        scratch = Self.allocateFloats(scratchCount)
        winogradScratch.map { UnsafeMutableRawPointer($0).deallocate() }
        winogradScratchPerThread = (winogradFloats + 15) & ~15
        winogradScratch = winogradFloats > 0 ? Self.allocateFloats(winogradScratchPerThread * threads) : nil
        nodeSeconds = [Double](repeating: 0, count: graph.nodes.count)
        self.plan = plan
    }

    private static func allocateFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.size, alignment: 64)
        return raw.initializeMemory(as: Float.self, repeating: 0, count: count)
    }

    /// The Winograd setup of a convolution when it should run that way: 3×3, stride 1, at least 8 channels in and
    /// out, and at most 0.6 of im2col's multiplications once the tiles' overhang is counted (a dilation close to
    /// the image size leaves mostly empty tiles).
    private func winogradSetup(_ spec: ConvSpec, input: ValueShape, output: ValueShape) -> ckf_winograd_conv? {
        guard winogradTile == 4 || winogradTile == 6, spec.kernel == 3, spec.stride == 1, !spec.isLinear,
              spec.inChannels >= 8, spec.outChannels >= 8 else { return nil }
        var w = ckf_winograd_conv()
        guard ckf_winograd_setup(&w, Int32(winogradTile), Int32(spec.inChannels), Int32(spec.outChannels),
                                 Int32(input.h), Int32(input.w), Int32(spec.padding), Int32(spec.dilation)) == 1,
              Int(w.out_h) == output.h, Int(w.out_w) == output.w else { return nil }
        let products = ckf_winograd_tile_count(&w) * Int(ckf_winograd_points(w.m))
        return Double(products) <= 0.6 * Double(9 * output.plane) ? w : nil
    }

    /// Blocks of a Winograd convolution: a multiple of the thread count, each of `tiles` tiles (a multiple of 8).
    private func winogradBlockSize(_ w: ckf_winograd_conv) -> (blocks: Int, tiles: Int) {
        var v = w
        let total = ckf_winograd_tile_count(&v)
        var blocks = max(1, (total + winogradBlockTiles - 1) / winogradBlockTiles)
        blocks = (blocks + threads - 1) / threads * threads
        let tiles = ((total + blocks - 1) / blocks + 7) & ~7
        return ((total + tiles - 1) / tiles, tiles)
    }

    private func rowsPerChunk(_ spec: ConvSpec, _ out: ValueShape) -> Int {
        let kk = spec.inChannels * spec.kernel * spec.kernel
        return max(1, min(out.h, im2colChunkFloats / max(1, kk * out.w)))
    }

    /// Tiles (a multiple of 8) of the one block that all threads share for a Winograd convolution with at most
    /// `winogradBlockTiles` tiles per thread, nil for one that is split into blocks per thread. On one thread it is
    /// the block the per-thread scheme makes too (at most `winogradBlockTiles` tiles: one block), so the products
    /// are the same whatever the thread count. Split per thread, such a convolution gave each thread a few tiles
    /// and its own copy of the weights to pack for every GEMM (16×16 maps: 8 tiles per thread, no faster on two
    /// threads than on one); shared, the GEMMs keep all the tiles and the threads split the transform points.
    private func winogradSharedTiles(_ w: ckf_winograd_conv) -> Int? {
        var v = w
        let total = ckf_winograd_tile_count(&v)
        return total <= winogradBlockTiles * threads ? (total + 7) & ~7 : nil
    }

    /// Whether a convolution run by GEMM (not Winograd) splits its output channels among the threads rather than
    /// its pixels: when all its pixels' columns fit one L2-sized chunk, so that one thread makes a single GEMM of
    /// them. Split by pixels, each thread packed all the weights for a few columns (a 16×16 map: 128 columns per
    /// thread against 256 channels × 1152); split by channels, each packs its own rows and keeps all columns.
    private func splitsChannels(_ spec: ConvSpec, _ out: ValueShape) -> Bool {
        threads > 1 && spec.inChannels * spec.kernel * spec.kernel * out.plane <= im2colChunkFloats
    }

    // MARK: execution

    private func execute(plan: FastFloatPlan, input: UnsafePointer<Float>) {
        let arena = self.arena!
        for step in plan.steps {
            let started = profiling ? DispatchTime.now().uptimeNanoseconds : 0
            let node = graph.nodes[step.node]
            let out = plan.shapes[step.node]!
            let y = arena + plan.offsets[step.node]!
            if let conv = step.fusedConv {
                // y = conv(x) + inputs[1] + … (then ReLU if the add has it).
                let residuals = node.inputs.count - 1
                for k in 0..<residuals { pointerTable[k] = UnsafePointer(arena + plan.offsets[node.inputs[k + 1]]!) }
                guard case .add(let relu) = node.kind else { preconditionFailure("fused into a non-add") }
                let convNode = graph.nodes[conv]
                convolve(node: convNode, plan: plan, output: y, residualCount: residuals, reluAfter: relu)
            } else {
                run(node: node, plan: plan, output: y, shape: out, input: input)
            }
            if profiling { nodeSeconds[step.node] += Double(DispatchTime.now().uptimeNanoseconds - started) * 1e-9 }
            stepObserver?(node, y, out)
        }
    }

    private func pointer(_ plan: FastFloatPlan, _ id: ValueID) -> UnsafeMutablePointer<Float> {
        arena! + plan.offsets[id]!
    }

    private func run(node: Node, plan: FastFloatPlan, output y: UnsafeMutablePointer<Float>, shape out: ValueShape,
                     input: UnsafePointer<Float>) {
        let threads = self.threads
        switch node.kind {
        case .input:
            y.update(from: input, count: out.count)
        case .conv:
            convolve(node: node, plan: plan, output: y, residualCount: 0, reluAfter: false)
        case .maxPool(let k, let s, let p):
            let x = plan.shapes[node.inputs[0]]!
            ReferenceOps.maxPool(kernel: k, stride: s, padding: p, channels: out.c, input: pointer(plan, node.inputs[0]),
                                 inH: x.h, inW: x.w, output: y, outH: out.h, outW: out.w, threads: threads)
        case .add(let relu):
            for (k, id) in node.inputs.enumerated() { pointerTable[k] = UnsafePointer(pointer(plan, id)) }
            sumElementwise(UnsafeBufferPointer(start: pointerTable, count: node.inputs.count), into: y,
                           count: out.count, relu: relu, threads: threads)
        case .mul:
            let x = pointer(plan, node.inputs[0]), gate = pointer(plan, node.inputs[1])
            let spatial = plan.shapes[node.inputs[1]]!.c == 1   // N×1×H×W (spatial) or N×C×1×1 (channel), as the reference
            parallelChunks(out.c, threads: threads) { range in
                let offset = range.lowerBound * out.plane
                if spatial {
                    ckf_mul_spatial_gate(y + offset, x + offset, gate, Int32(range.count), out.plane)
                } else {
                    ckf_mul_channel_gate(y + offset, x + offset, gate + range.lowerBound, Int32(range.count), out.plane)
                }
            }
        case .concat:
            let inPlace = plan.concatInPlace[node.id]!
            var offset = 0
            for (k, id) in node.inputs.enumerated() {
                let count = plan.shapes[id]!.count
                if !inPlace[k] { (y + offset).update(from: pointer(plan, id), count: count) }
                offset += count
            }
        case .upsample:
            let x = plan.shapes[node.inputs[0]]!
            ReferenceOps.upsampleAlignCorners(channels: out.c, input: pointer(plan, node.inputs[0]), inH: x.h, inW: x.w,
                                              output: y, outH: out.h, outW: out.w, threads: threads)
        case .globalAvgPool, .globalMaxPool:
            // Channels split among the threads: each channel is the reference's own loop, so the bits are its.
            let useMax: Bool
            if case .globalMaxPool = node.kind { useMax = true } else { useMax = false }
            let x = pointer(plan, node.inputs[0]), plane = plan.shapes[node.inputs[0]]!.plane
            parallelChunks(out.c, threads: threads) { range in
                ReferenceOps.globalPool(max: useMax, channels: range.count, input: x + range.lowerBound * plane,
                                        plane: plane, output: y + range.lowerBound)
            }
        case .channelMeanMax:
            // Pixels split among the threads, each summed and maxed over the channels in the reference's order.
            let shape = plan.shapes[node.inputs[0]]!, x = pointer(plan, node.inputs[0])
            let plane = shape.plane, channels = shape.c
            parallelChunks((plane + 1023) / 1024, threads: threads) { range in
                let begin = range.lowerBound * 1024, end = min(plane, range.upperBound * 1024)
                let mean = y, mx = y + plane
                for i in begin..<end { mean[i] = 0; mx[i] = -Float.infinity }
                for c in 0..<channels {
                    let src = x + c * plane
                    for i in begin..<end {
                        mean[i] += src[i]
                        mx[i] = max(mx[i], src[i])
                    }
                }
                let count = Float(channels)
                for i in begin..<end { mean[i] /= count }
            }
        case .sigmoid:
            let x = pointer(plan, node.inputs[0]), total = out.count
            parallelChunks((total + 4095) / 4096, threads: threads) { range in
                let begin = range.lowerBound * 4096, end = min(total, range.upperBound * 4096)
                ckf_sigmoid(x + begin, y + begin, end - begin)
            }
        case .windowAttention(let heads, let k):
            var args = ckf_attention_args()
            args.heads = Int32(heads); args.window = Int32(k); args.channels = Int32(out.c)
            args.height = Int32(out.h); args.width = Int32(out.w)
            args.values = UnsafePointer(pointer(plan, node.inputs[0]))
            args.logits = UnsafePointer(pointer(plan, node.inputs[1]))
            args.output = y
            args.scale = Float(1.0 / Double(out.c / heads).squareRoot())
            let scratch = self.scratch!, perThread = attentionScratchPerThread
            parallelChunksIndexed(out.h, threads: threads) { chunk, rows in
                var local = args
                _ = ckf_window_attention(&local, Int32(rows.lowerBound), Int32(rows.upperBound), scratch + chunk * perThread)
            }
        }
    }

    /// Convolution of `node` into `y`, adding the first `residualCount` pointers of `pointerTable` and applying
    /// ReLU after them when `reluAfter` (the convolution's own ReLU is applied when its spec has one).
    private func convolve(node: Node, plan: FastFloatPlan, output y: UnsafeMutablePointer<Float>,
                          residualCount: Int, reluAfter: Bool) {
        guard case .conv(let spec) = node.kind else { return }
        let f = folded[node.id]!
        let x = pointer(plan, node.inputs[0])
        let inShape = plan.shapes[node.inputs[0]]!, out = plan.shapes[node.id]!
        let relu: Int32 = (spec.relu || reluAfter) ? 1 : 0
        let cout = spec.outChannels, plane = out.plane, threads = self.threads
        let residuals = UnsafePointer(pointerTable)
        let residualCount32 = Int32(residualCount)
        if var w = winograd[node.id] {
            winogradConvolve(&w, node: node, x: x, y: y, relu: relu, residualCount: residualCount)
            return
        }
        let cin = spec.inChannels, scratch = self.scratch!, perThread = im2colFloatsPerThread
        f.weights.withUnsafeBufferPointer { weights in
            f.bias.withUnsafeBufferPointer { bias in
                let w = weights.baseAddress!, b = bias.baseAddress!
                if splitsChannels(spec, out) {
                    // Small map: the columns once (im2col rows split among the threads; a 1×1 stride-1
                    // convolution reads its input as they are), then blocks of 16 output channels split among the
                    // threads, each one GEMM over all the pixels and the epilogue on its channels.
                    var columns = UnsafePointer(x)
                    if !spec.isPointwise {
                        let shared = scratch
                        parallelChunks(out.h, threads: threads) { rows in
                            ckf_im2col(x, Int32(inShape.h), Int32(inShape.w), Int32(spec.kernel), Int32(spec.stride),
                                       Int32(spec.padding), Int32(spec.dilation), Int32(out.w), Int32(rows.lowerBound),
                                       Int32(rows.count), 0, Int32(cin), shared + rows.lowerBound * out.w, plane)
                        }
                        columns = UnsafePointer(shared)
                    }
                    let kk = cin * spec.kernel * spec.kernel
                    parallelChunks((cout + 15) / 16, threads: threads) { range in
                        let o0 = range.lowerBound * 16, count = min(cout, range.upperBound * 16) - o0
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(count), Int32(plane), Int32(kk),
                                    1, w + o0 * kk, Int32(kk), columns, Int32(plane), 0, y + o0 * plane, Int32(plane))
                        withUnsafeTemporaryAllocation(of: UnsafePointer<Float>?.self, capacity: max(1, residualCount)) { shifted in
                            for k in 0..<residualCount { shifted[k] = residuals[k]! + o0 * plane }
                            ckf_conv_epilogue(y + o0 * plane, plane, Int32(count), 0, plane, b + o0,
                                              UnsafePointer(shifted.baseAddress!), residualCount32, relu)
                        }
                    }
                    return
                }
                if spec.isPointwise {
                    // Blocks of 64 pixels split among the threads: each multiplies its own columns and applies the
                    // epilogue to them while they are in cache.
                    parallelChunks((plane + 63) / 64, threads: threads) { range in
                        let begin = range.lowerBound * 64, end = min(plane, range.upperBound * 64)
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(cout), Int32(end - begin), Int32(cin),
                                    1, w, Int32(cin), x + begin, Int32(plane), 0, y + begin, Int32(plane))
                        ckf_conv_epilogue(y, plane, Int32(cout), begin, end - begin, b, residuals, residualCount32, relu)
                    }
                    return
                }
                // Output rows split among the threads; each works through its rows in L2-sized chunks with its own
                // im2col scratch: im2col, sgemm, epilogue.
                let kk = cin * spec.kernel * spec.kernel
                let rows = rowsPerChunk(spec, out)
                parallelChunksIndexed(out.h, threads: threads) { chunk, range in
                    let columns = scratch + chunk * perThread
                    var oy0 = range.lowerBound
                    while oy0 < range.upperBound {
                        let count = min(rows, range.upperBound - oy0)
                        ckf_im2col(x, Int32(inShape.h), Int32(inShape.w), Int32(spec.kernel), Int32(spec.stride),
                                   Int32(spec.padding), Int32(spec.dilation), Int32(out.w), Int32(oy0), Int32(count),
                                   0, Int32(cin), columns, count * out.w)
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(cout), Int32(count * out.w), Int32(kk),
                                    1, w, Int32(kk), columns, Int32(count * out.w), 0, y + oy0 * out.w, Int32(plane))
                        ckf_conv_epilogue(y, plane, Int32(cout), oy0 * out.w, count * out.w, b, residuals, residualCount32, relu)
                        oy0 += count
                    }
                }
            }
        }
    }
}

extension FastFloatExecutor {
    /// A Winograd convolution: blocks of tiles split among the threads, each block input-transformed into this
    /// thread's scratch, multiplied point by point (one single-threaded sgemm per transform point: Cout × tiles ×
    /// Cin) and output-transformed with bias, residuals and ReLU into y.
    fileprivate func winogradConvolve(_ w: inout ckf_winograd_conv, node: Node, x: UnsafeMutablePointer<Float>,
                                      y: UnsafeMutablePointer<Float>, relu: Int32, residualCount: Int) {
        let (blocks, tiles) = winogradBlockSize(w)
        let points = Int(ckf_winograd_points(w.m)), cin = Int(w.in_channels), cout = Int(w.out_channels)
        let setup = w
        let scratch = winogradScratch!, perThread = winogradScratchPerThread
        let residuals = UnsafePointer(pointerTable), residualCount32 = Int32(residualCount)
        let f = folded[node.id]!
        let shared = winogradSharedTiles(w)
        winogradWeights[node.id]!.v.withUnsafeBufferPointer { transformed in
            f.bias.withUnsafeBufferPointer { bias in
                nonisolated(unsafe) let v = transformed.baseAddress!, b = bias.baseAddress!
                if let ld = shared {
                    // One block of all the tiles: input transform (groups of 8 tiles split among the threads), the
                    // per-point GEMMs (points split among the threads), output transform (groups of 8 tiles).
                    let total = ld, u = scratch, m = u + points * cin * ld
                    var tileCount = setup
                    let tilesInImage = ckf_winograd_tile_count(&tileCount)
                    parallelChunks(total / 8, threads: threads) { groups in
                        var s = setup
                        let begin = groups.lowerBound * 8, count = min(tilesInImage, groups.upperBound * 8) - begin
                        if count > 0 { ckf_winograd_input(&s, x, begin, Int32(count), u + begin, ld) }
                    }
                    parallelChunks(points, threads: threads) { range in
                        for p in range {
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(cout), Int32(ld), Int32(cin),
                                        1, v + p * cout * cin, Int32(cin), u + p * cin * ld, Int32(ld),
                                        0, m + p * cout * ld, Int32(ld))
                        }
                    }
                    parallelChunks(total / 8, threads: threads) { groups in
                        var s = setup
                        let begin = groups.lowerBound * 8, count = min(tilesInImage, groups.upperBound * 8) - begin
                        if count > 0 {
                            ckf_winograd_output(&s, m + begin, ld, begin, Int32(count), y, b, residuals, residualCount32, relu)
                        }
                    }
                    return
                }
                parallelChunksIndexed(blocks, threads: threads) { chunk, range in
                    var s = setup
                    let u = scratch + chunk * perThread, m = u + points * cin * tiles
                    for block in range {
                        let begin = block * tiles
                        ckf_winograd_input(&s, x, begin, Int32(tiles), u, tiles)
                        for p in 0..<points {
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(cout), Int32(tiles), Int32(cin),
                                        1, v + p * cout * cin, Int32(cin), u + p * cin * tiles, Int32(tiles),
                                        0, m + p * cout * tiles, Int32(tiles))
                        }
                        ckf_winograd_output(&s, m, tiles, begin, Int32(tiles), y, b, residuals, residualCount32, relu)
                    }
                }
            }
        }
    }
}

/// y = Σ operands (summed in operand order, element by element), then ReLU if `relu`; any layout, since all
/// operands and y share it. Blocks of 4096 elements are split among threads; the operand pointers are offset in a
/// stack buffer, so nothing is allocated. Shared by the float and int8 executors.
func sumElementwise(_ operands: UnsafeBufferPointer<UnsafePointer<Float>?>, into y: UnsafeMutablePointer<Float>,
                    count: Int, relu: Bool, threads: Int) {
    parallelChunks((count + 4095) / 4096, threads: threads, state: (operands, y, count, relu)) { s, _, range in
        let (operands, y, count, relu) = s
        let begin = range.lowerBound * 4096, end = min(count, range.upperBound * 4096)
        withUnsafeTemporaryAllocation(of: UnsafePointer<Float>?.self, capacity: operands.count) { shifted in
            for k in 0..<operands.count { shifted[k] = operands[k]! + begin }
            ckf_add(y + begin, shifted.baseAddress!, Int32(operands.count), end - begin, relu ? 1 : 0)
        }
    }
}
