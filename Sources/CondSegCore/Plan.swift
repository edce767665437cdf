// Plan.swift — the activation memory plan: the shape of every value for one input size and batch, and an
// offset for it in one arena, made once. Values whose lifetimes do not overlap share memory (greedy
// best-fit over the node order), so a frame allocates nothing and peak memory is known before it runs.

/// Shape of a value: batch, channels, height, width (NCHW).
public struct ValueShape: Sendable, Equatable {
    public var n: Int, c: Int, h: Int, w: Int
    public init(n: Int, c: Int, h: Int, w: Int) { self.n = n; self.c = c; self.h = h; self.w = w }
    public var count: Int { n * c * h * w }
    public var plane: Int { h * w }
}

/// Shapes and arena offsets of every live value of a graph for one input size.
public struct ActivationPlan: Sendable {
    public let batch: Int
    public let height: Int
    public let width: Int
    /// Indexed by value id; nil for pruned nodes.
    public let shapes: [ValueShape?]
    /// Offset (in floats) of each value in the arena; nil for pruned nodes.
    public let offsets: [Int?]
    /// Floats the arena needs.
    public let arenaCount: Int
    /// Nodes to execute, in order.
    public let schedule: [ValueID]

    /// Plans `graph` for inputs of batch × 3 × height × width. Only the nodes needed for `targets` run.
    /// Values in `pinned` (and the targets) are never overwritten, so they can be read after the run.
    public init(graph: Graph, batch: Int, height: Int, width: Int, targets: [ValueID], pinned: Set<ValueID> = []) {
        self.batch = batch
        self.height = height
        self.width = width
        let live = graph.liveNodes(for: targets + Array(pinned))
        var shapes = [ValueShape?](repeating: nil, count: graph.nodes.count)
        var lastUse = [Int](repeating: -1, count: graph.nodes.count)
        let schedule = graph.nodes.map(\.id).filter { live.contains($0) }
        for (step, id) in schedule.enumerated() {
            let node = graph.nodes[id]
            let h = node.stride == 0 ? 1 : height / node.stride
            let w = node.stride == 0 ? 1 : width / node.stride
            shapes[id] = ValueShape(n: batch, c: node.channels, h: h, w: w)
            for input in node.inputs { lastUse[input] = step }
        }
        for id in targets + Array(pinned) { lastUse[id] = Int.max }

        // Greedy best-fit allocation in schedule order; a value's block is freed after its last reader ran.
        var offsets = [Int?](repeating: nil, count: graph.nodes.count)
        var arena = ArenaAllocator()
        var releaseAt: [Int: [ValueID]] = [:]
        for (step, id) in schedule.enumerated() {
            let size = ArenaAllocator.roundedSize(shapes[id]!.count)
            offsets[id] = arena.allocate(size)
            // A value nobody reads (not a target) is released right after it is written.
            let end = lastUse[id] == -1 ? step : lastUse[id]
            if end != Int.max { releaseAt[end, default: []].append(id) }
            for dead in releaseAt[step] ?? [] {
                arena.release(offset: offsets[dead]!, size: ArenaAllocator.roundedSize(shapes[dead]!.count))
            }
        }
        self.shapes = shapes
        self.offsets = offsets
        self.arenaCount = arena.top
        self.schedule = schedule
    }
}

/// Best-fit allocation of blocks in one arena (offsets in floats): a released block is merged with its free
/// neighbours and reused by the smallest later request that fits. Used by every activation plan.
public struct ArenaAllocator: Sendable {
    /// Free blocks, sorted by offset, never adjacent (adjacent ones are merged).
    private var free: [(offset: Int, size: Int)] = []
    /// Floats the arena needs so far.
    public private(set) var top = 0

    public init() {}

    /// Sizes are rounded to 16 floats (64 bytes) so every block starts on a cache line.
    public static func roundedSize(_ count: Int) -> Int { (count + 15) & ~15 }

    /// Offset of a block of `size` floats: the smallest free block that fits, else the end of the arena.
    public mutating func allocate(_ size: Int) -> Int {
        if let best = free.indices.filter({ free[$0].size >= size }).min(by: { free[$0].size < free[$1].size }) {
            let offset = free[best].offset
            if free[best].size == size { free.remove(at: best) } else {
                free[best] = (offset + size, free[best].size - size)
            }
            return offset
        }
        top += size
        return top - size
    }

    /// Returns a block to the free list.
    public mutating func release(offset: Int, size: Int) {
        free.append((offset, size))
        free.sort { $0.offset < $1.offset }
        var merged: [(offset: Int, size: Int)] = []
        for block in free {
            if let last = merged.last, last.offset + last.size == block.offset {
                merged[merged.count - 1].size += block.size
            } else { merged.append(block) }
        }
        free = merged
    }
}
