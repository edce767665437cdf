// PlanTests.swift — the arena allocator every activation plan uses, and the reference's ActivationPlan.
// The allocator runs a long pseudo-random sequence of requests and releases against a model kept by the test:
// blocks handed out never overlap a live one, a released block is reused (best fit, neighbours merged) before
// the arena grows, and the arena grows only when no free block fits. The plan is checked against lifetimes
// derived from the graph here: live values never share memory, the arena holds the largest live set, memory is
// reused, and every scheduled value has its shape.

import CondSegCore
import CondSegTestSupport
import XCTest

final class ArenaAllocatorTests: XCTestCase {
    func testRoundsToCacheLines() {
        XCTAssertEqual(ArenaAllocator.roundedSize(1), 16)
        XCTAssertEqual(ArenaAllocator.roundedSize(16), 16)
        XCTAssertEqual(ArenaAllocator.roundedSize(17), 32)
        XCTAssertEqual(ArenaAllocator.roundedSize(0), 0)
    }

    func testReleasedBlockIsReusedBeforeTheArenaGrows() {
        var arena = ArenaAllocator()
        let a = arena.allocate(32), b = arena.allocate(64), c = arena.allocate(16)
        XCTAssertEqual([a, b, c], [0, 32, 96])
        XCTAssertEqual(arena.top, 112)
        arena.release(offset: b, size: 64)
        // Fits in the hole: no growth.
        XCTAssertEqual(arena.allocate(48), 32)
        XCTAssertEqual(arena.top, 112)
        // The rest of the hole (16 at 80) is the best fit for 16.
        XCTAssertEqual(arena.allocate(16), 80)
        // Nothing free: grows.
        XCTAssertEqual(arena.allocate(16), 112)
        XCTAssertEqual(arena.top, 128)
    }

    func testBestFitPicksTheSmallestHoleThatFits() {
        var arena = ArenaAllocator()
        let blocks = [64, 16, 32, 16, 48, 16].map { arena.allocate($0) }   // holes will be 64, 32 and 48 wide
        arena.release(offset: blocks[0], size: 64)
        arena.release(offset: blocks[2], size: 32)
        arena.release(offset: blocks[4], size: 48)
        XCTAssertEqual(arena.allocate(32), blocks[2])
        XCTAssertEqual(arena.allocate(40), blocks[4])
        XCTAssertEqual(arena.allocate(64), blocks[0])
        XCTAssertEqual(arena.top, 192)
    }

    func testNeighbouringHolesMergeIntoOne() {
        var arena = ArenaAllocator()
        let blocks = [16, 16, 16, 16].map { arena.allocate($0) }
        arena.release(offset: blocks[2], size: 16)
        arena.release(offset: blocks[0], size: 16)
        arena.release(offset: blocks[1], size: 16)   // joins both neighbours: one hole of 48 at 0
        XCTAssertEqual(arena.allocate(48), 0)
        XCTAssertEqual(arena.top, 64)
    }

    func testRandomRequestsNeverOverlapLiveBlocks() {
        var arena = ArenaAllocator()
        var live: [(offset: Int, size: Int)] = []
        var state: UInt64 = 0x9E3779B97F4A7C15
        func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(bound))
        }
        var peakLive = 0
        for _ in 0..<4000 {
            if live.isEmpty || next(3) > 0 {
                let size = ArenaAllocator.roundedSize(1 + next(200))
                let topBefore = arena.top
                let offset = arena.allocate(size)
                for block in live {
                    XCTAssertFalse(offset < block.offset + block.size && block.offset < offset + size,
                                   "block at \(offset) (\(size)) overlaps live block at \(block.offset) (\(block.size))")
                }
                XCTAssertLessThanOrEqual(offset + size, arena.top)
                if arena.top > topBefore {
                    // It grew: then no gap between live blocks below the old top was wide enough.
                    let sorted = live.sorted { $0.offset < $1.offset }
                    var cursor = 0
                    for block in sorted {
                        XCTAssertLessThan(block.offset - cursor, size, "grew although a hole of \(block.offset - cursor) at \(cursor) fits \(size)")
                        cursor = max(cursor, block.offset + block.size)
                    }
                    XCTAssertLessThan(topBefore - cursor, size, "grew although the end of the arena had room")
                    XCTAssertEqual(offset, topBefore, "a new block goes at the end of the arena")
                }
                live.append((offset, size))
            } else {
                let victim = live.remove(at: next(live.count))
                arena.release(offset: victim.offset, size: victim.size)
            }
            peakLive = max(peakLive, live.reduce(0) { $0 + $1.size })
        }
        XCTAssertGreaterThanOrEqual(arena.top, peakLive)
        XCTAssertLessThan(arena.top, 4000 * 100, "released memory was not reused")
    }
}

