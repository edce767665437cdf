// Unpickler.swift — a restricted reader of Python pickles, just enough for a PyTorch state_dict. It is a data
// parser, not an interpreter: it knows a fixed list of opcodes (those of protocols 2–4 that build plain data:
// tuples, lists, dicts, strings, numbers, memo, marks) and a fixed list of globals (`collections.OrderedDict`,
// `torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter`, the `torch.*Storage` types), and it
// recognises PyTorch's persistent ids for storages. Any other global, any other callable given to REDUCE, and
// any other opcode (NEWOBJ, INST, OBJ, EXT*, …) ends the read with an error naming it: no code named by the file
// is ever looked up or run, and nothing outside this file is imported.

/// Element types of the `torch.*Storage` classes the reader accepts.
public enum TorchStorageType: String, Sendable, CaseIterable {
    case float = "FloatStorage", half = "HalfStorage", bfloat16 = "BFloat16Storage", double = "DoubleStorage"
    case long = "LongStorage", int = "IntStorage", short = "ShortStorage", char = "CharStorage"
    case byte = "ByteStorage", bool = "BoolStorage"

    /// Bytes per element.
    public var elementSize: Int {
        switch self {
        case .double, .long: return 8
        case .float, .int: return 4
        case .half, .bfloat16, .short: return 2
        case .char, .byte, .bool: return 1
        }
    }

    /// The torch dtype name, for messages.
    public var dtypeName: String {
        switch self {
        case .float: return "float32"
        case .half: return "float16"
        case .bfloat16: return "bfloat16"
        case .double: return "float64"
        case .long: return "int64"
        case .int: return "int32"
        case .short: return "int16"
        case .char: return "int8"
        case .byte: return "uint8"
        case .bool: return "bool"
        }
    }
}

/// A storage a tensor views: the archive record `key`, of `count` elements of `type`.
public struct TorchStorageReference: Sendable, Equatable {
    public let key: String
    public let type: TorchStorageType
    public let count: Int
}

/// A tensor as the pickle describes it: a strided view of a storage.
public struct TorchTensorReference: Sendable, Equatable {
    public let storage: TorchStorageReference
    /// Offset of the first element, in elements.
    public let offset: Int
    public let shape: [Int]
    /// Strides in elements, one per dimension.
    public let strides: [Int]
}

/// A list or dict under construction (pickles fill them after creating them, and share them through the memo).
public final class PickleContainer: @unchecked Sendable {
    /// List items, or nothing for a dict.
    public var items: [PickleValue] = []
    /// Dict entries in insertion order (keys may repeat only if the pickle sets one twice; the last wins on lookup).
    public var entries: [(key: PickleValue, value: PickleValue)] = []
    public let isDict: Bool
    /// Set once the container is put into another container or a tuple; from then on it may not change. Python's
    /// pickler fills every list and dict before it is placed anywhere, so only a recursive structure (one that
    /// contains itself, which no state_dict does) would change one later. Refusing that keeps the values a tree:
    /// no reference cycle, so nothing read is ever leaked.
    var sealed = false
    /// Nesting depth of the container: 1 for one holding plain values only.
    var depth = 1
    init(isDict: Bool) { self.isDict = isDict }

    /// The value for a string key.
    public func value(forKey key: String) -> PickleValue? {
        entries.last { if case .string(key) = $0.key { return true } else { return false } }?.value
    }
}

/// The globals a state_dict pickle may name.
public enum AllowedGlobal: Sendable, Equatable {
    case orderedDict
    case rebuildTensorV2
    case rebuildParameter
    case storage(TorchStorageType)
}

/// A value of the restricted pickle language.
public indirect enum PickleValue: @unchecked Sendable {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleContainer)
    case dict(PickleContainer)
    case global(AllowedGlobal)
    case storage(TorchStorageReference)
    case tensor(TorchTensorReference)

    /// A short description of the kind of value, for messages.
    public var kindName: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case .global: return "global"
        case .storage: return "storage"
        case .tensor: return "tensor"
        }
    }
}

