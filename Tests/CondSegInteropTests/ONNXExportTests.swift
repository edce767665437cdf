// ONNXExportTests.swift — exported ONNX files read back with an independent wire-format reader: the ModelProto
// header (IR version, opset, metadata), the graph's input and output, one Conv per convolution of the graph,
// every node input defined before use, and with a calibration table the QDQ structure the table asks for
// (quantized inputs exactly for the convolutions it runs in int8, per-channel int8 weights). The numbers
// themselves are checked against ONNX Runtime by scripts/onnx_check.py.

import CondSegCore
import CondSegRuntime
import CondSegTestSupport
@testable import CondSegInterop
import XCTest

final class ONNXExportTests: XCTestCase {
    struct Decoded {
        var irVersion: UInt64 = 0
        var opset: UInt64 = 0
        var metadata: [String: String] = [:]
        var nodes: [(op: String, inputs: [String], outputs: [String], attributes: [String: [WireField]])] = []
        var initializers: [String: (type: UInt64, dims: [Int], raw: ArraySlice<UInt8>)] = [:]
        var inputs: [(String, [Int])] = []
        var outputs: [(String, [Int])] = []
    }

    func decode(_ bytes: [UInt8]) throws -> Decoded {
        var d = Decoded()
        let model = try decodeWire(bytes[...])
        d.irVersion = model.first(1)?.varint ?? 0
        let opset = try XCTUnwrap(model.first(8)).message
        XCTAssertEqual(opset.first(1)?.string ?? "", "")
        d.opset = opset.first(2)?.varint ?? 0
        for entry in model.all(14) { d.metadata[entry.message.first(1)!.string] = entry.message.first(2)!.string }
        let graph = try XCTUnwrap(model.first(7)).message
        for n in graph.all(1) {
            let m = n.message
            var attributes: [String: [WireField]] = [:]
            for a in m.all(5) { attributes[a.message.first(1)!.string] = a.message }
            d.nodes.append((m.first(4)!.string, m.all(1).map(\.string), m.all(2).map(\.string), attributes))
        }
        for t in graph.all(5) {
            let m = t.message
            d.initializers[m.first(8)!.string] = (m.first(2)!.varint!, m.all(1).map { Int($0.varint!) }, m.first(9)?.bytes ?? [])
        }
        func valueInfo(_ f: WireField) -> (String, [Int]) {
            let m = f.message
            let tensor = m.first(2)!.message.first(1)!.message
            XCTAssertEqual(tensor.first(1)?.varint, 1)   // float
            let dims = tensor.first(2)!.message.all(1).map { Int($0.message.first(1)!.varint!) }
            return (m.first(1)!.string, dims)
        }
        d.inputs = graph.all(11).map(valueInfo)
        d.outputs = graph.all(12).map(valueInfo)
        return d
    }

    /// Every node input is "", an initializer, the graph input or an earlier node's output; the output is produced.
    func assertWellFormed(_ d: Decoded, file: StaticString = #filePath, line: UInt = #line) {
        var defined = Set(d.initializers.keys).union(d.inputs.map(\.0))
        defined.insert("")
        for node in d.nodes {
            for input in node.inputs where !defined.contains(input) {
                XCTFail("\(node.op) reads \(input) before it is defined", file: file, line: line)
            }
            for output in node.outputs {
                XCTAssertFalse(defined.contains(output), "\(output) defined twice", file: file, line: line)
                defined.insert(output)
            }
        }
        XCTAssertTrue(defined.contains("mask"), file: file, line: line)
    }

    func defaultModel() throws -> ConDSegModel {
        try ConDSegModel.load(path: repositoryRoot.appendingPathComponent("models/condseg-r18w64-kvasir.safetensors").path)
    }

