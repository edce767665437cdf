// FastFloatPlan.swift — the schedule and activation memory plan of the optimised float executor, made once per
// input size from the same Graph the reference walks. Differences from CondSegCore's ActivationPlan:
//   • fusion: a convolution without ReLU whose only reader is the add that follows it (the first operand of
//     `.add`) is not stored: the add's step runs the convolution with the other operands as residuals in the
//     GEMM epilogue, writing straight into the add's buffer;
//   • concatenation in place: the inputs of a concat are planned as slices of the concat's buffer, so their
//     producers write where the concat needs them and the concat step copies nothing.
// Blocks (a concat with its aliased inputs, or a single value) get arena offsets by greedy best-fit over the
// step order, a block living from its first member's step to the last step reading any member.

import CondSegCore

/// One step of the optimised schedule: the node whose value it writes and, when a convolution was fused into
/// an add, that convolution.
struct FastFloatStep {
    /// The node computed (its value is what the step writes).
    let node: ValueID
    /// A convolution computed by this step with the add's other operands as residuals (node is the add).
    let fusedConv: ValueID?
    /// Values the step reads.
    let reads: [ValueID]
}

/// Shapes, arena offsets and steps of one graph for one input size.
struct FastFloatPlan {
    let height: Int
    let width: Int
    /// Shape of every value that runs (nil for pruned nodes); fused convolutions have a shape but no offset.
    let shapes: [ValueShape?]
    /// Offset in floats of every stored value in the arena (nil for pruned or fused nodes).
    let offsets: [Int?]
    /// For each concat: which inputs were planned in place (true) and which must be copied (false).
    let concatInPlace: [ValueID: [Bool]]
    let steps: [FastFloatStep]
    /// Floats of arena the plan needs.
    let arenaCount: Int
    /// Convolutions computed inside the add that reads them (no value of their own).
    let fusedConvolutions: Set<ValueID>

    init(graph: Graph, height: Int, width: Int, targets: [ValueID], pinned: Set<ValueID>) {
        self.height = height
        self.width = width
        let kept = Set(targets).union(pinned)
        let live = graph.liveNodes(for: Array(kept))
        let order = graph.nodes.map(\.id).filter { live.contains($0) }
        // Shapes as the reference plans them (same live set: the targets and the pinned values).
        let shapes = ActivationPlan(graph: graph, batch: 1, height: height, width: width, targets: targets,
                                    pinned: pinned).shapes
        let fusedInto = Self.convolutionsFusedIntoAdds(graph: graph, order: order, kept: kept)   // conv → add
        fusedConvolutions = Set(fusedInto.keys)

        var steps: [FastFloatStep] = []
        for id in order where fusedInto[id] == nil {
            let node = graph.nodes[id]
            if case .add = node.kind, let conv = fusedInto[node.inputs[0]] == id ? node.inputs[0] : nil {
                steps.append(FastFloatStep(node: id, fusedConv: conv,
                                           reads: graph.nodes[conv].inputs + Array(node.inputs.dropFirst())))
            } else {
                steps.append(FastFloatStep(node: id, fusedConv: nil, reads: node.inputs))
            }
        }
        self.steps = steps

        // Concat in place: an input joins the concat's block if it is produced by a step of its own (not the
        // network input, not another concat, not a fused convolution), is not already a slice of another
        // concat, and appears once in this concat.
        var blockOf = [ValueID](repeating: -1, count: graph.nodes.count)   // root value of each stored value
        var offsetInBlock = [Int](repeating: 0, count: graph.nodes.count)
        for id in order { blockOf[id] = id }
        var inPlace: [ValueID: [Bool]] = [:]
        for id in order {
            let node = graph.nodes[id]
            guard case .concat = node.kind else { continue }
            var flags: [Bool] = []
            var channelOffset = 0
            for input in node.inputs {
                let producer = graph.nodes[input]
                var eligible = blockOf[input] == input && fusedInto[input] == nil
                    && node.inputs.filter({ $0 == input }).count == 1
                switch producer.kind {
                case .input, .concat: eligible = false
                default: break
                }
                if eligible {
                    blockOf[input] = id
                    offsetInBlock[input] = channelOffset * shapes[id]!.plane
                }
                flags.append(eligible)
                channelOffset += shapes[input]!.c
            }
            inPlace[id] = flags
        }
        concatInPlace = inPlace

        // Block lifetimes in step indices.
        var firstStep: [ValueID: Int] = [:], lastStep: [ValueID: Int] = [:]
        for (index, step) in steps.enumerated() {
            let root = blockOf[step.node]
            firstStep[root] = min(firstStep[root] ?? index, index)
            lastStep[root] = max(lastStep[root] ?? index, index)
            for read in step.reads {
                let readRoot = blockOf[read]
                lastStep[readRoot] = max(lastStep[readRoot] ?? index, index)
            }
        }
        for id in kept { lastStep[blockOf[id]] = Int.max }

        var offsets = [Int?](repeating: nil, count: graph.nodes.count)
        var rootOffsets: [ValueID: Int] = [:]
        var arena = ArenaAllocator()
        var releaseAt: [Int: [ValueID]] = [:]
        func blockSize(_ root: ValueID) -> Int { ArenaAllocator.roundedSize(shapes[root]!.count) }
        for (index, step) in steps.enumerated() {
            let root = blockOf[step.node]
            if firstStep[root] == index && rootOffsets[root] == nil {
                rootOffsets[root] = arena.allocate(blockSize(root))
                if let end = lastStep[root], end != Int.max { releaseAt[end, default: []].append(root) }
            }
            for dead in releaseAt[index] ?? [] { arena.release(offset: rootOffsets[dead]!, size: blockSize(dead)) }
        }
        for id in order where fusedInto[id] == nil {
            offsets[id] = rootOffsets[blockOf[id]]! + offsetInBlock[id]
        }
        self.shapes = shapes
        self.offsets = offsets
        self.arenaCount = max(arena.top, 16)
    }

    /// Fusion shared by the optimised executors: a convolution without ReLU whose only reader among `order` is an
    /// add, as its first operand, and that is not kept (`kept`: targets and pinned values) is computed inside that
    /// add. Returns conv → add.
    static func convolutionsFusedIntoAdds(graph: Graph, order: [ValueID], kept: Set<ValueID>) -> [ValueID: ValueID] {
        var readers = [Int](repeating: 0, count: graph.nodes.count)
        for id in order { for input in graph.nodes[id].inputs { readers[input] += 1 } }
        var fusedInto: [ValueID: ValueID] = [:]
        for id in order {
            let node = graph.nodes[id]
            guard case .add = node.kind, node.inputs.count >= 2 else { continue }
            let first = node.inputs[0]
            guard case .conv(let spec) = graph.nodes[first].kind, !spec.relu, readers[first] == 1,
                  !kept.contains(first), !node.inputs.dropFirst().contains(first) else { continue }
            fusedInto[first] = id
        }
        return fusedInto
    }
}
