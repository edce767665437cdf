// FastInt8PlanTests.swift — the fast int8 executor's schedule and byte arena, checked against what this test
// derives from the graph on its own: every value an int8 convolution reads has a uint8 buffer and every value
// anything else reads (or a kept value) a float32 one; fused convolutions have none; no two buffers alive at the
// same step overlap; the arena holds the largest set of buffers alive together, and memory is reused. A concat
// input planned in place lives in its channel slice of the concat's buffers (with the concat's stride and uint8
// record), only when the concat is its one reader and its producer writes with a stride; the concat's buffers then
// live from the first step writing into them.

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
                    // A concat does not read the inputs living in its buffers.
                    if plan.aliasedInto[input]?.concat == reader.id { continue }
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
        // Values in a concat's buffers: the concat is their one reader, their step writes with a stride, and their
        // floats/bytes are exactly their slice of the concat's.
        var readerCount: [ValueID: Int] = [:]
        for step in plan.steps {
            for input in graph.nodes[step.node].inputs { readerCount[input, default: 0] += 1 }
            if let conv = step.fusedConv { for input in graph.nodes[conv].inputs { readerCount[input, default: 0] += 1 } }
        }
        var firstWrite = written
        for (id, alias) in plan.aliasedInto {
            let concat = graph.nodes[alias.concat], name = "\(label): \(graph.nodes[id].name)"
            if case .concat = concat.kind {} else { XCTFail("\(name) aliased into a \(concat.kind)") }
            XCTAssertEqual(concat.inputs.filter { $0 == id }.count, 1, name)
            XCTAssertEqual(readerCount[id], 1, "\(name) is read by more than its concat")
            XCTAssertFalse(kept.contains(id), "\(name) is kept")
            let channel = concat.inputs.prefix { $0 != id }.reduce(0) { $0 + plan.shapes[$1]!.c }
            XCTAssertEqual(alias.channel, channel, name)
            let total = plan.shapes[alias.concat]!.c
            let producer = graph.nodes[id]
            let strided: Bool
            switch producer.kind {
            case .conv, .mul, .upsample: strided = true
            case .add: strided = plan.steps.contains { $0.node == id && $0.fusedConv != nil }
            default: strided = false
            }
            XCTAssertTrue(strided, "\(name): its step cannot write into a slice")
            if let base = plan.floatOffsets[alias.concat] {
                XCTAssertEqual(plan.floatOffsets[id], base + 4 * channel, name)
                XCTAssertEqual(plan.floatStrides[id], total, name)
            } else if case .conv = producer.kind {
                XCTAssertNil(plan.floatOffsets[id], name)
            } else if case .add = producer.kind {
                XCTAssertNil(plan.floatOffsets[id], name)
            } else {
                XCTAssertNotNil(plan.floatOffsets[id], "\(name): a float op with nowhere to compute")
                XCTAssertEqual(plan.floatStrides[id], plan.shapes[id]!.c, name)
            }
            if let base = plan.byteOffsets[alias.concat] {
                XCTAssertEqual(plan.byteOffsets[id], base + channel, name)
                XCTAssertEqual(plan.byteStrides[id], total, name)
                XCTAssertEqual(plan.byteQuantizationOf[id], alias.concat, name)
            } else {
                XCTAssertNil(plan.byteOffsets[id], name)
            }
            firstWrite[alias.concat] = min(firstWrite[alias.concat]!, written[id]!)
        }
        for (id, step) in written where plan.aliasedInto[id] == nil {
            XCTAssertEqual(plan.floatStrides[id], plan.shapes[id]!.c)
            XCTAssertEqual(plan.byteStrides[id], plan.shapes[id]!.c)
            XCTAssertEqual(plan.byteQuantizationOf[id], id)
            _ = step
        }

        // Buffers in bytes with their lifetimes (a value in a concat's buffers is part of the concat's).
        struct Buffer { let name: String; let begin: Int; let end: Int; let first: Int; let last: Int }
        var buffers: [Buffer] = []
        for (id, writeStep) in written {
            let count = plan.shapes[id]!.count
            let step = firstWrite[id]!
            let alias = plan.aliasedInto[id]
            let ownFloat = alias == nil || plan.floatOffsets[alias!.concat] == nil
            let last = kept.contains(id) ? Int.max : max(writeStep, lastRead[id] ?? writeStep)
            if let offset = plan.floatOffsets[id], ownFloat {
                buffers.append(Buffer(name: graph.nodes[id].name + " f32", begin: offset, end: offset + 4 * count, first: step, last: last))
            }
            if let offset = plan.byteOffsets[id], alias == nil {
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
                    XCTAssertFalse(plan.aliasedInto.isEmpty, "\(name) pattern \(p) taps \(keepTaps): no concat in place")
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

    /// On the default model: the attention-gated branches of every dconv concat and the upsampled inputs are
    /// written in place; values read elsewhere too (the cdfa outputs the decoders also read) and kept taps are
    /// copied; a concat read only by int8 convolutions has no float buffer at all.
    func testConcatInputsInPlaceAndFallbacksOnTheDefaultModel() throws {
        guard let graph = try graphs().first(where: { $0.0 == "default" })?.1 else { return XCTFail("no default model") }
        let id = { (name: String) in graph.nodes.first { $0.name == name }!.id }
        let int8Conv = patterns(graph)[0]
        for keepTaps in [false, true] {
            let (targets, pinned) = graph.kept(keepTaps: keepTaps)
            let plan = FastInt8Plan(graph: graph, height: 128, width: 128, targets: targets, pinned: pinned, int8Conv: int8Conv)
            for level in 1...4 {
                let cat = id("dconv\(level).cat")
                for branch in 1...4 {
                    XCTAssertEqual(plan.aliasedInto[id("dconv\(level).c\(branch).1.mul")]?.concat, cat, "dconv\(level) branch \(branch)")
                }
                XCTAssertNil(plan.floatOffsets[cat], "dconv\(level).cat is read only by an int8 convolution")
                XCTAssertNotNil(plan.byteOffsets[cat])
            }
            for level in 1...3 { XCTAssertEqual(plan.aliasedInto[id("cdfa\(level).up")]?.concat, id("cdfa\(level).cat")) }
            XCTAssertEqual(plan.aliasedInto[id("output_block.up2")]?.concat, id("output_block.cat"))
            // The skip of the middle decoder is a cdfa output that the small decoder's upsample reads too: copied.
            let shared = graph.nodes[id("decoder_middle.cat")].inputs[1]
            XCTAssertNil(plan.aliasedInto[shared], graph.nodes[shared].name)
            // The dconv outputs and the first cdfa output (a convolution) are taps: copied into their concats when
            // kept, in place otherwise.
            for (cat, input) in [("cdfa1.cat", 0), ("decoder_small.cat", 1)] {
                let value = graph.nodes[id(cat)].inputs[input]
                XCTAssertEqual(plan.aliasedInto[value] == nil, keepTaps, "\(graph.nodes[value].name) taps \(keepTaps)")
            }
        }
    }
}
