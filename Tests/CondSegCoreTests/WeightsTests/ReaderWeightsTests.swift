// Tests of SafeTensorsFile: the file written by Python's safetensors loads with the values numpy
// recorded, and every kind of malformed file crafted by hand is rejected with a one-line
// WeightsError naming the file and the tensor, never a crash.

import CondSegCore
import CondSegIO
import Foundation
import XCTest

final class ReaderWeightsTests: XCTestCase {

    // MARK: Python fixture

    func testPythonWrittenFileLoadsWithNumpyValues() throws {
        let bytes = [UInt8](try weightsFixture("python-dtypes.safetensors"))
        let expectedJSON = try weightsFixture("python-dtypes.expected.json")
        let expected = try XCTUnwrap(JSONSerialization.jsonObject(with: expectedJSON) as? [String: Any])
        let expectedTensors = try XCTUnwrap(expected["tensors"] as? [String: [String: Any]])
        let expectedMetadata = try XCTUnwrap(expected["metadata"] as? [String: String])

        let weights = try SafeTensorsFile(bytes: bytes, name: "python-dtypes.safetensors")
        XCTAssertEqual(weights.metadata, expectedMetadata)
        XCTAssertEqual(Set(weights.entries.keys), Set(expectedTensors.keys))
        XCTAssertEqual(Set(DType.allCases.map(\.rawValue)),
                       Set(expectedTensors.values.compactMap { $0["dtype"] as? String }),
                       "the fixture should cover every dtype")

        for (name, description) in expectedTensors {
            let entry = try weights.entry(name)
            XCTAssertEqual(entry.dtype.rawValue, description["dtype"] as? String, name)
            XCTAssertEqual(entry.shape, description["shape"] as? [Int], name)
            if let bitStrings = description["float32_bits"] as? [String] {
                let expectedBits = bitStrings.map { UInt32($0.dropFirst(2), radix: 16)! }
                XCTAssertEqual(try weights.floats(name).map(\.bitPattern), expectedBits, name)
                XCTAssertEqual(try weights.floats(name, shape: entry.shape).count, expectedBits.count, name)
                continue
            }
            let integers = try XCTUnwrap(description["integers"] as? [String], name)
            switch entry.dtype {
            case .i64: XCTAssertEqual(try weights.int64s(name), integers.map { Int64($0)! }, name)
            case .i32: XCTAssertEqual(try weights.int32s(name), integers.map { Int32($0)! }, name)
            case .i8: XCTAssertEqual(try weights.int8s(name), integers.map { Int8($0)! }, name)
            case .u8: XCTAssertEqual(try weights.uint8s(name), integers.map { UInt8($0)! }, name)
            case .f32, .f16, .bf16: XCTFail("float tensor \(name) without float32_bits")
            }
        }
    }