    func testFloatExportStructure() throws {
        let model = try defaultModel()
        let result = try ONNXExport.export(model: model, table: nil, producerVersion: "test")
        let d = try decode(result.bytes)
        XCTAssertEqual(d.irVersion, 7)
        XCTAssertEqual(d.opset, 13)
        XCTAssertEqual(d.metadata["condseg.encoder"], "resnet18")
        XCTAssertEqual(d.metadata["condseg.model_sha256"], model.sha256)
        XCTAssertEqual(d.inputs.map(\.0), ["image"])
        XCTAssertEqual(d.inputs.first?.1, [1, 3, 256, 256])
        XCTAssertEqual(d.outputs.map(\.0), ["mask"])
        XCTAssertEqual(d.outputs.first?.1, [1, 1, 256, 256])
        assertWellFormed(d)
        let graph = try model.graph()
        let convs = graph.nodes.filter { if case .conv = $0.kind { return true } else { return false } }
        XCTAssertEqual(d.nodes.filter { $0.op == "Conv" }.count, convs.count)
        XCTAssertEqual(result.convolutions, convs.count)
        XCTAssertFalse(d.nodes.contains { $0.op == "QuantizeLinear" || $0.op == "DequantizeLinear" })
        // The first convolution's weights are the reference's folded weights, bit for bit.
        let layer0 = try XCTUnwrap(d.nodes.first { $0.op == "Conv" })
        let folded = try model.fold(try XCTUnwrap(convs.first.flatMap { node -> ConvSpec? in if case .conv(let s) = node.kind { return s } else { return nil } }))
        let w = try XCTUnwrap(d.initializers[layer0.inputs[1]])
        XCTAssertEqual(w.dims, [64, 3, 7, 7])
        XCTAssertEqual(Array(w.raw), folded.weights.withUnsafeBytes { Array($0) })
        // One Softmax per window attention (8: two per CDFA).
        XCTAssertEqual(d.nodes.filter { $0.op == "Softmax" }.count,
                       graph.nodes.filter { if case .windowAttention = $0.kind { return true } else { return false } }.count)
    }

    func testQDQExportFollowsTheTable() throws {
        let model = try defaultModel()
        let tablePath = repositoryRoot.appendingPathComponent("calibration/condseg-r18w64-kvasir.table.txt").path
        let table = try CalibrationTable.load(path: tablePath)
        let result = try ONNXExport.export(model: model, table: table, tableFile: tablePath, producerVersion: "test")
        let d = try decode(result.bytes)
        assertWellFormed(d)
        XCTAssertEqual(d.metadata["condseg.quantized"], "qdq-int8")
        let graph = try model.graph()
        let names = graph.valueNames
        var int8Inputs = Set<String>(), int8Convs = 0
        for node in graph.nodes {
            guard case .conv = node.kind, table.entry(names[node.inputs[0]])?.precision == .int8 else { continue }
            int8Inputs.insert(names[node.inputs[0]])
            int8Convs += 1
        }
        XCTAssertGreaterThan(int8Convs, 0)
        XCTAssertEqual(result.int8Convolutions, int8Convs)
        let quantize = d.nodes.filter { $0.op == "QuantizeLinear" }
        XCTAssertEqual(quantize.count, int8Inputs.count)
        for q in quantize {
            let tensor = q.inputs[0] == "image" ? "input" : q.inputs[0]
            let entry = try XCTUnwrap(table.entry(tensor), tensor)
            let scale = try XCTUnwrap(d.initializers[q.inputs[1]])
            XCTAssertEqual(scale.raw.withUnsafeBytes { $0.loadUnaligned(as: Float.self) }, entry.quantization.scale, tensor)
            let zero = try XCTUnwrap(d.initializers[q.inputs[2]])
            XCTAssertEqual(zero.type, 2)   // uint8
            XCTAssertEqual(Int32(zero.raw.first!), entry.quantization.zeroPoint, tensor)
        }
        // Convolutions reading a float-flagged tensor read it directly; int8 ones read a DequantizeLinear.
        let producers = Dictionary(d.nodes.flatMap { n in n.outputs.map { ($0, n.op) } }, uniquingKeysWith: { a, _ in a })
        let convNodes = d.nodes.filter { $0.op == "Conv" }
        XCTAssertEqual(convNodes.filter { producers[$0.inputs[0]] == "DequantizeLinear" }.count, int8Convs)
        // Int8 weights are per output channel on axis 0.
        for conv in convNodes where producers[conv.inputs[0]] == "DequantizeLinear" {
            let dq = try XCTUnwrap(d.nodes.first { $0.outputs == [conv.inputs[1]] })
            XCTAssertEqual(dq.op, "DequantizeLinear")
            XCTAssertEqual(dq.attributes["axis"]?.first(3)?.varint, 0)
            let values = try XCTUnwrap(d.initializers[dq.inputs[0]])
            XCTAssertEqual(values.type, 3)   // int8
            XCTAssertEqual(d.initializers[dq.inputs[1]]?.dims, [values.dims[0]])
        }
    }
}
