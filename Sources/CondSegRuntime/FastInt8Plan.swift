// FastInt8Plan.swift — the schedule and byte arena of the int8 executor for one input size, made once from the
// same Graph every executor walks. Values are NHWC (channels innermost). A value can have two buffers:
//   • uint8, quantized with its calibration record, when an int8 convolution reads it (the GEMM reads it as is);
//   • float32, when anything else reads it (float ops, float-fallback convolutions, the residual of an add) or it
//     is an output. Convolutions write either or both straight from the GEMM epilogue; other ops compute float
//     and quantize in the same step when a uint8 copy is needed.
// Fusion (FastFloatPlan.convolutionsFusedIntoAdds, shared with the float executor): a convolution without ReLU whose
// only reader is the add after it (as the add's first operand) has no buffer: the add's step runs the convolution
// with the other operands as the epilogue's residual.
// Buffers get offsets by greedy best-fit over the step order (CondSegCore's ArenaAllocator, in 4-byte units).

import CondSegCore

/// One step of the int8 executor: the node whose value it writes and, when a convolution is fused into an add,
/// that convolution.
struct FastInt8Step {
    let node: ValueID
    let fusedConv: ValueID?
}

/// Shapes, buffers and steps of one graph for one input size.
struct FastInt8Plan {
    let height: Int
    let width: Int
    /// Shape of every value that runs (nil for pruned nodes), as NCHW sizes; storage is NHWC.
    let shapes: [ValueShape?]
    /// Byte offset of each value's float32 buffer, nil when it has none.
    let floatOffsets: [Int?]
    /// Byte offset of each value's uint8 buffer, nil when it has none.
    let byteOffsets: [Int?]
    let steps: [FastInt8Step]
    /// Bytes of arena the plan needs.
    let arenaBytes: Int
    /// Convolutions computed inside the add that reads them.
    let fusedConvolutions: Set<ValueID>

    /// `int8Conv[id]` tells whether convolution `id` runs in int8 (reads its input's uint8 buffer).
    init(graph: Graph, height: Int, width: Int, targets: [ValueID], pinned: Set<ValueID>, int8Conv: [Bool]) {
        self.height = height
        self.width = width
        let kept = Set(targets).union(pinned)
        let live = graph.liveNodes(for: Array(kept))
        let order = graph.nodes.map(\.id).filter { live.contains($0) }
        shapes = ActivationPlan(graph: graph, batch: 1, height: height, width: width, targets: targets,
                                pinned: pinned).shapes
        let fusedInto = FastFloatPlan.convolutionsFusedIntoAdds(graph: graph, order: order, kept: kept)
        fusedConvolutions = Set(fusedInto.keys)

        // Which buffers each value needs.
        var needsFloat = [Bool](repeating: false, count: graph.nodes.count)
        var needsBytes = [Bool](repeating: false, count: graph.nodes.count)
        for id in order {
            let node = graph.nodes[id]
            if case .conv = node.kind {
                if int8Conv[id] { needsBytes[node.inputs[0]] = true } else { needsFloat[node.inputs[0]] = true }
            } else {
                for input in node.inputs where fusedInto[input] == nil { needsFloat[input] = true }
                // Non-convolution producers compute in float first.
                needsFloat[id] = true
            }
        }
        for id in kept { needsFloat[id] = true }
        for id in fusedInto.keys { needsFloat[id] = false; needsBytes[id] = false }

        var steps: [FastInt8Step] = []
        for id in order where fusedInto[id] == nil {
            let node = graph.nodes[id]
            if case .add = node.kind, fusedInto[node.inputs[0]] == id {
                steps.append(FastInt8Step(node: id, fusedConv: node.inputs[0]))
            } else {
                steps.append(FastInt8Step(node: id, fusedConv: nil))
            }
        }
        self.steps = steps

        // Lifetimes in steps: from the writing step to the last step reading the value (a fused convolution's
        // reads count for the add's step).
        var lastRead = [Int](repeating: -1, count: graph.nodes.count)
        for (index, step) in steps.enumerated() {
            var reads = graph.nodes[step.node].inputs
            if let conv = step.fusedConv { reads = graph.nodes[conv].inputs + reads.dropFirst() }
            for r in reads { lastRead[r] = index }
        }
        var floatOffsets = [Int?](repeating: nil, count: graph.nodes.count)
        var byteOffsets = [Int?](repeating: nil, count: graph.nodes.count)
        var arena = ArenaAllocator()
        var releaseAt: [Int: [(offset: Int, size: Int)]] = [:]
        for (index, step) in steps.enumerated() {
            let id = step.node, count = shapes[id]!.count
            let end = kept.contains(id) ? Int.max : max(lastRead[id], index)
            if needsFloat[id] {
                let size = ArenaAllocator.roundedSize(count)
                let offset = arena.allocate(size)
                floatOffsets[id] = offset * 4
                if end != Int.max { releaseAt[end, default: []].append((offset, size)) }
            }
            if needsBytes[id] {
                let size = ArenaAllocator.roundedSize((count + 3) / 4)
                let offset = arena.allocate(size)
                byteOffsets[id] = offset * 4
                if end != Int.max { releaseAt[end, default: []].append((offset, size)) }
            }
            for block in releaseAt[index] ?? [] { arena.release(offset: block.offset, size: block.size) }
        }
        self.floatOffsets = floatOffsets
        self.byteOffsets = byteOffsets
        arenaBytes = max(arena.top, 16) * 4
    }
}