    func testPythonFixtureNamesAreInDataOffsetOrderAndTileTheData() throws {
        let bytes = [UInt8](try weightsFixture("python-dtypes.safetensors"))
        let weights = try SafeTensorsFile(bytes: bytes, name: "python-dtypes.safetensors")
        // Independent reading of the header with JSONSerialization.
        let headerLength = Int(bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + headerLength)])) as? [String: Any])
        var offsets: [(name: String, begin: Int, end: Int)] = []
        for (name, value) in header where name != "__metadata__" {
            let offsetPair = try XCTUnwrap((value as? [String: Any])?["data_offsets"] as? [Int])
            offsets.append((name, offsetPair[0], offsetPair[1]))
        }
        offsets.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        XCTAssertEqual(weights.names, offsets.map(\.name))
        for item in offsets {
            let entry = try weights.entry(item.name)
            XCTAssertEqual(entry.offset, item.begin)
            XCTAssertEqual(entry.byteCount, item.end - item.begin)
            XCTAssertEqual(try weights.rawBytes(item.name), Array(bytes[(8 + headerLength + item.begin)..<(8 + headerLength + item.end)]))
        }
        XCTAssertEqual(try weights.entry("scalar").elementCount, 1)
        XCTAssertEqual(try weights.entry("empty").elementCount, 0)
        XCTAssertEqual(try weights.floats("empty"), [])
    }

    func testReadsFromPathAndNamesThePathInErrors() throws {
        let path = weightsFixtureDirectory.appendingPathComponent("python-dtypes.safetensors").path
        let weights = try SafeTensorsFile(path: path)
        XCTAssertEqual(weights.name, path)
        XCTAssertEqual(try weights.int8s("i8.values"), [-128, 127, 0, -1])
        do throws(WeightsError) {
            _ = try weights.floats("not.there")
            XCTFail("lookup of a missing tensor succeeded")
        } catch {
            assertWeightsError(error, file: path, tensor: "not.there", mentions: ["missing tensor"])
        }

        let directory = try makeWeightsTestDirectory(for: self)
        let missing = directory.appendingPathComponent("absent.safetensors").path
        do throws(WeightsError) {
            _ = try SafeTensorsFile(path: missing)
            XCTFail("opening a missing file succeeded")
        } catch {
            assertWeightsError(error, file: missing, tensor: nil, mentions: ["cannot open", "No such file"])
        }
        do throws(WeightsError) {
            _ = try SafeTensorsFile(path: directory.path)
            XCTFail("opening a directory succeeded")
        } catch {
            assertWeightsError(error, file: directory.path, tensor: nil, mentions: ["not a regular file"])
        }
    }

    func testAFileWhoseHeaderDoesNotFitItIsRefusedBeforeItIsRead() throws {
        // Found by new-user trials: a 1 GiB file whose length field claimed 200 MB, or whose valid header described
        // 1 byte of data, was read into memory whole (1 GB resident) before being refused. The reader now checks the
        // length field, then the header against the file's size, before reading the data. The file is
        // sparse (no disk used) and larger than this process's peak resident memory so far by at least 512 MiB,
        // so reading it would raise the peak by that much.
        func peakResidentBytes() -> Int {
            var usage = rusage()
            getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
            return usage.ru_maxrss * 1024
        }
        let before = peakResidentBytes()
        let size = min(SafeTensorsFile.maximumFileSize - 1, max(1 << 30, before + (512 << 20)))
        let directory = try makeWeightsTestDirectory(for: self)
        // Also a valid header of one 1-byte tensor: its data section (the rest of the file) has trailing bytes.
        let header = Array(#"{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#.utf8)
        let cases: [([UInt8], [String])] = [
            (weightsLittleEndian(UInt64(200_000_000)), ["200000000", "limit"]),
            (weightsLittleEndian(UInt64.max), ["limit"]),
            (weightsLittleEndian(UInt64(header.count)) + header, ["trailing bytes"]),
        ]
        for (index, (head, mentions)) in cases.enumerated() {
            let path = directory.appendingPathComponent("sparse-\(index).safetensors").path
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(head)))
            let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
            try handle.truncate(atOffset: UInt64(size))
            try handle.close()
            do throws(WeightsError) {
                _ = try SafeTensorsFile(path: path)
                XCTFail("sparse file \(index) was accepted")
            } catch {
                assertWeightsError(error, file: path, tensor: nil, mentions: mentions)
            }
            try FileManager.default.removeItem(atPath: path)
        }
        XCTAssertLessThan(peakResidentBytes() - before, 256 << 20, "a file was read into memory before its header was checked")
    }

    // MARK: Accessors

    func testAccessorsRefuseTheWrongDtypeAndMissingTensors() throws {
        let bytes = craftSafeTensors(
            header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"q":{"dtype":"I8","shape":[2],"data_offsets":[8,10]}}"#,
            data: weightsFloat32Bytes([1, 2]) + [5, 251])
        let weights = try SafeTensorsFile(bytes: bytes, name: "two.safetensors")
        XCTAssertEqual(try weights.floats("w"), [1, 2])
        XCTAssertEqual(try weights.int8s("q"), [5, -5])
        XCTAssertEqual(try weights.rawBytes("q"), [5, 251])

        let checks: [(String, (SafeTensorsFile) throws(WeightsError) -> Void, String, [String])] = [
            ("floats of I8", { w throws(WeightsError) in _ = try w.floats("q") }, "q", ["I8", "float"]),
            ("int8s of F32", { w throws(WeightsError) in _ = try w.int8s("w") }, "w", ["F32", "expected I8"]),
            ("int32s of I8", { w throws(WeightsError) in _ = try w.int32s("q") }, "q", ["expected I32"]),
            ("int64s of F32", { w throws(WeightsError) in _ = try w.int64s("w") }, "w", ["expected I64"]),
            ("uint8s of I8", { w throws(WeightsError) in _ = try w.uint8s("q") }, "q", ["expected U8"]),
            ("shape check", { w throws(WeightsError) in _ = try w.floats("w", shape: [1, 2]) }, "w", ["[2]", "[1, 2]"]),
            ("missing entry", { w throws(WeightsError) in _ = try w.entry("absent") }, "absent", ["missing tensor"]),
            ("missing raw", { w throws(WeightsError) in _ = try w.rawBytes("absent") }, "absent", ["missing tensor"]),
        ]
        for (label, call, tensor, mentions) in checks {
            do throws(WeightsError) {
                try call(weights)
                XCTFail("\(label): no error")
            } catch {
                assertWeightsError(error, file: "two.safetensors", tensor: tensor, mentions: mentions)
            }
        }
    }

    // MARK: Malformed files (the header lengths and the JSON)

    func testTruncatedFileIsRejected() {
        assertRejected([], tensor: nil, mentions: ["shorter than"])
        assertRejected([1, 0, 0, 0, 0], tensor: nil, mentions: ["5 bytes", "shorter than"])
    }

    func testHeaderLengthZeroPastTheEndOrHugeIsRejected() {
        let header = #"{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#
        assertRejected(craftSafeTensors(header: header, data: [7], declaredLength: 0), tensor: nil, mentions: ["header length is 0"])
        assertRejected(craftSafeTensors(header: header, data: [7], declaredLength: 1000), tensor: nil,
                       mentions: ["1000", "past the end"])
        assertRejected(craftSafeTensors(header: header, data: [7], declaredLength: 200_000_000), tensor: nil,
                       mentions: ["200000000", "limit"])
        assertRejected(craftSafeTensors(header: header, data: [7], declaredLength: UInt64.max), tensor: nil,
                       mentions: ["limit"])
        // 100 MB exactly is within the limit but past the end of this small file.
        assertRejected(craftSafeTensors(header: header, data: [7], declaredLength: 100_000_000), tensor: nil,
                       mentions: ["past the end"])
    }

    func testInvalidJSONIsRejected() {
        let cases: [(String, [String])] = [
            (#"{"w":{"dtype":"F32","#, ["not valid JSON"]),
            (#"{"w":1,}"#, ["not valid JSON"]),
            (#"{"w" 1}"#, ["not valid JSON", "':'"]),
            (#"{'w':1}"#, ["not valid JSON"]),
            (#"{"w":01}"#, ["not valid JSON", "leading zero"]),
            (#"{"w":tru}"#, ["not valid JSON"]),
            (#"{"w":"\x"}"#, ["not valid JSON", "escape"]),
            (#"{"w":"\ud800"}"#, ["not valid JSON", "surrogate"]),
            ("{\"w\":\"a\u{01}b\"}", ["not valid JSON", "control character"]),
            (#"{} {}"#, ["not valid JSON", "after the top-level value"]),
            (#"{}x"#, ["not valid JSON"]),
            (#"[{}]"#, ["not a JSON object"]),
            (#" {}"#, ["not a JSON object"]),
            (#""abc""#, ["not a JSON object"]),
            (#"{"deep":"# + String(repeating: "[", count: 100_000), ["not valid JSON", "nesting"]),
        ]
        for (header, mentions) in cases {
            assertRejected(craftSafeTensors(header: header, data: []), tensor: nil, mentions: mentions)
        }
        // Bytes that are not UTF-8 inside a string.
        let badUTF8 = weightsLittleEndian(UInt64(10)) + Array(#"{"a":""#.utf8) + [0xFF, 0xFE] + Array("\"}".utf8)
        XCTAssertEqual(badUTF8.count, 18)
        assertRejected(badUTF8, tensor: nil, mentions: ["UTF-8"])
    }

    func testValidJSONDetailsAreAccepted() throws {
        // Whitespace everywhere, escapes in names and metadata (including a surrogate pair), trailing padding.
        let header = "{\n\t\"caf\\u00e9\\ud83d\\ude00\\\"x\\\\\" : { \"shape\" : [ 2 ] , \"data_offsets\" : [0 , 2], \"dtype\" : \"U8\" } ,"
            + " \"__metadata__\" : {\"k\\n\" : \"v\\/\\b\\f\\r\\t\"} } \r\n   "
        let bytes = craftSafeTensors(header: header, data: [3, 4])
        let weights = try SafeTensorsFile(bytes: bytes, name: "spaced.safetensors")
        XCTAssertEqual(weights.names, ["caf\u{e9}\u{1F600}\"x\\"])
        XCTAssertEqual(try weights.uint8s("caf\u{e9}\u{1F600}\"x\\"), [3, 4])
        XCTAssertEqual(weights.metadata, ["k\n": "v/\u{8}\u{c}\r\t"])

        // No tensors at all is a valid (empty) file.
        let empty = try SafeTensorsFile(bytes: craftSafeTensors(header: "{}      ", data: []), name: "empty")
        XCTAssertEqual(empty.names, [])
        XCTAssertEqual(empty.metadata, [:])
    }

    func testDuplicateKeysAreRejected() {
        let entry = #"{"dtype":"U8","shape":[1],"data_offsets":[0,1]}"#
        assertRejected(craftSafeTensors(header: #"{"w":\#(entry),"w":\#(entry)}"#, data: [1]), tensor: "w",
                       mentions: ["more than once"])
        assertRejected(craftSafeTensors(header: #"{"w":{"dtype":"U8","dtype":"I8","shape":[1],"data_offsets":[0,1]}}"#, data: [1]),
                       tensor: "w", mentions: ["'dtype'", "more than once"])
        assertRejected(craftSafeTensors(header: #"{"__metadata__":{"a":"1","a":"2"},"w":\#(entry)}"#, data: [1]),
                       tensor: nil, mentions: ["__metadata__", "'a'", "more than once"])
        assertRejected(craftSafeTensors(header: #"{"__metadata__":{},"w":\#(entry),"__metadata__":{}}"#, data: [1]),
                       tensor: nil, mentions: ["__metadata__ twice"])
    }

    func testMetadataMustBeAStringMap() {
        let entry = #""w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}"#
        assertRejected(craftSafeTensors(header: #"{"__metadata__":{"a":1},\#(entry)}"#, data: [1]), tensor: nil,
                       mentions: ["__metadata__", "'a'", "a number"])
        assertRejected(craftSafeTensors(header: #"{"__metadata__":["a"],\#(entry)}"#, data: [1]), tensor: nil,
                       mentions: ["__metadata__", "an array"])
        assertRejected(craftSafeTensors(header: #"{"__metadata__":{"a":null},\#(entry)}"#, data: [1]), tensor: nil,
                       mentions: ["__metadata__", "null"])
    }

    // MARK: Malformed entries

    func testEntryFieldsMustBePresentAndWellTyped() {
        let cases: [(String, [String])] = [
            (#"{"w":[1]}"#, ["an array", "expected an object"]),
            (#"{"w":{"shape":[1],"data_offsets":[0,1]}}"#, ["no 'dtype'"]),
            (#"{"w":{"dtype":"U8","data_offsets":[0,1]}}"#, ["no 'shape'"]),
            (#"{"w":{"dtype":"U8","shape":[1]}}"#, ["no 'data_offsets'"]),
            (#"{"w":{"dtype":8,"shape":[1],"data_offsets":[0,1]}}"#, ["dtype", "a number"]),
            (#"{"w":{"dtype":"U8","shape":1,"data_offsets":[0,1]}}"#, ["shape", "a number"]),
            (#"{"w":{"dtype":"U8","shape":["1"],"data_offsets":[0,1]}}"#, ["shape element", "not an integer"]),
            (#"{"w":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}}"#, ["not an integer"]),
            (#"{"w":{"dtype":"U8","shape":[1],"data_offsets":{"begin":0}}}"#, ["data_offsets", "an object"]),
            (#"{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}"#, ["3 elements"]),
            (#"{"w":{"dtype":"U8","shape":[1],"data_offsets":[0]}}"#, ["1 elements"]),
            (#"{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1e0]}}"#, ["not an integer"]),
            (#"{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"extra":true}}"#, ["unexpected field 'extra'"]),
        ]
        for (header, mentions) in cases {
            assertRejected(craftSafeTensors(header: header, data: [9]), tensor: "w", mentions: mentions)
        }
    }

    func testDtypeOutsideTheWhitelistIsRejected() {
        for dtype in ["F64", "f32", "BOOL", "U16", "I16", "F8_E4M3", ""] {
            assertRejected(craftSafeTensors(header: #"{"w":{"dtype":"\#(dtype)","shape":[1],"data_offsets":[0,1]}}"#, data: [0]),
                           tensor: "w", mentions: ["unsupported dtype '\(dtype)'", "F32, F16, BF16, I64, I32, I8, U8"])
        }
    }

    func testShapeProblemsAreRejected() {
        assertRejected(craftSafeTensors(header: #"{"w":{"dtype":"F32","shape":[-1,2],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)),
                       tensor: "w", mentions: ["negative dimension -1"])
        assertRejected(craftSafeTensors(header: #"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)),
                       tensor: "w", mentions: ["overflows"])
        // The element count fits in Int but its byte size does not.
        assertRejected(craftSafeTensors(header: #"{"w":{"dtype":"I64","shape":[4611686018427387904],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)),
                       tensor: "w", mentions: ["overflows"])
        assertRejected(craftSafeTensors(header: #"{"w":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)),
                       tensor: "w", mentions: ["too large"])
        // shape x dtype size does not match the offsets.
        assertRejected(craftSafeTensors(header: #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)),
                       tensor: "w", mentions: ["needs 12 bytes", "span 8"])
        assertRejected(craftSafeTensors(header: #"{"w":{"dtype":"F16","shape":[2,2],"data_offsets":[0,4]}}"#, data: [UInt8](repeating: 0, count: 4)),
                       tensor: "w", mentions: ["needs 8 bytes", "span 4"])
    }

    func testOffsetProblemsAreRejected() {
        assertRejected(craftSafeTensors(header: #"{"w":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}"#, data: [0, 0, 0, 0]),
                       tensor: "w", mentions: ["begin 4 is after end 0"])
        assertRejected(craftSafeTensors(header: #"{"w":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}}"#, data: [0]),
                       tensor: "w", mentions: ["negative data offset -1"])
        assertRejected(craftSafeTensors(header: #"{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,99999999999999999999]}}"#, data: [0]),
                       tensor: "w", mentions: ["overflows"])
        assertRejected(craftSafeTensors(header: #"{"w":{"dtype":"U8","shape":[1],"data_offsets":[9223372036854775807,-9223372036854775808]}}"#, data: [0]),
                       tensor: "w", mentions: ["negative"])
        // Data section shorter than the offsets (file truncated inside the data).
        assertRejected(craftSafeTensors(header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [0, 0, 0, 0, 0]),
                       tensor: "w", mentions: ["past the end of the data section", "5 bytes"])
    }

    func testOverlappingOffsetsAreRejected() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        assertRejected(craftSafeTensors(header: header, data: weightsFloat32Bytes([1, 2, 3])), tensor: "b", mentions: ["overlap", "'a'", "8"])
        // Same range twice under two names.
        let same = #"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#
        assertRejected(craftSafeTensors(header: same, data: [1, 2]), tensor: "b", mentions: ["overlap", "'a'"])
    }

    func testGapBetweenTensorsIsRejected() {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        assertRejected(craftSafeTensors(header: header, data: weightsFloat32Bytes([1, 2, 3])), tensor: "b", mentions: ["gap", "4..<8"])
        // Nothing at the start.
        let late = #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#
        assertRejected(craftSafeTensors(header: late, data: [1, 2]), tensor: "a", mentions: ["gap", "0..<1"])
    }

    func testTrailingBytesAreRejected() {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        assertRejected(craftSafeTensors(header: header, data: weightsFloat32Bytes([1]) + [0, 0]), tensor: nil,
                       mentions: ["2 trailing bytes", "6 bytes"])
        // Data but no tensors.
        assertRejected(craftSafeTensors(header: "{}", data: [0]), tensor: nil, mentions: ["1 trailing bytes"])
    }

    func testNonFiniteFloatsAreRejected() {
        let nanBits: [UInt32] = [0x3F80_0000, 0, 0x7FC0_0000, 0x7F80_0000]
        assertRejected(craftSafeTensors(header: #"{"ok":{"dtype":"I8","shape":[1],"data_offsets":[16,17]},"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
                                        data: nanBits.flatMap(weightsLittleEndian) + [0]),
                       tensor: "w", mentions: ["element 2", "NaN"])
        let infHalf: [UInt16] = [0x3C00, 0x7C00, 0xFC00]
        assertRejected(craftSafeTensors(header: #"{"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]}}"#, data: infHalf.flatMap(weightsLittleEndian)),
                       tensor: "h", mentions: ["element 1", "+Inf"])
        let negativeInfHalf: [UInt16] = [0xFC00]
        assertRejected(craftSafeTensors(header: #"{"h":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}"#, data: negativeInfHalf.flatMap(weightsLittleEndian)),
                       tensor: "h", mentions: ["element 0", "-Inf"])
        let nanHalf: [UInt16] = [0x0001, 0x7E00]
        assertRejected(craftSafeTensors(header: #"{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, data: nanHalf.flatMap(weightsLittleEndian)),
                       tensor: "h", mentions: ["element 1", "NaN"])
        let bfloat: [UInt16] = [0x3F80, 0x4000, 0x7F7F, 0xFF81]
        assertRejected(craftSafeTensors(header: #"{"b":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}}"#, data: bfloat.flatMap(weightsLittleEndian)),
                       tensor: "b", mentions: ["element 3", "NaN"])
        // Integer tensors holding the same bit patterns are fine.
        XCTAssertNoThrow(try SafeTensorsFile(bytes: craftSafeTensors(header: #"{"w":{"dtype":"I32","shape":[4],"data_offsets":[0,16]}}"#,
                                                                     data: nanBits.flatMap(weightsLittleEndian)), name: "ints"))
    }

    // MARK: Robustness

    /// Every prefix and thousands of random corruptions of a valid file either load consistently or
    /// throw a WeightsError for the given name; none may crash.
    func testCorruptedFilesNeverCrash() throws {
        let original = [UInt8](try weightsFixture("python-dtypes.safetensors"))
        var accepted = 0
        for length in 0..<original.count {
            if let weights = tryLoad(Array(original[0..<length])) { accepted += 1; try checkConsistent(weights) }
        }
        XCTAssertEqual(accepted, 0, "a strict prefix of a file cannot tile its data section")

        var generator = SplitMix64(seed: 42)
        var rejected = 0
        for _ in 0..<3000 {
            var mutated = original
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let index = Int.random(in: 0..<mutated.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: mutated[index] = UInt8.random(in: 0...255, using: &generator)
                case 1: mutated[index] ^= 1 << UInt8.random(in: 0..<8, using: &generator)
                default: mutated.insert(UInt8.random(in: 0...255, using: &generator), at: index)
                }
            }
            if let weights = tryLoad(mutated) { try checkConsistent(weights) } else { rejected += 1 }
        }
        XCTAssertGreaterThan(rejected, 100)
    }

    private func tryLoad(_ bytes: [UInt8]) -> SafeTensorsFile? {
        do throws(WeightsError) {
            return try SafeTensorsFile(bytes: bytes, name: "mutant")
        } catch {
            XCTAssertEqual(error.file, "mutant")
            XCTAssertFalse(error.problem.isEmpty)
            return nil
        }
    }

    private func checkConsistent(_ weights: SafeTensorsFile) throws {
        var end = 0
        for name in weights.names {
            let entry = try weights.entry(name)
            XCTAssertEqual(entry.offset, end)
            end += entry.byteCount
            XCTAssertEqual(try weights.rawBytes(name).count, entry.byteCount)
            if entry.dtype.isFloatingPoint {
                XCTAssertTrue(try weights.floats(name).allSatisfy(\.isFinite))
            }
        }
    }
}
