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
}
