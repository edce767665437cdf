// Tests of SafeTensorsWriter: exact bytes for a small known case, writer -> reader round trips for
// every dtype, refusal of inconsistent input, and atomic writes that leave no temp files behind.

import CondSegCore
import CondSegIO
import Foundation
import XCTest

final class WriterWeightsTests: XCTestCase {

    func testSerializeProducesTheDocumentedBytes() throws {
        var writer = SafeTensorsWriter(metadata: ["k": "v"])
        try writer.add("b", int8s: [1, -1], shape: [2])
        try writer.add("a", floats: [1.0], shape: [1])
        // Written by hand from the format description: keys sorted, padded with spaces to a multiple of 8.
        var header = #"{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"#
            + #""b":{"dtype":"I8","shape":[2],"data_offsets":[4,6]}}"#
        while header.utf8.count % 8 != 0 { header += " " }
        let expected = weightsLittleEndian(UInt64(header.utf8.count)) + Array(header.utf8) + [0x00, 0x00, 0x80, 0x3F, 0x01, 0xFF]
        XCTAssertEqual(writer.serialize(), expected)
    }

    func testEmptyWriterMakesAValidEmptyFile() throws {
        let bytes = SafeTensorsWriter().serialize()
        XCTAssertEqual(bytes, weightsLittleEndian(UInt64(8)) + Array("{}      ".utf8))
        let weights = try SafeTensorsFile(bytes: bytes, name: "empty")
        XCTAssertEqual(weights.names, [])
    }

