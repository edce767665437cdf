// QuantizedModelFileTests.swift — a quantized model file (`condseg quantize`) runs the same int8 bits as the float
// model with its calibration table, through the fast int8 executor; the quantized-file round trip through the int8
// reference is checked in CondSegQuantTests/EndToEndTests.swift.

import CondSegCore
import CondSegRuntime
import CondSegTestSupport
import XCTest

final class QuantizedModelFileTests: XCTestCase {
    func testQuantizedModelFileRunsTheSameBits() throws {
        let model = try defaultModel()
        let table = try defaultTable()
        let input = try kvasirInputs(model.config, size: 64, count: 1)[0]
        let bytes = try QuantizedModelFile.serialize(model: model, table: table, tableFile: "table")
        let file = try SafeTensorsFile(bytes: bytes, name: "quantized.safetensors")
        let fromFile = try FastInt8Executor(quantizedFile: file, threads: 2)
        let direct = try FastInt8Executor(model: model, table: table, tableFile: "table", threads: 2)
        XCTAssertEqual(try fromFile.predict(input: input, height: 64, width: 64),
                       try direct.predict(input: input, height: 64, width: 64))
    }

    /// A 7-bit table gives a file whose int8 weights stay within ±63 and which says so; it runs the same bits as the
    /// float model with that table; a file whose metadata contradicts its table, or whose weights leave the range,
    /// is refused naming the file.
    func testSevenBitFileRecordsItsRangeAndRunsTheSameBits() throws {
        let model = try defaultModel()
        var table = try defaultTable()
        table.weightBits = 7
        let input = try kvasirInputs(model.config, size: 64, count: 1)[0]
        let bytes = try QuantizedModelFile.serialize(model: model, table: table, tableFile: "table")
        let file = try SafeTensorsFile(bytes: bytes, name: "q7.safetensors")
        XCTAssertEqual(file.metadata["condseg.weight_bits"], "7")
        let summary = try QuantizedModelFile.summary(of: file)
        XCTAssertEqual(summary.table.weightBits, 7)
        var largest = 0
        for name in file.names where file.entries[name]?.dtype == .i8 {
            largest = max(largest, try file.int8s(name).map { abs(Int($0)) }.max() ?? 0)
        }
        XCTAssertEqual(largest, 63, "7-bit weights reach ±63 and no further")
        let fromFile = try FastInt8Executor(quantizedFile: file, threads: 2)
        let direct = try FastInt8Executor(model: model, table: table, tableFile: "table", threads: 2)
        XCTAssertEqual(try fromFile.predict(input: input, height: 64, width: 64),
                       try direct.predict(input: input, height: 64, width: 64))

        // The same tensors under an 8-bit table's metadata: the file contradicts itself.
        var writer = SafeTensorsWriter(metadata: file.metadata)
        writer.metadata["condseg.weight_bits"] = "8"
        for name in file.names {
            let entry = file.entries[name]!
            if entry.dtype == .i8 { try writer.add(name, int8s: try file.int8s(name), shape: entry.shape) }
            else { try writer.add(name, floats: try file.floats(name), shape: entry.shape) }
        }
        let contradicting = try SafeTensorsFile(bytes: writer.serialize(), name: "contradicting.safetensors")
        XCTAssertThrowsError(try FastInt8Executor(quantizedFile: contradicting, threads: 1)) { error in
            XCTAssertTrue("\(error)".contains("contradicting.safetensors") && "\(error)".contains("weight_bits"), "\(error)")
        }

        // 8-bit weights under a 7-bit table are refused, naming the tensor.
        var table8 = table
        table8.weightBits = 8
        let wide = try SafeTensorsFile(bytes: QuantizedModelFile.serialize(model: model, table: table8, tableFile: "t"), name: "w.safetensors")
        var relabelled = SafeTensorsWriter(metadata: wide.metadata)
        relabelled.metadata["condseg.weight_bits"] = "7"
        relabelled.metadata["condseg.calibration"] = table.text
        for name in wide.names {
            let entry = wide.entries[name]!
            if entry.dtype == .i8 { try relabelled.add(name, int8s: try wide.int8s(name), shape: entry.shape) }
            else { try relabelled.add(name, floats: try wide.floats(name), shape: entry.shape) }
        }
        let outside = try SafeTensorsFile(bytes: relabelled.serialize(), name: "outside.safetensors")
        XCTAssertThrowsError(try FastInt8Executor(quantizedFile: outside, threads: 1)) { error in
            XCTAssertTrue("\(error)".contains("outside.safetensors") && "\(error)".contains("7-bit range"), "\(error)")
        }
    }
}
