// QuantizedModelFileTests.swift — a quantized model file (`condseg quantize`) runs the same int8 bits as the float
// model with its calibration table, through the fast int8 executor; the quantized-file round trip through the int8
// reference is checked in CondSegQuantTests/EndToEndTests.swift. A file made from a table calibrated at another size
// runs at the table's size and keeps the size the float model was trained for; the loader warns when either path
// runs a table at another size than it was calibrated at.

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

    func testAFileFromATableAtAnotherSizeRunsAtTheTablesSize() throws {
        let model = try defaultModel()
        var table = try defaultTable()
        XCTAssertNil(table.inputSize, "the shipped table predates the input_size line")
        let plain = try SafeTensorsFile(bytes: try QuantizedModelFile.serialize(model: model, table: table, tableFile: "t"), name: "q")
        XCTAssertEqual(plain.metadata["condseg.input_size"], String(model.trainedInputSize))
        XCTAssertNil(plain.metadata["condseg.trained_input_size"])

        table.inputSize = 192
        let file = try SafeTensorsFile(bytes: try QuantizedModelFile.serialize(model: model, table: table, tableFile: "t"), name: "q192")
        XCTAssertEqual(file.metadata["condseg.input_size"], "192")
        XCTAssertEqual(file.metadata["condseg.trained_input_size"], String(model.trainedInputSize))
        let summary = try QuantizedModelFile.summary(of: file)
        XCTAssertEqual(summary.config.inputSize, 192)
        XCTAssertEqual(summary.trainedInputSize, 256)
        XCTAssertEqual(try FastInt8Executor(quantizedFile: file, threads: 1).config.inputSize, 192)
        XCTAssertEqual(try FastInt8Executor(quantizedFile: file, threads: 1, inputSize: 64).config.inputSize, 64)
    }

    func testTheLoaderRunsAtTheAskedSizeAndWarnsWhenTheTableWasMadeAtAnother() throws {
        let modelPath = repositoryRoot.appendingPathComponent("models/condseg-r18w64-kvasir.safetensors").path
        let tablePath = repositoryRoot.appendingPathComponent("calibration/condseg-r18w64-kvasir.table.txt").path
        let float = try LoadedEngine.load(modelPath: modelPath, calibration: nil, kind: .fast, threads: 1, inputSize: 64)
        XCTAssertEqual(float.config.inputSize, 64)
        XCTAssertEqual(float.trainedInputSize, 256)
        XCTAssertNil(float.sizeWarning, "float has no table to misfit")
        let native = try LoadedEngine.load(modelPath: modelPath, calibration: tablePath, kind: .fast, threads: 1)
        XCTAssertEqual(native.calibratedInputSize, 256)
        XCTAssertNil(native.sizeWarning)
        let smaller = try LoadedEngine.load(modelPath: modelPath, calibration: tablePath, kind: .reference, threads: 1, inputSize: 64)
        XCTAssertEqual(smaller.config.inputSize, 64)
        XCTAssertEqual(smaller.sizeWarning?.hasPrefix("warning: \(tablePath): calibrated at 256×256 but running at 64×64"), true,
                       smaller.sizeWarning ?? "no warning")
    }

    /// A 6-bit table gives a file whose int8 weights stay within ±31 and which says so; it runs the same bits as the
    /// float model with that table; 7-bit weights relabelled as 6-bit are refused, naming the file and the range.
    func testSixBitFileRecordsItsRangeAndRunsTheSameBits() throws {
        let model = try defaultModel()
        var table = try defaultTable()
        table.weightBits = 6
        let input = try kvasirInputs(model.config, size: 64, count: 1)[0]
        let file = try SafeTensorsFile(bytes: QuantizedModelFile.serialize(model: model, table: table, tableFile: "table"),
                                       name: "q6.safetensors")
        XCTAssertEqual(file.metadata["condseg.weight_bits"], "6")
        XCTAssertEqual(try QuantizedModelFile.summary(of: file).table.weightBits, 6)
        var largest = 0
        for name in file.names where file.entries[name]?.dtype == .i8 {
            largest = max(largest, try file.int8s(name).map { abs(Int($0)) }.max() ?? 0)
        }
        XCTAssertEqual(largest, 31, "6-bit weights reach ±31 and no further")
        let fromFile = try FastInt8Executor(quantizedFile: file, threads: 2)
        let direct = try FastInt8Executor(model: model, table: table, tableFile: "table", threads: 2)
        XCTAssertEqual(try fromFile.predict(input: input, height: 64, width: 64),
                       try direct.predict(input: input, height: 64, width: 64))

        var table7 = table
        table7.weightBits = 7
        let wider = try SafeTensorsFile(bytes: QuantizedModelFile.serialize(model: model, table: table7, tableFile: "t"), name: "w7.safetensors")
        var relabelled = SafeTensorsWriter(metadata: wider.metadata)
        relabelled.metadata["condseg.weight_bits"] = "6"
        relabelled.metadata["condseg.calibration"] = table.text
        for name in wider.names {
            let entry = wider.entries[name]!
            if entry.dtype == .i8 { try relabelled.add(name, int8s: try wider.int8s(name), shape: entry.shape) }
            else { try relabelled.add(name, floats: try wider.floats(name), shape: entry.shape) }
        }
        let outside = try SafeTensorsFile(bytes: relabelled.serialize(), name: "outside6.safetensors")
        XCTAssertThrowsError(try FastInt8Executor(quantizedFile: outside, threads: 1)) { error in
            XCTAssertTrue("\(error)".contains("outside6.safetensors") && "\(error)".contains("6-bit range ±31"), "\(error)")
        }
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
