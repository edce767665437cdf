// FastInt8PlanTests.swift — the fast int8 executor's schedule and byte arena, checked against what this test
// derives from the graph on its own: every value an int8 convolution reads has a uint8 buffer and every value
// anything else reads (or a kept value) a float32 one; fused convolutions have none; no two buffers alive at the
// same step overlap; the arena holds the largest set of buffers alive together, and memory is reused.

import CondSegCore
@testable import CondSegRuntime
import CondSegTestSupport
import XCTest

final class FastInt8PlanTests: XCTestCase {
    private func graphs() throws -> [(String, Graph)] {
        let tiny = try ConDSegModel.load(path: fixturePath("reference/tiny-weights.safetensors"))
        let path = repositoryRoot.appendingPathComponent("models/condseg-r18w64-kvasir.safetensors").path
        guard FileManager.default.fileExists(atPath: path) else { throw FixtureMissing(path: path) }
        return [("tiny", try tiny.graph()), ("default", try ConDSegModel.load(path: path).graph())]
    }

    /// Int8 flags for the convolutions of `graph`: every one, none, or every other one.
    private func patterns(_ graph: Graph) -> [[Bool]] {
        var alternate = [Bool](repeating: false, count: graph.nodes.count)
        var all = alternate
        var k = 0
        for node in graph.nodes {
            guard case .conv = node.kind else { continue }
            all[node.id] = true
            alternate[node.id] = k % 2 == 0
            k += 1
        }
        return [all, [Bool](repeating: false, count: graph.nodes.count), alternate]
    }

    private func check(_ plan: FastInt8Plan, graph: Graph, int8Conv: [Bool], kept: Set<ValueID>, label: String) {
        // Which buffers each value needs, from its readers.
        var wantsBytes = Set<ValueID>(), wantsFloat = kept
        var written: [ValueID: Int] = [:], lastRead: [ValueID: Int] = [:]
        for (index, step) in plan.steps.enumerated() {
            written[step.node] = index
            let node = graph.nodes[step.node]
            let readers: [(Node, [ValueID])] = step.fusedConv.map {
                [(graph.nodes[$0], graph.nodes[$0].inputs), (node, Array(node.inputs.dropFirst()))]
            } ?? [(node, node.inputs)]
            for (reader, inputs) in readers {
                for input in inputs {
                    lastRead[input] = index
                    if case .conv = reader.kind, int8Conv[reader.id] { wantsBytes.insert(input) } else { wantsFloat.insert(input) }
                }
            }
        }
        for id in wantsBytes { XCTAssertNotNil(plan.byteOffsets[id], "\(label): \(graph.nodes[id].name) has no uint8 buffer") }
        for id in wantsFloat { XCTAssertNotNil(plan.floatOffsets[id], "\(label): \(graph.nodes[id].name) has no float buffer") }
        for conv in plan.fusedConvolutions {
            XCTAssertNil(plan.floatOffsets[conv], label)
            XCTAssertNil(plan.byteOffsets[conv], label)
            XCTAssertNil(written[conv], "\(label): a fused convolution has no step of its own")
        }
        // Buffers in bytes with their lifetimes.
        struct Buffer { let name: String; let begin: Int; let end: Int; let first: Int; let last: Int }
        var buffers: [Buffer] = []
        for (id, step) in written {
            let count = plan.shapes[id]!.count
            let last = kept.contains(id) ? Int.max : max(step, lastRead[id] ?? step)
            if let offset = plan.floatOffsets[id] {
                buffers.append(Buffer(name: graph.nodes[id].name + " f32", begin: offset, end: offset + 4 * count, first: step, last: last))
            }
            if let offset = plan.byteOffsets[id] {
                buffers.append(Buffer(name: graph.nodes[id].name + " u8", begin: offset, end: offset + count, first: step, last: last))
            }
        }
        for b in buffers {
            XCTAssertEqual(b.begin % 64, 0, "\(label): \(b.name) not on a cache line")
            XCTAssertLessThanOrEqual(b.end, plan.arenaBytes, "\(label): \(b.name) outside the arena")
        }
        let overlaps = overlappingLiveBlocks(buffers.map {
            LiveBlock(id: $0.name, name: $0.name, begin: $0.begin, end: $0.end, first: $0.first, last: $0.last)
        })
        XCTAssertTrue(overlaps.isEmpty, "\(label): live buffers share memory: \(overlaps.prefix(5))")
        let largest = plan.steps.indices.map { index in
            buffers.filter { $0.first <= index && index <= $0.last }.reduce(0) { $0 + $1.end - $1.begin }
        }.max() ?? 0
        XCTAssertGreaterThan(largest, 0, label)
        XCTAssertGreaterThanOrEqual(plan.arenaBytes, largest, label)
        XCTAssertLessThan(plan.arenaBytes, buffers.reduce(0) { $0 + $1.end - $1.begin }, "\(label): no memory reused")
    }

    func testBuffersMatchTheirReadersAndLiveOnesNeverOverlap() throws {
        for (name, graph) in try graphs() {
            for (p, int8Conv) in patterns(graph).enumerated() {
                for keepTaps in [false, true] {
                    let (targets, pinned) = graph.kept(keepTaps: keepTaps)
                    let size = name == "tiny" ? 64 : 256
                    let plan = FastInt8Plan(graph: graph, height: size, width: size, targets: targets, pinned: pinned,
                                            int8Conv: int8Conv)
                    check(plan, graph: graph, int8Conv: int8Conv, kept: Set(targets).union(pinned),
                          label: "\(name) pattern \(p) taps \(keepTaps)")
                }
            }
        }
    }

    func testFusionIsTheFloatPlansFusion() throws {
        for (_, graph) in try graphs() {
            let (targets, pinned) = graph.kept(keepTaps: false)
            let floatPlan = FastFloatPlan(graph: graph, height: 64, width: 64, targets: targets, pinned: pinned)
            for int8Conv in patterns(graph) {
                let plan = FastInt8Plan(graph: graph, height: 64, width: 64, targets: targets, pinned: pinned,
                                        int8Conv: int8Conv)
                XCTAssertEqual(plan.fusedConvolutions, floatPlan.fusedConvolutions)
                XCTAssertEqual(plan.steps.map(\.node), floatPlan.steps.map(\.node))
            }
        }
    }
}
