// UnpicklerTests.swift — the restricted unpickler on hand-assembled pickles (opcodes as Python's pickle module
// defines them): plain data is read, and every global, call or opcode outside a state_dict's needs is refused
// before anything could be looked up.

@testable import CondSegInterop
import XCTest

final class UnpicklerTests: XCTestCase {
    func read(_ bytes: [UInt8]) throws -> PickleValue {
        try RestrictedUnpickler(bytes: bytes[...], file: "p.pkl").read()
    }

    func assertRefused(_ bytes: [UInt8], _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try read(bytes), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(fragment), "\(error)", file: file, line: line)
            XCTAssertTrue("\(error)".hasPrefix("p.pkl: "), "\(error)", file: file, line: line)
        }
    }

    func testPlainDataIsRead() throws {
        // {'a': (1, -2, 300, True, None, 'xy', 2.5)} with protocol 2 opcodes.
        var p: [UInt8] = [0x80, 0x02, 0x7D, 0x71, 0x00, 0x58, 1, 0, 0, 0, 0x61, 0x28]
        p += [0x4B, 1, 0x4A, 0xFE, 0xFF, 0xFF, 0xFF, 0x4D, 0x2C, 0x01, 0x88, 0x4E, 0x8C, 2, 0x78, 0x79]
        p += [0x47, 0x40, 0x04, 0, 0, 0, 0, 0, 0]          // BINFLOAT 2.5 (big-endian)
        p += [0x74, 0x73, 0x2E]                              // TUPLE, SETITEM, STOP
        guard case .dict(let dict) = try read(p), let value = dict.value(forKey: "a"), case .tuple(let items) = value else {
            return XCTFail("not a dict with a tuple")
        }
        XCTAssertEqual(items.count, 7)
        if case .int(let v) = items[0] { XCTAssertEqual(v, 1) } else { XCTFail("\(items[0])") }
        if case .int(let v) = items[1] { XCTAssertEqual(v, -2) } else { XCTFail("\(items[1])") }
        if case .int(let v) = items[2] { XCTAssertEqual(v, 300) } else { XCTFail("\(items[2])") }
        if case .bool(let v) = items[3] { XCTAssertTrue(v) } else { XCTFail("\(items[3])") }
        if case .none = items[4] {} else { XCTFail("\(items[4])") }
        if case .string(let v) = items[5] { XCTAssertEqual(v, "xy") } else { XCTFail("\(items[5])") }
        if case .float(let v) = items[6] { XCTAssertEqual(v, 2.5) } else { XCTFail("\(items[6])") }
    }

    func testLongIntegersAreSignExtended() throws {
        // LONG1: little-endian two's complement; 2 bytes 00 80 are −32768, 5 bytes hold 123456789012.
        if case .int(let v) = try read([0x80, 0x02, 0x8A, 2, 0x00, 0x80, 0x2E]) { XCTAssertEqual(v, -32768) } else { XCTFail() }
        let big = 123_456_789_012
        var le: [UInt8] = []
        for k in 0..<5 { le.append(UInt8((big >> (8 * k)) & 0xFF)) }
        if case .int(let v) = try read([0x80, 0x02, 0x8A, 5] + le + [0x2E]) { XCTAssertEqual(v, big) } else { XCTFail() }
    }

    func testGlobalsOutsideTheListAreRefused() {
        // GLOBAL 'posix system' — refused when named, before any REDUCE.
        assertRefused([0x80, 0x02, 0x63] + Array("posix\nsystem\n".utf8) + [0x2E], "refused global posix.system")
        assertRefused([0x80, 0x02, 0x63] + Array("builtins\neval\n".utf8) + [0x2E], "refused global builtins.eval")
        // STACK_GLOBAL spelling the same thing.
        assertRefused([0x80, 0x04, 0x8C, 2] + Array("os".utf8) + [0x8C, 6] + Array("system".utf8) + [0x93, 0x2E],
                      "refused global os.system")
        // An allowed global called with the wrong meaning: a storage type is not callable.
        assertRefused([0x80, 0x02, 0x63] + Array("torch\nFloatStorage\n".utf8) + [0x29, 0x52, 0x2E],
                      "calling torch.FloatStorage is not allowed")
    }

    func testObjectBuildingOpcodesAreRefused() {
        assertRefused([0x80, 0x02, 0x4E, 0x29, 0x81, 0x2E], "'NEWOBJ'")       // NEWOBJ
        assertRefused([0x80, 0x02, 0x28, 0x69] + Array("os\nsystem\n".utf8) + [0x2E], "'INST'")
        assertRefused([0x80, 0x02, 0x82, 0x01, 0x2E], "'EXT'")
        assertRefused([0x80, 0x02, 0x4E, 0x4E, 0x62, 0x2E], "BUILD on a None is not allowed")
    }

    func testDamagedPicklesFailCleanly() {
        assertRefused([0x80, 0x02, 0x58, 0xFF, 0xFF, 0xFF, 0x7F], "truncated pickle")
        assertRefused([0x80, 0x02, 0x68, 0x05, 0x2E], "memo entry 5 read before it was stored")
        assertRefused([0x80, 0x02, 0x73, 0x2E], "stack underflow")
        assertRefused([0x80, 0x02, 0x4E], "no STOP")
        assertRefused([0x80, 0x09, 0x2E], "protocol 9")
    }

    func testRecursiveStructuresAreRefused() throws {
        // A list appended to itself (EMPTY_LIST, BINPUT 0, BINGET 0, APPEND): a reference cycle.
        assertRefused([0x80, 0x02, 0x5D, 0x71, 0x00, 0x68, 0x00, 0x61, 0x2E], "a list changed after it was placed")
        // Two lists, each put into the other through the memo.
        assertRefused([0x80, 0x02, 0x5D, 0x71, 0x00, 0x30, 0x5D, 0x71, 0x01, 0x68, 0x00, 0x61, 0x30,
                       0x68, 0x00, 0x68, 0x01, 0x61, 0x2E], "a list changed after it was placed")
        // A dict put into a tuple, then given an item.
        assertRefused([0x80, 0x02, 0x7D, 0x71, 0x00, 0x85, 0x30, 0x68, 0x00, 0x4B, 0x01, 0x4B, 0x02, 0x73, 0x2E],
                      "a dict changed after it was placed")
        // Sharing without a cycle is still read: one filled dict under two keys (as {"model": sd, "ema": sd}).
        let shared: [UInt8] = [0x80, 0x02, 0x7D, 0x71, 0x00, 0x4B, 0x01, 0x4B, 0x02, 0x73, 0x30,
                               0x7D, 0x8C, 0x01, 0x61, 0x68, 0x00, 0x73, 0x8C, 0x01, 0x62, 0x68, 0x00, 0x73, 0x2E]
        guard case .dict(let top) = try read(shared), case .dict(let a)? = top.value(forKey: "a"),
              case .dict(let b)? = top.value(forKey: "b") else { return XCTFail("not a dict of two dicts") }
        XCTAssertTrue(a === b)
        XCTAssertEqual(a.entries.count, 1)
    }

    func testNestingIsBoundedWithoutOverflowingTheStack() throws {
        // 64 nested one-item tuples are read; 65 are refused. 200,000 (a few hundred kilobytes of file) would
        // overflow the stack when the value is released if they were read.
        func nested(_ depth: Int) -> [UInt8] { [0x80, 0x02, 0x4E] + [UInt8](repeating: 0x85, count: depth) + [0x2E] }
        var value = try read(nested(64))
        for _ in 0..<64 {
            guard case .tuple(let items) = value, items.count == 1 else { return XCTFail("not a one-item tuple") }
            value = items[0]
        }
        guard case .none = value else { return XCTFail("innermost value is \(value.kindName)") }
        assertRefused(nested(65), "nested more than 64 deep")
        assertRefused(nested(200_000), "nested more than 64 deep")
        // Lists nested through APPEND: EMPTY_LIST × n, then APPEND × (n − 1).
        func lists(_ n: Int) -> [UInt8] {
            [0x80, 0x02] + [UInt8](repeating: 0x5D, count: n) + [UInt8](repeating: 0x61, count: n - 1) + [0x2E]
        }
        XCTAssertNoThrow(try read(lists(64)))
        assertRefused(lists(200_000), "nested more than 64 deep")
    }
}