final class ActivationPlanTests: XCTestCase {
    func testLiveValuesNeverShareMemoryAndMemoryIsReused() throws {
        let model = try ConDSegModel.load(path: fixturePath("reference/tiny-weights.safetensors"))
        for auxiliaryHead in [false, true] {
            let graph = try model.graph(auxiliaryHead: auxiliaryHead)
            for keepTaps in [false, true] {
                let (targets, pinned) = graph.kept(keepTaps: keepTaps)
                for (batch, size) in [(1, 64), (2, 96)] {
                    let plan = ActivationPlan(graph: graph, batch: batch, height: size, width: size, targets: targets,
                                              pinned: pinned)
                    check(plan, graph: graph, kept: Set(targets).union(pinned), label: "aux \(auxiliaryHead) taps \(keepTaps) \(size)")
                }
            }
        }
    }

    private func check(_ plan: ActivationPlan, graph: Graph, kept: Set<ValueID>, label: String) {
        var lastRead: [ValueID: Int] = [:]
        for (step, id) in plan.schedule.enumerated() { for input in graph.nodes[id].inputs { lastRead[input] = step } }
        // Every value needed for the kept ones runs, before its readers.
        XCTAssertEqual(Set(plan.schedule), graph.liveNodes(for: Array(kept)), label)
        XCTAssertEqual(plan.schedule, plan.schedule.sorted(), label)
        var blocks: [(id: ValueID, begin: Int, end: Int, first: Int, last: Int)] = []
        for (step, id) in plan.schedule.enumerated() {
            guard let shape = plan.shapes[id], let offset = plan.offsets[id] else { XCTFail(label); continue }
            let node = graph.nodes[id]
            XCTAssertEqual(shape, ValueShape(n: plan.batch, c: node.channels,
                                             h: node.stride == 0 ? 1 : plan.height / node.stride,
                                             w: node.stride == 0 ? 1 : plan.width / node.stride), label)
            let last = kept.contains(id) ? Int.max : max(step, lastRead[id] ?? step)
            blocks.append((id, offset, offset + shape.count, step, last))
            XCTAssertLessThanOrEqual(offset + shape.count, plan.arenaCount, label)
        }
        let overlaps = overlappingLiveBlocks(blocks.map {
            LiveBlock(id: $0.id, name: graph.nodes[$0.id].name, begin: $0.begin, end: $0.end, first: $0.first, last: $0.last)
        })
        XCTAssertTrue(overlaps.isEmpty, "\(label): live values share memory: \(overlaps.prefix(5))")
        let largest = plan.schedule.indices.map { step in
            blocks.filter { $0.first <= step && step <= $0.last }.reduce(0) { $0 + $1.end - $1.begin }
        }.max() ?? 0
        XCTAssertGreaterThanOrEqual(plan.arenaCount, largest, label)
        XCTAssertLessThan(plan.arenaCount, blocks.reduce(0) { $0 + $1.end - $1.begin }, "\(label): no memory reused")
    }
}
