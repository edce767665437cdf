// CalibrationTableTests.swift — the calibration table format: exact text round trip (and through a file), a hand
// edit flagging layers float takes effect in the int8 engine, a table for another model is rejected naming both
// hashes, malformed lines name the file and the line, a record naming no tensor of the model is refused, the same images give the same table with 1 or 2 threads, and
// the saved histograms read back exactly, and `# input_size` is recorded, read back (a table without it means the
// model's own size) and warned about when the table runs at another size.

import CondSegCore
import CondSegQuant
import CondSegRuntime
import CondSegTestSupport
import Foundation
import XCTest

final class CalibrationTableTests: XCTestCase {
    var model: ConDSegModel!
    var inputs: [[Float]] = []
    var table: CalibrationTable!

    override func setUpWithError() throws {
        model = try QuantFixtures.tinyModel()
        inputs = try QuantFixtures.inputs(size: 64, config: model.config)
        table = try QuantFixtures.calibrate(model, inputs: inputs, size: 64)
    }

    func testTextRoundTripIsExact() throws {
        let parsed = try CalibrationTable.parse(table.text, file: "t")
        XCTAssertEqual(parsed, table)
        XCTAssertEqual(parsed.text, table.text)
        let path = NSTemporaryDirectory() + "/condseg-table-\(getpid()).txt"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try table.write(to: path)
        XCTAssertEqual(try CalibrationTable.load(path: path), table)
        // Every tensor a convolution reads has a record; repeats of shared layers keep their "#2" names.
        try table.check(graph: model.graph(), file: path)
        XCTAssertTrue(table.entries.contains { $0.name.contains("#2") })
        XCTAssertEqual(table.imageNames, ["image0", "image1", "image2"])
        XCTAssertEqual(table.modelSHA256, model.sha256)
    }

    func testARecordNamingNoTensorOfTheModelIsRefused() throws {
        // A hand-added line with a misspelt tensor name used to be ignored without a word.
        // The error names the line, as the parse errors do: the table's own lines, then this one.
        let text = table.text + "nosuch.tensor 0.03 0 float\n"
        let line = table.text.filter { $0 == "\n" }.count + 1
        let parsed = try CalibrationTable.parse(text, file: "edited.txt")
        XCTAssertThrowsError(try parsed.check(graph: model.graph(), file: "edited.txt")) { error in
            XCTAssertEqual("\(error)", "edited.txt: line \(line): a record names tensor nosuch.tensor, which this model's graph does not have (a misspelt name, or a table of another model)")
        }
    }

    func testImageNamesWithSpacesAtTheirEndsReadTheSameAfterWriting() throws {
        // Found by fuzzing: the last name ended with a space, which the written line lost, so the table read back
        // differed. Names are trimmed when read; empty ones are dropped.
        let text = table.text.replacingOccurrences(of: "# image_names: image0,image1,image2",
                                                   with: "# image_names:  image0 , image1,, ,image2 ,,")
        XCTAssertTrue(text.contains("image2 ,,"), "the names line was not replaced")
        let parsed = try CalibrationTable.parse(text, file: "t")
        XCTAssertEqual(parsed.imageNames, ["image0", "image1", "image2"])
        let again = try CalibrationTable.parse(parsed.text, file: "written")
        XCTAssertEqual(again, parsed)
        XCTAssertEqual(again.text, parsed.text)
    }

    func testTensorNamesOutsideTheBasicPlaneKeepTheirSeparatingSpace() throws {
        // Found by fuzzing: names were padded with Foundation's `padding(toLength:)`, which counts UTF-16 units,
        // to a width counted in Characters; a name of characters beyond U+FFFF (two units each) was written with
        // no space before its scale, and the written table did not read back.
        let header = table.text.split(separator: "\n").filter { $0.hasPrefix("#") }.joined(separator: "\n")
        let text = header + "\n\u{9644B}\u{9644B}t 0.5 3 int8\n"
        let parsed = try CalibrationTable.parse(text, file: "t")
        XCTAssertEqual(parsed.entries.map(\.name), ["\u{9644B}\u{9644B}t"])
        XCTAssertTrue(parsed.text.contains("\u{9644B}\u{9644B}t  0.5 3 int8"), parsed.text)
        let again = try CalibrationTable.parse(parsed.text, file: "written")
        XCTAssertEqual(again, parsed)
    }

