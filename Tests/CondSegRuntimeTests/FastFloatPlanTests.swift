// FastFloatPlanTests.swift — the fast float executor's schedule and memory plan, checked against lifetimes this
// test derives from the graph on its own: no two values alive at the same step share memory (except an input
// planned in place inside its concat's buffer, at its channel offset), every live value fits in the arena, the
// arena holds at least the largest set of values alive together, and memory is reused (the arena is smaller than
// all values side by side). Also the fusion itself: which convolutions are fused, and that fusion and in-place
// concatenation leave less to store than the reference's plan.

import CondSegCore
@testable import CondSegRuntime
import CondSegTestSupport
import XCTest

final class FastFloatPlanTests: XCTestCase {
    private func tinyModel() throws -> (ConDSegModel, [Float]) {
        let model = try ConDSegModel.load(path: fixturePath("reference/tiny-weights.safetensors"))
        let golden = try SafeTensorsFile(path: fixturePath("reference/tiny-forward.safetensors"))
        return (model, try golden.floats("input_bgr"))
    }

    private func defaultGraph() throws -> Graph {
        let path = repositoryRoot.appendingPathComponent("models/condseg-r18w64-kvasir.safetensors").path
        guard FileManager.default.fileExists(atPath: path) else { throw FixtureMissing(path: path) }
        return try ConDSegModel.load(path: path).graph()
    }

    /// Checks `plan` of `graph` (made for `targets` and `pinned`) against lifetimes derived here.
    private func checkMemory(_ plan: FastFloatPlan, graph: Graph, targets: [ValueID], pinned: Set<ValueID>,
                             file: StaticString = #filePath, line: UInt = #line) {
        let kept = Set(targets).union(pinned)
        // Lifetime of every stored value: from the step that writes it to the last step that reads it.
        var written: [ValueID: Int] = [:], lastRead: [ValueID: Int] = [:]
        for (index, step) in plan.steps.enumerated() {
            written[step.node] = index
            let node = graph.nodes[step.node]
            let reads = step.fusedConv.map { graph.nodes[$0].inputs + node.inputs.dropFirst() } ?? node.inputs
            for r in reads { lastRead[r] = index }
            // Everything a step reads is stored (a fused convolution is read by nobody).
            for r in reads { XCTAssertNotNil(plan.offsets[r], "\(graph.nodes[r].name) read but not stored", file: file, line: line) }
        }
        for id in kept { XCTAssertNotNil(plan.offsets[id], "kept value \(graph.nodes[id].name) has no buffer", file: file, line: line) }
        struct Block { let id: ValueID; let begin: Int; let end: Int; let first: Int; let last: Int }
        var blocks: [Block] = []
        for (id, step) in written {
            guard let offset = plan.offsets[id], let shape = plan.shapes[id] else {
                XCTFail("step \(graph.nodes[id].name) has no buffer", file: file, line: line); continue
            }
            let last = kept.contains(id) ? Int.max : max(step, lastRead[id] ?? step)
            blocks.append(Block(id: id, begin: offset, end: offset + shape.count, first: step, last: last))
            XCTAssertLessThanOrEqual(offset + shape.count, plan.arenaCount, file: file, line: line)
        }
        // Inputs planned inside their concat's buffer, with where they must sit.
        var sliceOf: [ValueID: (concat: ValueID, offset: Int)] = [:]
        for (concat, flags) in plan.concatInPlace {
            var channel = 0
            for (k, input) in graph.nodes[concat].inputs.enumerated() {
                if flags[k] { sliceOf[input] = (concat, channel * plan.shapes[concat]!.plane) }
                channel += plan.shapes[input]!.c
            }
        }
        for (input, slice) in sliceOf {
            XCTAssertEqual(plan.offsets[input], plan.offsets[slice.concat]! + slice.offset,
                           "\(graph.nodes[input].name) is not at its place in \(graph.nodes[slice.concat].name)",
                           file: file, line: line)
        }
        let overlaps = overlappingLiveBlocks(blocks.map {
            LiveBlock(id: $0.id, name: graph.nodes[$0.id].name, begin: $0.begin, end: $0.end, first: $0.first, last: $0.last)
        }) { a, b in sliceOf[a.id]?.concat == b.id || sliceOf[b.id]?.concat == a.id }
        XCTAssertTrue(overlaps.isEmpty, "live values share memory: \(overlaps.prefix(5))", file: file, line: line)
        // The arena holds the largest set of values alive at one step (a slice counts within its concat).
        var largest = 0
        for index in plan.steps.indices {
            let live = blocks.filter { $0.first <= index && index <= $0.last }
            let liveIDs = Set(live.map(\.id))
            largest = max(largest, live.filter { sliceOf[$0.id].map { !liveIDs.contains($0.concat) } ?? true }
                .reduce(0) { $0 + $1.end - $1.begin })
        }
        XCTAssertGreaterThan(largest, 0, file: file, line: line)
        XCTAssertGreaterThanOrEqual(plan.arenaCount, largest, file: file, line: line)
        // Memory is reused: all stored values side by side need more than the arena.
        let everything = blocks.filter { sliceOf[$0.id] == nil }.reduce(0) { $0 + $1.end - $1.begin }
        XCTAssertLessThan(plan.arenaCount, everything, file: file, line: line)
    }

