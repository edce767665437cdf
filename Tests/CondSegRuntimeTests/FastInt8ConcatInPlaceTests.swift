// FastInt8ConcatInPlaceTests.swift — concat inputs written in place by the fast int8 executor: with the shipped
// table and with an all-float one, on the default model, every step's value (floats and uint8), the value(_:)
// of the values living inside a concat's buffers and the outputs are the same bits as with every concat input
// copied (the path FastInt8ExecutorTests checks op by op against the references), for 1 and 2 threads.

import CondSegCore
import CondSegQuant
import CondSegRuntime
import XCTest

final class FastInt8ConcatInPlaceTests: XCTestCase {
    /// What one run shows its step observer: per node, dense NHWC floats and uint8 (when the step exposes them).
    private struct Observed {
        var floats: [ValueID: [Float]] = [:]
        var bytes: [ValueID: [UInt8]] = [:]
        var values: [ValueID: [Float]] = [:]   // value(_:) read during the step, for values in a concat's buffers
        var output: [Float] = []
    }

    private func run(model: ConDSegModel, table: CalibrationTable, input: [Float], size: Int, threads: Int,
                     inPlace: Bool) throws -> (Observed, Set<ValueID>) {
        let graph = try model.graph()
        let executor = try FastInt8Executor(graph: graph, folded: model.foldedConvolutions(of: graph), config: model.config,
                                            table: table, tableFile: "table", threads: threads)
        executor.concatInPlace = inPlace
        executor.prepare(height: size, width: size)
        let aliased = executor.concatAliasedValueIDs
        var observed = Observed()
        executor.stepObserver = { node, floats, bytes, shape in
            if let floats {
                observed.floats[node.id] = Array(UnsafeBufferPointer(start: floats, count: shape.count))
                if aliased.contains(node.id) { observed.values[node.id] = executor.value(node.id) }
            }
            if let bytes { observed.bytes[node.id] = Array(UnsafeBufferPointer(start: bytes, count: shape.count)) }
        }
        observed.output = try executor.predict(input: input, height: size, width: size)
        return (observed, aliased)
    }

    private func check(table: CalibrationTable, label: String) throws {
        let model = try defaultModel()
        let input = try kvasirInputs(model.config, size: 128, count: 1)[0]
        let graph = try model.graph()
        for threads in [1, 2] {
            let (copied, none) = try run(model: model, table: table, input: input, size: 128, threads: threads, inPlace: false)
            let (inPlace, aliased) = try run(model: model, table: table, input: input, size: 128, threads: threads, inPlace: true)
            XCTAssertTrue(none.isEmpty)
            XCTAssertGreaterThan(aliased.count, 10, "\(label): concat inputs written in place")
            let name = { (id: ValueID) in "\(label), \(threads) threads: \(graph.nodes[id].name)" }
            XCTAssertEqual(inPlace.output.map(\.bitPattern), copied.output.map(\.bitPattern), "\(label), \(threads) threads")
            var compared = 0
            for (id, floats) in inPlace.floats {
                guard let want = copied.floats[id] else { XCTFail("\(name(id)): floats only in place"); continue }
                XCTAssertEqual(floats.map(\.bitPattern), want.map(\.bitPattern), name(id))
                if aliased.contains(id) { compared += 1 }
            }
            for (id, bytes) in inPlace.bytes { XCTAssertEqual(bytes, copied.bytes[id], name(id)) }
            // Every concat shows the same uint8 and floats as when copied (its in-place inputs included).
            for node in graph.nodes {
                guard case .concat = node.kind, copied.floats[node.id] != nil || copied.bytes[node.id] != nil else { continue }
                XCTAssertEqual(inPlace.bytes[node.id], copied.bytes[node.id], name(node.id))
                XCTAssertEqual(inPlace.floats[node.id]?.map(\.bitPattern), copied.floats[node.id]?.map(\.bitPattern), name(node.id))
            }
            XCTAssertGreaterThan(compared, 0, "\(label): no value in a concat's buffer was observed")
            // value(_:) of a value inside a concat's buffer: its own NCHW value.
            for (id, value) in inPlace.values {
                let shape = (c: graph.nodes[id].channels, floats: inPlace.floats[id]!)
                let plane = shape.floats.count / shape.c
                var planar = [Float](repeating: 0, count: shape.floats.count)
                for p in 0..<plane { for c in 0..<shape.c { planar[c * plane + p] = shape.floats[p * shape.c + c] } }
                XCTAssertEqual(value.map(\.bitPattern), planar.map(\.bitPattern), name(id))
            }
        }
    }

    func testConcatInPlaceGivesTheCopyingConcatsBitsWithTheShippedTable() throws {
        try check(table: defaultTable(), label: "shipped table")
    }

    func testConcatInPlaceGivesTheCopyingConcatsBitsWithAnAllFloatTable() throws {
        let table = try defaultTable()
        let allFloat = try CalibrationTable.parse(table.text.replacingOccurrences(of: " int8", with: " float"), file: "all-float")
        try check(table: allFloat, label: "all-float table")
    }
}