    /// `# weight_bits: 7` and `6` are written and read back; an 8-bit table keeps the text of tables made before the
    /// line existed, which read as 8; anything but 6, 7 or 8 is an error naming the file; the calibrator records the
    /// bits.
    func testWeightBitsAreRecordedAndOldTablesMeanEight() throws {
        XCTAssertEqual(table.weightBits, 8)
        XCTAssertFalse(table.text.contains("weight_bits"), "8-bit tables keep the old text")
        var seven = table!
        seven.weightBits = 7
        XCTAssertTrue(seven.text.contains("\n# weight_bits: 7\n"))
        let parsed = try CalibrationTable.parse(seven.text, file: "t7")
        XCTAssertEqual(parsed.weightBits, 7)
        XCTAssertEqual(parsed, seven)
        XCTAssertNotEqual(parsed, table)
        var six = table!
        six.weightBits = 6
        XCTAssertTrue(six.text.contains("\n# weight_bits: 6\n"))
        XCTAssertEqual(try CalibrationTable.parse(six.text, file: "t6"), six)
        XCTAssertNotEqual(six, seven)
        let explicitEight = table.text.replacingOccurrences(of: "# date:", with: "# weight_bits: 8\n# date:")
        XCTAssertEqual(try CalibrationTable.parse(explicitEight, file: "t8").weightBits, 8)
        for bad in ["5", "9", "seven", "16"] {
            let text = table.text.replacingOccurrences(of: "# date:", with: "# weight_bits: \(bad)\n# date:")
            XCTAssertThrowsError(try CalibrationTable.parse(text, file: "bits.txt")) { error in
                XCTAssertTrue("\(error)".hasPrefix("bits.txt: ") && "\(error)".contains("weight_bits '\(bad)'"), "\(error)")
            }
        }
        let calibrator = try Calibrator.run(model: model, count: 1, threads: 1, size: 64, input: { self.inputs[$0] },
                                            names: ["image0"])
        XCTAssertEqual(calibrator.table(method: .minmax, model: model, listFile: "", toolVersion: "t", weightBits: 7).weightBits, 7)
        XCTAssertEqual(calibrator.table(method: .minmax, model: model, listFile: "", toolVersion: "t", weightBits: 6).weightBits, 6)
    }

    /// `# input_size: N` round-trips; a table without it (every table made before it existed, the shipped one
    /// among them) has no recorded size and counts as made at the model file's size; a size off the stride is an
    /// error naming the file; running at another size than the calibrated one gives one warning line.
    func testInputSizeIsRecordedAndOldTablesMeanTheModelsSize() throws {
        XCTAssertNil(table.inputSize)
        XCTAssertFalse(table.text.contains("input_size"), "tables without a size keep the old text")
        var sized = table!
        sized.inputSize = 48
        XCTAssertTrue(sized.text.contains("\n# input_size: 48\n"))
        let parsed = try CalibrationTable.parse(sized.text, file: "s")
        XCTAssertEqual(parsed.inputSize, 48)
        XCTAssertEqual(parsed, sized)
        XCTAssertNotEqual(parsed, table)
        XCTAssertEqual(parsed.text, sized.text)
        for bad in ["50", "0", "-16", "x", "8192"] {
            let text = table.text.replacingOccurrences(of: "# date:", with: "# input_size: \(bad)\n# date:")
            XCTAssertThrowsError(try CalibrationTable.parse(text, file: "size.txt"), bad) { error in
                XCTAssertTrue("\(error)".hasPrefix("size.txt: input_size '\(bad)' is not a positive multiple of 16"), "\(error)")
            }
        }
        // Without a recorded size the model's size is the calibrated one.
        XCTAssertNil(table.sizeWarning(runSize: 64, modelSize: 64, file: "t"))
        XCTAssertEqual(table.sizeWarning(runSize: 32, modelSize: 64, file: "t"),
                       "warning: t: calibrated at 64×64 but running at 32×32: its activation ranges may not fit (calibrate at this size with condseg calibrate --size 32)")
        XCTAssertNil(sized.sizeWarning(runSize: 48, modelSize: 64, file: "s"))
        XCTAssertNotNil(sized.sizeWarning(runSize: 64, modelSize: 64, file: "s"))
        // The table inside a quantized file cannot be calibrated again: the advice is its own size, or quantize again.
        XCTAssertNil(sized.sizeWarning(runSize: 48, modelSize: 64, file: "q", embedded: true))
        XCTAssertEqual(sized.sizeWarning(runSize: 64, modelSize: 64, file: "q (embedded calibration)", embedded: true),
                       "warning: q (embedded calibration): calibrated at 48×48 but running at 64×64: its activation ranges may not fit; run this file at its own size (without --size, or --size 48), or quantize the float model again from a table calibrated at 64 (condseg calibrate --size 64, then condseg quantize)")
    }

