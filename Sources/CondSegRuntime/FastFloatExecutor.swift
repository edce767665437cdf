// FastFloatExecutor.swift — the optimised float32 executor: walks the same Graph as the reference (no second copy
// of the forward pass) with a schedule and memory plan of its own (FastFloatPlan: convolution+add fusion, concat
// in place), convolutions as OpenBLAS sgemm over L2-sized im2col chunks (1×1 stride-1 ones as a plain GEMM on the
// input) with bias, residual additions and ReLU applied to each chunk while it is in cache (ckf_conv_epilogue),
// and the CKernels float kernels (AVX2+FMA or portable C, chosen at run time) for the window attention, sigmoid
// and elementwise ops. After the first frame of a size, a frame allocates nothing: arena and scratch are made once.
// Checked op by op against the reference in Tests/CondSegRuntimeTests/FastFloatExecutorTests.swift.

import CKernels
import COpenBLAS
import CondSegCore
import Dispatch

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
    private var pointerTable: UnsafeMutablePointer<UnsafePointer<Float>?>
    private let pointerTableCount = 64
    /// Floats of im2col columns per chunk: the chunk's columns and output stay in the L2 cache for the epilogue.
    public var im2colChunkFloats = 1 << 18
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
        pointerTable.deallocate()
    }

    public var plannedSize: (height: Int, width: Int)? { plan.map { ($0.height, $0.width) } }

    public func execute(input: UnsafePointer<Float>) {
        openblas_set_num_threads(Int32(threads))
        execute(plan: plan!, input: input)
    }

    /// Peak activation and scratch memory of the current plan, in bytes.
    public var plannedBytes: Int { (arenaCount + scratchCount) * MemoryLayout<Float>.size }

    /// Convolutions computed inside the add that reads them (they have no value of their own) in the current plan.
    public var fusedConvolutionIDs: Set<ValueID> { plan?.fusedConvolutions ?? [] }

    public func value(_ id: ValueID) -> [Float] {
        guard let plan, let arena, let shape = plan.shapes[id], let offset = plan.offsets[id] else { return [] }
        return Array(UnsafeBufferPointer(start: arena + offset, count: shape.count))
    }

    public func shape(_ id: ValueID) -> ValueShape? { plan?.shapes[id] }

    /// Makes the plan and allocates arena and scratch for one input size (the first run of a size does this).
    public func prepare(height: Int, width: Int) {
        let plan = FastFloatPlan(graph: graph, height: height, width: width, targets: setup.targets, pinned: setup.pinned)
        var im2colFloats = 0, attentionFloats = 0
        for step in plan.steps {
            let node = graph.nodes[step.fusedConv ?? step.node]
            let out = plan.shapes[node.id]!
            switch node.kind {
            case .conv(let spec) where !spec.isPointwise:
                im2colFloats = max(im2colFloats, spec.inChannels * spec.kernel * spec.kernel * rowsPerChunk(spec, out) * out.w)
            case .windowAttention(let heads, let k):
                var args = ckf_attention_args()
                args.heads = Int32(heads); args.window = Int32(k); args.width = Int32(out.w)
                attentionFloats = max(attentionFloats, ckf_window_attention_scratch(&args))
            default: break
            }
        }
        attentionScratchPerThread = (attentionFloats + 15) & ~15
        arena.map { UnsafeMutableRawPointer($0).deallocate() }
        scratch.map { UnsafeMutableRawPointer($0).deallocate() }
        arenaCount = plan.arenaCount
        scratchCount = max(im2colFloats, attentionScratchPerThread * threads, 16)
        arena = Self.allocateFloats(arenaCount)
        scratch = Self.allocateFloats(scratchCount)
        nodeSeconds = [Double](repeating: 0, count: graph.nodes.count)
        self.plan = plan
    }

    private static func allocateFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.size, alignment: 64)
        return raw.initializeMemory(as: Float.self, repeating: 0, count: count)
    }

    private func rowsPerChunk(_ spec: ConvSpec, _ out: ValueShape) -> Int {
        let kk = spec.inChannels * spec.kernel * spec.kernel
        return max(1, min(out.h, im2colChunkFloats / max(1, kk * out.w)))
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
        case .globalAvgPool:
            ReferenceOps.globalPool(max: false, channels: out.c, input: pointer(plan, node.inputs[0]),
                                    plane: plan.shapes[node.inputs[0]]!.plane, output: y)
        case .globalMaxPool:
            ReferenceOps.globalPool(max: true, channels: out.c, input: pointer(plan, node.inputs[0]),
                                    plane: plan.shapes[node.inputs[0]]!.plane, output: y)
        case .channelMeanMax:
            let x = plan.shapes[node.inputs[0]]!
            ReferenceOps.channelMeanMax(channels: x.c, input: pointer(plan, node.inputs[0]), plane: x.plane, output: y)
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
        f.weights.withUnsafeBufferPointer { weights in
            f.bias.withUnsafeBufferPointer { bias in
                let w = weights.baseAddress!, b = bias.baseAddress!
                func epilogue(_ begin: Int, _ count: Int) {
                    parallelChunks(cout, threads: threads) { range in
                        withUnsafeTemporaryAllocation(of: UnsafePointer<Float>?.self, capacity: max(residualCount, 1)) { shifted in
                            for k in 0..<residualCount { shifted[k] = residuals[k]! + range.lowerBound * plane }
                            ckf_conv_epilogue(y + range.lowerBound * plane, plane, Int32(range.count), begin, count,
                                              b + range.lowerBound, shifted.baseAddress!, residualCount32, relu)
                        }
                    }
                }
                if spec.isPointwise {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(cout), Int32(plane), Int32(spec.inChannels),
                                1, w, Int32(spec.inChannels), x, Int32(plane), 0, y, Int32(plane))
                    epilogue(0, plane)
                    return
                }
                let kk = spec.inChannels * spec.kernel * spec.kernel
                let rows = rowsPerChunk(spec, out)
                let columns = scratch!
                var oy0 = 0
                while oy0 < out.h {
                    let count = min(rows, out.h - oy0)
                    let rowBegin = oy0
                    parallelChunks(spec.inChannels, threads: threads) { range in
                        ckf_im2col(x, Int32(inShape.h), Int32(inShape.w), Int32(spec.kernel), Int32(spec.stride),
                                   Int32(spec.padding), Int32(spec.dilation), Int32(out.w), Int32(rowBegin), Int32(count),
                                   Int32(range.lowerBound), Int32(range.upperBound), columns, count * out.w)
                    }
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(cout), Int32(count * out.w), Int32(kk),
                                1, w, Int32(kk), columns, Int32(count * out.w), 0, y + oy0 * out.w, Int32(plane))
                    epilogue(oy0 * out.w, count * out.w)
                    oy0 += count
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