    func testRoundTripOfEveryDtype() throws {
        var generator = SplitMix64(seed: 7)
        let floats = (0..<24).map { _ in Float.random(in: -1000...1000, using: &generator) } + [0, -0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude]
        let int8s = (0..<10).map { _ in Int8.random(in: .min ... .max, using: &generator) } + [.min, .max]
        let int32s = (0..<6).map { _ in Int32.random(in: .min ... .max, using: &generator) } + [.min, .max]
        let int64s = (0..<6).map { _ in Int64.random(in: .min ... .max, using: &generator) } + [.min, .max]
        let uint8s = (0...255).map { UInt8($0) }
        // F16 and BF16 go in as raw little-endian bits; the expected floats come from Swift's own Float16
        // and from the definition of bfloat16 as the top half of a Float.
        let halfBits: [UInt16] = [0x0000, 0x8000, 0x3C00, 0xC100, 0x7BFF, 0x0001, 0x03FF, 0x0400, 0x3555]
        let bfloatBits: [UInt16] = [0x0000, 0x8000, 0x3F80, 0xC049, 0x7F7F, 0x0001]

        var writer = SafeTensorsWriter(metadata: ["model": "test", "quote\"": "line\nbreak\u{1}"])
        try writer.add("conv.weight", floats: floats, shape: [2, 2, 7])
        try writer.add("q.int8", int8s: int8s, shape: [3, 4])
        try writer.add("q.int32", int32s: int32s, shape: [8])
        try writer.add("q.int64", int64s: int64s, shape: [2, 4])
        try writer.add("pixels", uint8s: uint8s, shape: [16, 16])
        try writer.add("half", dtype: .f16, rawBytes: halfBits.flatMap(weightsLittleEndian), shape: [9])
        try writer.add("brain", dtype: .bf16, rawBytes: bfloatBits.flatMap(weightsLittleEndian), shape: [3, 2])
        try writer.add("scalar", floats: [3.5], shape: [])
        try writer.add("nothing", int32s: [], shape: [0, 5])

        let bytes = writer.serialize()
        let weights = try SafeTensorsFile(bytes: bytes, name: "roundtrip")
        XCTAssertEqual(weights.metadata, writer.metadata)
        XCTAssertEqual(try weights.floats("conv.weight").map(\.bitPattern), floats.map(\.bitPattern))
        XCTAssertEqual(try weights.entry("conv.weight").shape, [2, 2, 7])
        XCTAssertEqual(try weights.int8s("q.int8"), int8s)
        XCTAssertEqual(try weights.int32s("q.int32"), int32s)
        XCTAssertEqual(try weights.int64s("q.int64"), int64s)
        XCTAssertEqual(try weights.entry("q.int64").shape, [2, 4])
        XCTAssertEqual(try weights.uint8s("pixels"), uint8s)
        XCTAssertEqual(try weights.entry("half").dtype, .f16)
        XCTAssertEqual(try weights.rawBytes("half"), halfBits.flatMap(weightsLittleEndian))
        #if arch(x86_64) || arch(arm64)
        XCTAssertEqual(try weights.floats("half").map(\.bitPattern), halfBits.map { Float(Float16(bitPattern: $0)).bitPattern })
        #endif
        XCTAssertEqual(try weights.entry("brain").dtype, .bf16)
        XCTAssertEqual(try weights.floats("brain").map(\.bitPattern), bfloatBits.map { UInt32($0) << 16 })
        XCTAssertEqual(try weights.floats("scalar"), [3.5])
        XCTAssertEqual(try weights.entry("scalar").shape, [])
        XCTAssertEqual(try weights.int32s("nothing"), [])
        XCTAssertEqual(try weights.entry("nothing").shape, [0, 5])

        // Every tensor is aligned to its element size within the file.
        let headerLength = Int(bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        XCTAssertEqual(headerLength % 8, 0)
        for name in weights.names {
            let entry = try weights.entry(name)
            XCTAssertEqual((8 + headerLength + entry.offset) % entry.dtype.byteSize, 0, name)
        }
        // The header keys are in sorted order, checked on the raw JSON text.
        let headerText = String(decoding: bytes[8..<(8 + headerLength)], as: UTF8.self)
        let positions = ["__metadata__", "brain", "conv.weight", "half", "nothing", "pixels", "q.int32", "q.int64", "q.int8", "scalar"]
            .map { headerText.range(of: "\"\($0)\":")!.lowerBound }
        XCTAssertEqual(positions, positions.sorted())
    }

    func testAddRefusesInconsistentTensors() throws {
        var writer = SafeTensorsWriter()
        try writer.add("w", floats: [1, 2, 3, 4, 5, 6], shape: [2, 3])
        let checks: [(String, (inout SafeTensorsWriter) throws(WeightsError) -> Void, String, [String])] = [
            ("count", { w throws(WeightsError) in try w.add("x", floats: [1, 2, 3], shape: [2, 2]) }, "x", ["[2, 2]", "4", "3"]),
            ("duplicate", { w throws(WeightsError) in try w.add("w", int8s: [1], shape: [1]) }, "w", ["already added"]),
            ("reserved", { w throws(WeightsError) in try w.add("__metadata__", uint8s: [1], shape: [1]) }, "__metadata__", ["reserved"]),
            ("negative", { w throws(WeightsError) in try w.add("n", int32s: [], shape: [-1, 0]) }, "n", ["negative dimension -1"]),
            ("overflow", { w throws(WeightsError) in try w.add("o", int64s: [1], shape: [Int.max, 2]) }, "o", ["overflows"]),
            ("nan", { w throws(WeightsError) in try w.add("f", floats: [0, .nan], shape: [2]) }, "f", ["element 1", "NaN"]),
            ("inf", { w throws(WeightsError) in try w.add("g", floats: [-.infinity], shape: [1]) }, "g", ["element 0", "-Inf"]),
            ("half inf", { w throws(WeightsError) in try w.add("h", dtype: .f16, rawBytes: [0x00, 0x7C], shape: [1]) }, "h", ["+Inf"]),
            ("raw size", { w throws(WeightsError) in try w.add("r", dtype: .i32, rawBytes: [1, 2, 3], shape: [1]) }, "r", ["[1]"]),
        ]
        for (label, call, tensor, mentions) in checks {
            do throws(WeightsError) {
                try call(&writer)
                XCTFail("\(label): no error")
            } catch {
                assertWeightsError(error, file: SafeTensorsWriter.errorSource, tensor: tensor, mentions: mentions)
            }
        }
        // The refused tensors were not added.
        let weights = try SafeTensorsFile(bytes: writer.serialize(), name: "after-errors")
        XCTAssertEqual(weights.names, ["w"])
    }

    func testWriteIsAtomicAndLeavesNoTempFiles() throws {
        let directory = try makeWeightsTestDirectory(for: self)
        let path = directory.appendingPathComponent("model.safetensors").path
        var writer = SafeTensorsWriter(metadata: ["v": "1"])
        try writer.add("w", floats: [1, 2], shape: [2])
        try writer.write(to: path)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["model.safetensors"])
        XCTAssertEqual([UInt8](try XCTUnwrap(FileManager.default.contents(atPath: path))), writer.serialize())

        // Replacing an existing file.
        writer.metadata["v"] = "2"
        try writer.write(to: path)
        XCTAssertEqual(try SafeTensorsFile(path: path).metadata, ["v": "2"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["model.safetensors"])

        // A folder that does not exist.
        let nowhere = directory.appendingPathComponent("missing/model.safetensors").path
        do throws(OutputError) {
            try writer.write(to: nowhere)
            XCTFail("writing into a missing folder succeeded")
        } catch {
            XCTAssertEqual(error, OutputError(path: nowhere, problem: "folder \(directory.path)/missing does not exist"))
        }

        // The destination is a directory: refused before anything is written, the directory stays.
        let occupied = directory.appendingPathComponent("occupied")
        try FileManager.default.createDirectory(at: occupied, withIntermediateDirectories: false)
        try Data([1]).write(to: occupied.appendingPathComponent("inside"))
        do throws(OutputError) {
            try writer.write(to: occupied.path)
            XCTFail("writing over a directory succeeded")
        } catch {
            XCTAssertEqual(error, OutputError(path: occupied.path, problem: "is a folder; a file name is expected"))
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted(), ["model.safetensors", "occupied"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: occupied.path), ["inside"])
    }
}