    func testStandardPolicyKeepsAttentionLogitsGatesAndLastLayerFloat() throws {
        let graph = try model.graph()
        let engine = try Int8ReferenceExecutor(model: model, table: table, tableFile: "t", threads: 1)
        let int8Names = Set(engine.convolutions.int8NodeIDs.map { graph.nodes[$0].name })
        XCTAssertTrue(int8Names.contains("layer0"))
        XCTAssertTrue(int8Names.contains("cdfa1.v"))
        XCTAssertFalse(int8Names.contains("output_block.c3"))
        XCTAssertFalse(int8Names.contains { $0.hasSuffix(".attn_fg") || $0.hasSuffix(".attn_bg") })
        XCTAssertFalse(int8Names.contains { $0.hasSuffix(".fc1") || $0.hasSuffix(".fc2") || $0.hasSuffix(".sa.conv1") })
        let all = try QuantFixtures.calibrate(model, inputs: inputs, size: 64, policy: .allInt8)
        let everything = try Int8ReferenceExecutor(model: model, table: all, tableFile: "t", threads: 1)
        let convCount = graph.nodes.filter { if case .conv = $0.kind { return true } else { return false } }.count
        XCTAssertEqual(everything.convolutions.int8NodeIDs.count, convCount)
    }

    func testHandEditedFloatFlagsTakeEffect() throws {
        let graph = try model.graph()
        let names = graph.valueNames
        // Flag one tensor float by editing its line as a user would.
        let target = "layer1.1.0.conv1"
        let lines = table.text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            line.hasPrefix(target + " ") ? line.replacingOccurrences(of: " int8", with: " float") : String(line)
        }
        let edited = try CalibrationTable.parse(lines.joined(separator: "\n"), file: "edited")
        XCTAssertEqual(edited.entry(target)?.precision, .float)
        let before = try Int8ReferenceExecutor(model: model, table: table, tableFile: "t", threads: 1).convolutions.int8NodeIDs
        let after = try Int8ReferenceExecutor(model: model, table: edited, tableFile: "edited", threads: 1).convolutions.int8NodeIDs
        let readers = graph.nodes.filter { n in
            if case .conv = n.kind { return names[n.inputs[0]] == target } else { return false }
        }.map(\.id)
        XCTAssertFalse(readers.isEmpty)
        XCTAssertEqual(Set(before).subtracting(after), Set(readers))
        XCTAssertTrue(Set(after).isSubset(of: Set(before)))

