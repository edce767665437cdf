// FastInt8Plan.swift — the schedule and byte arena of the int8 executor for one input size, made once from the
// same Graph every executor walks. Values are NHWC (channels innermost). A value can have two buffers:
//   • uint8, quantized with its calibration record, when an int8 convolution reads it (the GEMM reads it as is);
//   • float32, when anything else reads it (float ops, float-fallback convolutions, the residual of an add) or it
//     is an output. Convolutions write either or both straight from the GEMM epilogue; other ops compute float
//     and quantize in the same step when a uint8 copy is needed.
// Fusion (FastFloatPlan.convolutionsFusedIntoAdds, shared with the float executor): a convolution without ReLU whose
// only reader is the add after it (as the add's first operand) has no buffer: the add's step runs the convolution
// with the other operands as the epilogue's residual.
// Concatenation in place: an input of a concat that only the concat reads (not kept, once in it) and whose step can
// write with a channel stride (a convolution, an add with a fused convolution, mul, upsample) keeps its values in
// its channel slice of the concat's buffers: float32 in the concat's float buffer, uint8 — quantized with the
// concat's record, which is what quantizing the concatenated floats gives — in the concat's uint8 buffer. A mul or
// upsample still computes its floats in a buffer of its own when the concat has no float buffer. The concat step
// then only copies (and quantizes) the inputs that could not be aliased.
// Buffers get offsets by greedy best-fit over the step order (CondSegCore's ArenaAllocator, in 4-byte units); a
// concat's buffers live from the first step that writes into them to the last step that reads the concat.

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
    /// Per value: elements between consecutive pixels of its float32 buffer (its channels, or the concat's channels
    /// when it lives in a concat's buffer).
    let floatStrides: [Int]
    /// Per value: elements between consecutive pixels of its uint8 buffer.
    let byteStrides: [Int]
    /// Per value: the value whose quantization its uint8 buffer uses (itself, or the concat it lives in).
    let byteQuantizationOf: [ValueID]
    /// Per value living in a concat's buffers: that concat and the value's first channel in it.
    let aliasedInto: [ValueID: (concat: ValueID, channel: Int)]
    let steps: [FastInt8Step]
    /// Bytes of arena the plan needs.
    let arenaBytes: Int
    /// Convolutions computed inside the add that reads them.
    let fusedConvolutions: Set<ValueID>

    /// `int8Conv[id]` tells whether convolution `id` runs in int8 (reads its input's uint8 buffer).
    /// `concatInPlace: false` copies every concat input (for comparisons).
    init(graph: Graph, height: Int, width: Int, targets: [ValueID], pinned: Set<ValueID>, int8Conv: [Bool],
         concatInPlace: Bool = true) {
        self.height = height
        self.width = width
        let kept = Set(targets).union(pinned)
        let live = graph.liveNodes(for: Array(kept))
        let order = graph.nodes.map(\.id).filter { live.contains($0) }
        let shapes = ActivationPlan(graph: graph, batch: 1, height: height, width: width, targets: targets,
                                    pinned: pinned).shapes
        self.shapes = shapes
        let fusedInto = FastFloatPlan.convolutionsFusedIntoAdds(graph: graph, order: order, kept: kept)
        fusedConvolutions = Set(fusedInto.keys)

        // Which buffers each value needs. A concat computes nothing of its own: it needs a float buffer only when
        // something reads it in float (or it is kept).
        var needsFloat = [Bool](repeating: false, count: graph.nodes.count)
        var needsBytes = [Bool](repeating: false, count: graph.nodes.count)
        var readers = [Int](repeating: 0, count: graph.nodes.count)
        for id in order {
            let node = graph.nodes[id]
            for input in node.inputs { readers[input] += 1 }
            if case .conv = node.kind {
                if int8Conv[id] { needsBytes[node.inputs[0]] = true } else { needsFloat[node.inputs[0]] = true }
            } else {
                for input in node.inputs where fusedInto[input] == nil { needsFloat[input] = true }
                // Non-convolution producers compute in float first.
                if case .concat = node.kind {} else { needsFloat[id] = true }
            }
        }
        for id in kept { needsFloat[id] = true }
        for id in fusedInto.keys { needsFloat[id] = false; needsBytes[id] = false }

        var steps: [FastInt8Step] = []
        var stepOf = [Int](repeating: -1, count: graph.nodes.count)
        for id in order where fusedInto[id] == nil {
            let node = graph.nodes[id]
            stepOf[id] = steps.count
            if case .add = node.kind, fusedInto[node.inputs[0]] == id {
                steps.append(FastInt8Step(node: id, fusedConv: node.inputs[0]))
            } else {
                steps.append(FastInt8Step(node: id, fusedConv: nil))
            }
        }
        self.steps = steps

        // Concat inputs written in place.
        var aliasedInto: [ValueID: (concat: ValueID, channel: Int)] = [:]
        var ownFloat = needsFloat, ownBytes = needsBytes
        for id in order where concatInPlace {
            let node = graph.nodes[id]
            guard case .concat = node.kind else { continue }
            var channel = 0
            for input in node.inputs {
                let first = channel
                channel += shapes[input]!.c
                guard readers[input] == 1, !kept.contains(input), fusedInto[input] == nil,
                      node.inputs.filter({ $0 == input }).count == 1 else { continue }
                let producer = graph.nodes[input]
                let computesInFloat: Bool
                switch producer.kind {
                case .conv: computesInFloat = false
                case .add: guard fusedInto[producer.inputs[0]] == input else { continue }
                    computesInFloat = false
                case .mul, .upsample: computesInFloat = true
                default: continue
                }
                aliasedInto[input] = (id, first)
                // A float op still computes somewhere when the concat has no float buffer.
                ownFloat[input] = computesInFloat && !needsFloat[id]
                ownBytes[input] = false
            }
        }
        self.aliasedInto = aliasedInto

        // Lifetimes in steps: from the writing step to the last step reading the value (a fused convolution's
        // reads count for the add's step; a concat does not read the inputs living in its buffers).
        var lastRead = [Int](repeating: -1, count: graph.nodes.count)
        for (index, step) in steps.enumerated() {
            var reads = graph.nodes[step.node].inputs
            if let conv = step.fusedConv { reads = graph.nodes[conv].inputs + reads.dropFirst() }
            for r in reads where aliasedInto[r]?.concat != step.node { lastRead[r] = index }
        }
        // A concat's buffers are allocated at the first step that writes into them.
        var firstWrite = stepOf
        for (input, alias) in aliasedInto { firstWrite[alias.concat] = min(firstWrite[alias.concat], stepOf[input]) }
        var allocateAt: [Int: [ValueID]] = [:]
        for id in order where fusedInto[id] == nil { allocateAt[firstWrite[id], default: []].append(id) }

        var floatOffsets = [Int?](repeating: nil, count: graph.nodes.count)
        var byteOffsets = [Int?](repeating: nil, count: graph.nodes.count)
        var arena = ArenaAllocator()
        var releaseAt: [Int: [(offset: Int, size: Int)]] = [:]
        for index in steps.indices {
            for id in allocateAt[index] ?? [] {
                let count = shapes[id]!.count
                let end = kept.contains(id) ? Int.max : max(lastRead[id], stepOf[id])
                if ownFloat[id] {
                    let size = ArenaAllocator.roundedSize(count)
                    let offset = arena.allocate(size)
                    floatOffsets[id] = offset * 4
                    if end != Int.max { releaseAt[end, default: []].append((offset, size)) }
                }
                if ownBytes[id] {
                    let size = ArenaAllocator.roundedSize((count + 3) / 4)
                    let offset = arena.allocate(size)
                    byteOffsets[id] = offset * 4
                    if end != Int.max { releaseAt[end, default: []].append((offset, size)) }
                }
            }
            for block in releaseAt[index] ?? [] { arena.release(offset: block.offset, size: block.size) }
        }
        var floatStrides = shapes.map { $0?.c ?? 0 }
        var byteStrides = floatStrides
        var byteQuantizationOf = Array(0..<graph.nodes.count)
        for (input, alias) in aliasedInto {
            let total = shapes[alias.concat]!.c
            if let base = floatOffsets[alias.concat], !ownFloat[input] {
                floatOffsets[input] = base + alias.channel * 4
                floatStrides[input] = total
            }
            if let base = byteOffsets[alias.concat] {
                byteOffsets[input] = base + alias.channel
                byteStrides[input] = total
                byteQuantizationOf[input] = alias.concat
            }
        }
        self.floatOffsets = floatOffsets
        self.byteOffsets = byteOffsets
        self.floatStrides = floatStrides
        self.byteStrides = byteStrides
        self.byteQuantizationOf = byteQuantizationOf
        arenaBytes = max(arena.top, 16) * 4
    }
}