    func testTinyModelPlanKeepsLiveValuesApartAndReusesMemory() throws {
        let (model, _) = try tinyModel()
        for auxiliaryHead in [false, true] {
            let graph = try model.graph(auxiliaryHead: auxiliaryHead)
            for keepTaps in [false, true] {
                let (targets, pinned) = graph.kept(keepTaps: keepTaps)
                for size in [64, 96] {
                    let plan = FastFloatPlan(graph: graph, height: size, width: size, targets: targets, pinned: pinned)
                    checkMemory(plan, graph: graph, targets: targets, pinned: pinned)
                }
            }
        }
    }

    func testDefaultModelPlanKeepsLiveValuesApartAndReusesMemory() throws {
        let graph = try defaultGraph()
        let (targets, pinned) = graph.kept(keepTaps: false)
        let plan = FastFloatPlan(graph: graph, height: 256, width: 256, targets: targets, pinned: pinned)
        checkMemory(plan, graph: graph, targets: targets, pinned: pinned)
        XCTAssertFalse(plan.concatInPlace.values.allSatisfy { $0.allSatisfy { !$0 } }, "no concat input planned in place")
    }

    func testFusesOnlyConvolutionsReadOnceByTheirAddWithoutReLU() throws {
        let (model, _) = try tinyModel()
        let graph = try model.graph()
        let (targets, pinned) = graph.kept(keepTaps: true)
        let plan = FastFloatPlan(graph: graph, height: 64, width: 64, targets: targets, pinned: pinned)
        let readers = graph.useCounts()
        XCTAssertFalse(plan.fusedConvolutions.isEmpty)
        for conv in plan.fusedConvolutions {
            guard case .conv(let spec) = graph.nodes[conv].kind else { XCTFail("fused a non-convolution"); continue }
            XCTAssertFalse(spec.relu, graph.nodes[conv].name)
            XCTAssertEqual(readers[conv], 1, graph.nodes[conv].name)
            XCTAssertFalse(pinned.contains(conv) || targets.contains(conv), graph.nodes[conv].name)
            let fusedSteps = plan.steps.filter { $0.fusedConv == conv }
            XCTAssertEqual(fusedSteps.count, 1, graph.nodes[conv].name)
            if let add = fusedSteps.first.map({ graph.nodes[$0.node] }) {
                if case .add = add.kind {} else { XCTFail("\(graph.nodes[conv].name) fused into \(add.name), not an add") }
                XCTAssertEqual(add.inputs.first, conv)
            }
            XCTAssertNil(plan.offsets[conv], "a fused convolution has no buffer")
            XCTAssertFalse(plan.steps.contains { $0.node == conv }, "a fused convolution has no step of its own")
        }
    }

    func testPlanFusesAddsAndConcatenatesInPlace() throws {
        let (model, input) = try tinyModel()
        let fast = try FastFloatExecutor(model: model, threads: 1)
        let reference = try ReferenceExecutor(model: model, threads: 1)
        try fast.run(input: input, height: 64, width: 64)
        try reference.run(input: input, height: 64, width: 64)
        // Residual convolutions of the encoder and the decoder blocks' c2/c3/c4 are fused.
        let fusedNames = Set(fast.fusedConvolutionIDs.map { fast.graph.nodes[$0].name })
        XCTAssertTrue(fusedNames.contains("layer1.1.0.conv2"), "\(fusedNames)")
        XCTAssertTrue(fusedNames.contains("decoder_small.c4"), "\(fusedNames)")
        // Fusion and in-place concatenation leave less to store than the reference's plan.
        XCTAssertLessThan(fast.plannedBytes, reference.plannedBytes)
    }
}