/// Reads one pickle with the restrictions above. `file` names the checkpoint in errors.
public struct RestrictedUnpickler {
    let bytes: ArraySlice<UInt8>
    let file: String
    /// Largest number of memo entries, stack items and container items accepted (a guard against hostile sizes).
    static let limit = 50_000_000
    /// Deepest nesting of tuples, lists and dicts accepted. A state_dict checkpoint nests a few levels (a wrapper
    /// dict, the state_dict, a tensor's arguments); releasing a value nested hundreds of thousands deep would
    /// overflow the stack, so such a file is refused instead.
    public static let maximumDepth = 64

    public init(bytes: ArraySlice<UInt8>, file: String) {
        self.bytes = bytes
        self.file = file
    }

    /// The globals accepted, as "module.name".
    public static let allowedGlobals: [String: AllowedGlobal] = {
        var table: [String: AllowedGlobal] = [
            "collections.OrderedDict": .orderedDict,
            "torch._utils._rebuild_tensor_v2": .rebuildTensorV2,
            "torch._utils._rebuild_parameter": .rebuildParameter,
        ]
        for type in TorchStorageType.allCases { table["torch.\(type.rawValue)"] = .storage(type) }
        return table
    }()

    /// Runs the pickle to its STOP and returns the value it built.
    public func read() throws(CheckpointError) -> PickleValue {
        // Each stack and memo value carries its nesting depth (a list's or dict's own grows as it is filled), so
        // the depth of a new tuple or container is known without walking what it holds.
        struct Item { var value: PickleValue; var depth: Int }
        var stack: [Item] = []
        var marks: [Int] = []
        var memo: [Int: Item] = [:]
        var at = bytes.startIndex
        let end = bytes.endIndex

        func fail(_ problem: String) -> CheckpointError {
            CheckpointError(file: file, problem: "pickle byte \(at - bytes.startIndex): \(problem)")
        }
        func take(_ n: Int) throws(CheckpointError) -> ArraySlice<UInt8> {
            guard n >= 0, n <= end - at else { throw fail("truncated pickle (needs \(n) more bytes)") }
            defer { at += n }
            return bytes[at..<(at + n)]
        }
        func uint(_ n: Int) throws(CheckpointError) -> Int {
            let b = try take(n)
            var v = 0
            for (k, byte) in b.enumerated() { v |= Int(byte) << (8 * k) }
            return v
        }
        func line() throws(CheckpointError) -> String {
            guard let newline = bytes[at..<end].firstIndex(of: 0x0A) else { throw fail("truncated pickle (unterminated line)") }
            defer { at = newline + 1 }
            return String(decoding: bytes[at..<newline], as: UTF8.self)
        }
        func pop() throws(CheckpointError) -> Item {
            guard let item = stack.popLast() else { throw fail("stack underflow (damaged pickle)") }
            if let mark = marks.last, stack.count < mark { throw fail("stack underflow past a mark (damaged pickle)") }
            return item
        }
        func popMark() throws(CheckpointError) -> [Item] {
            guard let mark = marks.popLast(), mark <= stack.count else { throw fail("no mark to pop (damaged pickle)") }
            let items = Array(stack[mark...])
            stack.removeSubrange(mark...)
            return items
        }
        func push(_ value: PickleValue, depth: Int = 0) throws(CheckpointError) {
            guard stack.count < RestrictedUnpickler.limit else { throw fail("stack too deep") }
            stack.append(Item(value: value, depth: depth))
        }
        /// The depth of an item now (a list or dict may have grown since it was pushed).
        func depth(_ item: Item) -> Int {
            switch item.value {
            case .list(let c), .dict(let c): return c.depth
            default: return item.depth
            }
        }
        /// Marks the lists and dicts among `items` as placed (they may no longer change) and returns the depth of
        /// a value holding them.
        func place(_ items: [Item]) throws(CheckpointError) -> Int {
            var deepest = 0
            for item in items {
                switch item.value {
                case .list(let c), .dict(let c): c.sealed = true
                default: break
                }
                deepest = max(deepest, depth(item))
            }
            guard deepest < RestrictedUnpickler.maximumDepth else {
                throw fail("values nested more than \(RestrictedUnpickler.maximumDepth) deep (a state_dict nests a few levels)")
            }
            return deepest + 1
        }
        func pushTuple(_ items: [Item]) throws(CheckpointError) {
            let d = try place(items)
            try push(.tuple(items.map(\.value)), depth: d)
        }
        /// The list or dict `target` is about to receive `items`: they are placed, and it must still be open.
        func fill(_ target: PickleContainer, with items: [Item]) throws(CheckpointError) {
            let d = try place(items)
            guard !target.sealed else {
                throw fail("a \(target.isDict ? "dict" : "list") changed after it was placed in another value (a recursive structure, which a state_dict never is)")
            }
            target.depth = max(target.depth, d)
        }
        func resolve(_ module: String, _ name: String) throws(CheckpointError) -> PickleValue {
            let qualified = "\(module).\(name)"
            guard let allowed = RestrictedUnpickler.allowedGlobals[qualified] else {
                throw fail("refused global \(qualified): only a state_dict's tensors can be read (allowed: collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter, torch.*Storage); nothing from the file was run")
            }
            return .global(allowed)
        }
        func setItems(_ target: PickleValue, _ pairs: [Item]) throws(CheckpointError) {
            guard case .dict(let dict) = target else { throw fail("SETITEM(S) on a \(target.kindName), not a dict") }
            guard pairs.count % 2 == 0 else { throw fail("SETITEMS with an odd number of items") }
            guard dict.entries.count + pairs.count / 2 <= RestrictedUnpickler.limit else { throw fail("dict too large") }
            try fill(dict, with: pairs)
            var k = 0
            while k < pairs.count { dict.entries.append((pairs[k].value, pairs[k + 1].value)); k += 2 }
        }
        func append(_ target: PickleValue, _ items: [Item]) throws(CheckpointError) {
            guard case .list(let list) = target else { throw fail("APPEND(S) on a \(target.kindName), not a list") }
            guard list.items.count + items.count <= RestrictedUnpickler.limit else { throw fail("list too large") }
            try fill(list, with: items)
            list.items.append(contentsOf: items.map(\.value))
        }

        while at < end {
            let opcode = bytes[at]
            at += 1
            switch opcode {
            case 0x80:  // PROTO
                let version = try uint(1)
                guard (2...5).contains(version) else { throw fail("pickle protocol \(version) is not supported (2–5 are)") }
            case 0x95:  // FRAME (protocol 4): a length hint only
                _ = try take(8)
            case 0x2E:  // STOP
                guard stack.count == 1, marks.isEmpty else { throw fail("STOP with \(stack.count) values on the stack") }
                return stack[0].value
            case 0x28:  // MARK
                marks.append(stack.count)
            case 0x29: try push(.tuple([]))                       // EMPTY_TUPLE
            case 0x74: try pushTuple(try popMark())               // TUPLE
            case 0x85: let a = try pop(); try pushTuple([a])       // TUPLE1
            case 0x86: let b = try pop(), a = try pop(); try pushTuple([a, b])   // TUPLE2
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); try pushTuple([a, b, c])   // TUPLE3
            case 0x5D: try push(.list(PickleContainer(isDict: false)))   // EMPTY_LIST
            case 0x6C:  // LIST
                let list = PickleContainer(isDict: false)
                try append(.list(list), try popMark())
                try push(.list(list))
            case 0x61:  // APPEND
                let item = try pop()
                guard let target = stack.last else { throw fail("APPEND without a list") }
                try append(target.value, [item])
            case 0x65:  // APPENDS
                let items = try popMark()
                guard let target = stack.last else { throw fail("APPENDS without a list") }
                try append(target.value, items)
            case 0x7D: try push(.dict(PickleContainer(isDict: true)))    // EMPTY_DICT
            case 0x64:  // DICT
                let dict = PickleContainer(isDict: true)
                let items = try popMark()
                try setItems(.dict(dict), items)
                try push(.dict(dict))
            case 0x73:  // SETITEM
                let value = try pop(), key = try pop()
                guard let target = stack.last else { throw fail("SETITEM without a dict") }
                try setItems(target.value, [key, value])
            case 0x75:  // SETITEMS
                let items = try popMark()
                guard let target = stack.last else { throw fail("SETITEMS without a dict") }
                try setItems(target.value, items)
            case 0x4E: try push(.none)            // NONE
            case 0x88: try push(.bool(true))      // NEWTRUE
            case 0x89: try push(.bool(false))     // NEWFALSE
            case 0x4A:  // BININT
                let v = try uint(4)
                try push(.int(Int(Int32(truncatingIfNeeded: v))))
            case 0x4B: try push(.int(try uint(1)))   // BININT1
            case 0x4D: try push(.int(try uint(2)))   // BININT2
            case 0x8A:  // LONG1
                let n = try uint(1)
                guard n <= 8 else { throw fail("integer of \(n) bytes is too large") }
                let b = try take(n)
                var v: UInt64 = 0
                for (k, byte) in b.enumerated() { v |= UInt64(byte) << (8 * UInt64(k)) }
                if n > 0 && n < 8, b.last! & 0x80 != 0 { v |= ~UInt64(0) << (8 * UInt64(n)) }   // sign-extend
                try push(.int(Int(Int64(bitPattern: v))))
            case 0x47:  // BINFLOAT (big-endian double)
                let b = try take(8)
                var v: UInt64 = 0
                for byte in b { v = v << 8 | UInt64(byte) }
                try push(.float(Double(bitPattern: v)))
            case 0x58: let n = try uint(4); try push(.string(String(decoding: try take(n), as: UTF8.self)))  // BINUNICODE
            case 0x8C: let n = try uint(1); try push(.string(String(decoding: try take(n), as: UTF8.self)))  // SHORT_BINUNICODE
            case 0x8D: let n = try uint(8); try push(.string(String(decoding: try take(n), as: UTF8.self)))  // BINUNICODE8
            case 0x55: let n = try uint(1); try push(.string(String(decoding: try take(n), as: UTF8.self)))  // SHORT_BINSTRING
            case 0x54: let n = try uint(4); try push(.string(String(decoding: try take(n), as: UTF8.self)))  // BINSTRING
            case 0x43: let n = try uint(1); try push(.bytes(Array(try take(n))))   // SHORT_BINBYTES
            case 0x42: let n = try uint(4); try push(.bytes(Array(try take(n))))   // BINBYTES
            case 0x71, 0x72, 0x94:  // BINPUT, LONG_BINPUT, MEMOIZE
                let index = try (opcode == 0x71 ? uint(1) : opcode == 0x72 ? uint(4) : memo.count)
                guard let top = stack.last else { throw fail("memo store with an empty stack") }
                guard memo.count < RestrictedUnpickler.limit else { throw fail("memo too large") }
                memo[index] = top
            case 0x68, 0x6A:  // BINGET, LONG_BINGET
                let index = try (opcode == 0x68 ? uint(1) : uint(4))
                guard let item = memo[index] else { throw fail("memo entry \(index) read before it was stored") }
                try push(item.value, depth: item.depth)
            case 0x30: _ = try pop()              // POP
            case 0x31: _ = try popMark()          // POP_MARK
            case 0x32:                            // DUP
                guard let top = stack.last else { throw fail("DUP with an empty stack") }
                try push(top.value, depth: top.depth)
            case 0x63:  // GLOBAL
                let module = try line(), name = try line()
                try push(try resolve(module, name))
            case 0x93:  // STACK_GLOBAL
                let nameValue = try pop().value, moduleValue = try pop().value
                guard case .string(let name) = nameValue, case .string(let module) = moduleValue else {
                    throw fail("STACK_GLOBAL without module and name strings")
                }
                try push(try resolve(module, name))
            case 0x51:  // BINPERSID
                try push(try persistentStorage(try pop().value, fail: fail))
            case 0x52:  // REDUCE
                let args = try pop(), callable = try pop().value
                let result = try reduce(callable, args.value, fail: fail)
                // A new OrderedDict holds what its argument held; its depth is at most that of the argument.
                if case .dict(let dict) = result { dict.depth = max(1, depth(args) - 1) }
                try push(result)
            case 0x62:  // BUILD: the state of an OrderedDict (its `_metadata`) or a tensor is not needed
                let state = try pop().value
                guard let target = stack.last?.value else { throw fail("BUILD without an object") }
                switch target {
                case .dict, .tensor: _ = state
                default: throw fail("BUILD on a \(target.kindName) is not allowed")
                }
            default:
                throw fail("opcode 0x\(String(opcode, radix: 16)) ('\(RestrictedUnpickler.opcodeName(opcode))') is not allowed in a state_dict checkpoint; nothing from the file was run")
            }
        }
        throw fail("truncated pickle (no STOP)")
    }

    /// PyTorch's persistent id of a storage: ('storage', torch.<Type>Storage, key, location, count).
    private func persistentStorage(_ pid: PickleValue, fail: (String) -> CheckpointError) throws(CheckpointError) -> PickleValue {
        guard case .tuple(let fields) = pid, fields.count >= 5, case .string("storage") = fields[0],
              case .global(.storage(let type)) = fields[1], case .string(let key) = fields[2],
              case .int(let count) = fields[4], count >= 0 else {
            throw fail("persistent id is not a PyTorch storage record ('storage', torch.<Type>Storage, key, location, size)")
        }
        return .storage(TorchStorageReference(key: key, type: type, count: count))
    }

    private func ints(_ value: PickleValue) -> [Int]? {
        guard case .tuple(let items) = value else { return nil }
        var out: [Int] = []
        for item in items { guard case .int(let v) = item else { return nil }; out.append(v) }
        return out
    }

    /// The only calls a state_dict pickle makes: OrderedDict(), _rebuild_tensor_v2(...), _rebuild_parameter(...).
    private func reduce(_ callable: PickleValue, _ args: PickleValue, fail: (String) -> CheckpointError) throws(CheckpointError) -> PickleValue {
        guard case .global(let global) = callable else {
            throw fail("REDUCE of a \(callable.kindName): only the allowed globals can be called")
        }
        guard case .tuple(let a) = args else { throw fail("REDUCE arguments are a \(args.kindName), not a tuple") }
        switch global {
        case .orderedDict:
            let dict = PickleContainer(isDict: true)
            if let first = a.first {
                guard case .list(let pairs) = first else { throw fail("OrderedDict(...) with a \(first.kindName) argument") }
                for pair in pairs.items {
                    guard case .tuple(let kv) = pair, kv.count == 2 else { throw fail("OrderedDict item is not a pair") }
                    dict.entries.append((kv[0], kv[1]))
                }
            }
            return .dict(dict)
        case .rebuildTensorV2:
            guard a.count >= 4, case .storage(let storage) = a[0], case .int(let offset) = a[1],
                  let shape = ints(a[2]), let strides = ints(a[3]), shape.count == strides.count else {
                throw fail("_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, …)")
            }
            guard offset >= 0, shape.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }) else {
                throw fail("tensor with a negative offset, size or stride")
            }
            return .tensor(TorchTensorReference(storage: storage, offset: offset, shape: shape, strides: strides))
        case .rebuildParameter:
            guard let first = a.first, case .tensor = first else { throw fail("_rebuild_parameter without a tensor") }
            return first
        case .storage(let type):
            throw fail("calling torch.\(type.rawValue) is not allowed")
        }
    }

    /// Python's name of a pickle opcode, for refusals.
    static func opcodeName(_ opcode: UInt8) -> String {
        switch opcode {
        case 0x81: return "NEWOBJ"
        case 0x92: return "NEWOBJ_EX"
        case 0x69: return "INST"
        case 0x6F: return "OBJ"
        case 0x82, 0x83, 0x84: return "EXT"
        case 0x50: return "PERSID"
        case 0x96: return "BYTEARRAY8"
        case 0x97: return "NEXT_BUFFER"
        case 0x98: return "READONLY_BUFFER"
        case 0x8F: return "EMPTY_SET"
        case 0x90: return "ADDITEMS"
        case 0x91: return "FROZENSET"
        case 0x49: return "INT"
        case 0x4C: return "LONG"
        case 0x46: return "FLOAT"
        case 0x53: return "STRING"
        case 0x56: return "UNICODE"
        case 0x67: return "GET"
        case 0x70: return "PUT"
        case 0x8B: return "LONG4"
        default: return "unknown"
        }
    }
}
