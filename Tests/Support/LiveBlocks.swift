// LiveBlocks.swift — the memory-plan check the plan tests share: arena blocks with the steps they are live, and
// the pairs that are live at the same step and share bytes (which a correct plan never has).

/// A stretch [begin, end) of an arena, written at step `first` and last read at step `last` (inclusive).
public struct LiveBlock<ID: Hashable>: Sendable where ID: Sendable {
    public let id: ID
    public let name: String
    public let begin: Int, end: Int
    public let first: Int, last: Int
    public init(id: ID, name: String, begin: Int, end: Int, first: Int, last: Int) {
        self.id = id; self.name = name; self.begin = begin; self.end = end; self.first = first; self.last = last
    }
}

/// "A and B" for every pair of blocks live at a common step whose bytes intersect, except pairs `allowed` accepts
/// (for example an input planned inside its concat's buffer).
public func overlappingLiveBlocks<ID>(_ blocks: [LiveBlock<ID>],
                                      allowed: (LiveBlock<ID>, LiveBlock<ID>) -> Bool = { _, _ in false }) -> [String] {
    var overlaps: [String] = []
    for i in blocks.indices {
        for j in blocks.indices where j > i {
            let a = blocks[i], b = blocks[j]
            guard a.first <= b.last && b.first <= a.last, a.begin < b.end && b.begin < a.end else { continue }
            if allowed(a, b) { continue }
            overlaps.append("\(a.name) and \(b.name)")
        }
    }
    return overlaps
}