        // Everything flagged float: the "int8" engine is the float reference, bit for bit.
        let allFloat = try CalibrationTable.parse(table.text.replacingOccurrences(of: " int8", with: " float"), file: "f")
        let engine = try Int8ReferenceExecutor(model: model, table: allFloat, tableFile: "f", threads: 2)
        XCTAssertTrue(engine.convolutions.int8NodeIDs.isEmpty)
        let reference = try ReferenceExecutor(model: model, threads: 2)
        XCTAssertEqual(try engine.predict(input: inputs[0], height: 64, width: 64),
                       try reference.predict(input: inputs[0], height: 64, width: 64))
        // …and with the int8 layers back, the output differs (the flags are what changed it).
        let int8 = try Int8ReferenceExecutor(model: model, table: table, tableFile: "t", threads: 2)
        XCTAssertNotEqual(try int8.predict(input: inputs[0], height: 64, width: 64),
                          try reference.predict(input: inputs[0], height: 64, width: 64))
    }

    func testTableForAnotherModelIsRejectedNamingBothHashes() throws {
        var other = table!
        other.modelSHA256 = String(repeating: "ab", count: 32)
        let text = other.text
        let reparsed = try CalibrationTable.parse(text, file: "other.txt")
        XCTAssertThrowsError(try Int8ReferenceExecutor(model: model, table: reparsed, tableFile: "other.txt", threads: 1)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("other.txt"), message)
            XCTAssertTrue(message.contains(self.model.sha256), message)
            XCTAssertTrue(message.contains(String(repeating: "ab", count: 32)), message)
        }
    }

    func testMalformedTablesAreClearErrors() {
        let header = "# model_sha256: \(String(repeating: "0", count: 64))\n"
        let cases: [(String, String)] = [
            (header + "layer0 abc 0 int8\n", "line 2: scale 'abc'"),
            (header + "layer0 0.1 300 int8\n", "zero point '300'"),
            (header + "layer0 0.1 0 int4\n", "flag 'int4'"),
            (header + "layer0 0.1 0\n", "line 2: expected"),
            (header + "layer0 0.1 0 int8\nlayer0 0.2 0 int8\n", "listed twice"),
            ("layer0 0.1 0 int8\n", "no '# model_sha256:' header line"),
            (header + "layer0 1e39 0 int8\n", "scale '1e39' of layer0 is outside the float32 range"),
            (header + "layer0 -1 0 int8\n", "scale '-1' of layer0 is not a positive number"),
            ("# model_sha256: zzz\nlayer0 0.1 0 int8\n", "bad.txt: line 1: '# model_sha256: zzz' is not a SHA-256 (64 hexadecimal digits)"),
            ("# condseg calibration table\n\n# model_sha256: zzz\nlayer0 0.1 0 int8\n", "bad.txt: line 3: '# model_sha256: zzz'"),
            ("# model_sha256: \(String(repeating: "g", count: 64))\nlayer0 0.1 0 int8\n", "is not a SHA-256"),
            // A second line for one setting (a value appended by hand): which one counts would be a guess.
            (header + "# weight_bits: 7\nlayer0 0.1 0 int8\n# weight_bits: 8\n", "bad.txt: line 4: '# weight_bits:' appears twice (first on line 2)"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try CalibrationTable.parse(text, file: "bad.txt")) { error in
                XCTAssertTrue("\(error)".hasPrefix("bad.txt: "), "\(error)")
                XCTAssertTrue("\(error)".contains(expected), "\(error) should mention \(expected)")
            }
        }
        XCTAssertThrowsError(try CalibrationTable.load(path: "/nonexistent/table.txt")) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/table.txt"))
        }
        // A table missing a tensor of the graph is refused when the engine is made.
        var partial = table!
        partial.entries.removeAll { $0.name == "layer0" }
        XCTAssertThrowsError(try Int8ReferenceExecutor(model: model, table: partial, tableFile: "partial.txt", threads: 1)) { error in
            XCTAssertTrue("\(error)".contains("layer0"), "\(error)")
        }
    }

    func testSameImagesGiveTheSameTableWithOneOrTwoThreads() throws {
        // The float reference differs in the last bits between 1 and 2 threads; calibration runs one image per
        // single-threaded worker, so the statistics (and every method's table) are identical.
        let names = (0..<inputs.count).map { "image\($0)" }
        let one = try Calibrator.run(model: model, count: inputs.count, threads: 1, size: 64, input: { self.inputs[$0] }, names: names)
        let two = try Calibrator.run(model: model, count: inputs.count, threads: 2, size: 64, input: { self.inputs[$0] }, names: names)
        XCTAssertEqual(one.histograms, two.histograms)
        XCTAssertEqual(one.imageNames, names)
        XCTAssertEqual(two.imageNames, names)
        for method in [CalibrationMethod.minmax, .percentile(99.9), .entropy] {
            let date = Date(timeIntervalSince1970: 0)
            XCTAssertEqual(one.table(method: method, model: model, listFile: "l", date: date, toolVersion: "t").text,
                           two.table(method: method, model: model, listFile: "l", date: date, toolVersion: "t").text, "\(method)")
        }
    }

    func testHistogramFileRoundTripGivesTheSameTables() throws {
        let names = (0..<inputs.count).map { "image \($0)" }
        let calibrator = try Calibrator.run(model: model, count: inputs.count, threads: 2, size: 64, input: { self.inputs[$0] }, names: names)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hist-\(UUID().uuidString).txt").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try calibrator.writeHistograms(to: path, modelSHA256: model.sha256)
        let read = try Calibrator.readHistograms(path: path, graph: try model.graph(), modelSHA256: model.sha256)
        XCTAssertEqual(read.histograms, calibrator.histograms)
        XCTAssertEqual(read.imageNames, names)
        XCTAssertThrowsError(try Calibrator.readHistograms(path: path, graph: try model.graph(), modelSHA256: "other")) { error in
            XCTAssertTrue("\(error)".contains(path) && "\(error)".contains("other"), "\(error)")
        }
    }
}
