// ONNXWriter.swift — builds an ONNX model (nodes, initializers, inputs, outputs, opset, metadata) and serializes
// it with ProtobufEncoder.swift. The field numbers are those of the ONNX messages (ModelProto, GraphProto,
// NodeProto, AttributeProto, TensorProto, ValueInfoProto, TypeProto, TensorShapeProto, OperatorSetIdProto,
// StringStringEntryProto); only the fields this project writes are here.

/// ONNX tensor element types (TensorProto.DataType).
public enum ONNXDataType: Int64, Sendable {
    case float = 1, uint8 = 2, int8 = 3, int32 = 6, int64 = 7

    var elementSize: Int {
        switch self {
        case .float, .int32: return 4
        case .uint8, .int8: return 1
        case .int64: return 8
        }
    }
}

/// An attribute value of a node.
public enum ONNXAttribute: Sendable, Equatable {
    case int(Int)
    case ints([Int])
    case float(Float)
    case string(String)
}

/// One node: operator, inputs ("" for an omitted optional input), outputs, attributes.
public struct ONNXNode: Sendable {
    public var opType: String
    public var inputs: [String]
    public var outputs: [String]
    public var name: String
    public var attributes: [(String, ONNXAttribute)]
}

/// A constant tensor (an initializer): little-endian raw data.
public struct ONNXInitializer: Sendable {
    public var name: String
    public var type: ONNXDataType
    public var dims: [Int]
    public var raw: [UInt8]
}

/// An ONNX model under construction. Tensor names are unique: `fresh` makes new ones.
public struct ONNXModelBuilder: Sendable {
    public private(set) var nodes: [ONNXNode] = []
    public private(set) var initializers: [ONNXInitializer] = []
    public var inputs: [(name: String, type: ONNXDataType, dims: [Int])] = []
    public var outputs: [(name: String, type: ONNXDataType, dims: [Int])] = []
    private var used = Set<String>()

    public init() {}

    /// `base` if no tensor has that name yet, else `base_2`, `base_3`, …; the name is reserved.
    public mutating func fresh(_ base: String) -> String {
        var name = base
        var n = 2
        while used.contains(name) { name = "\(base)_\(n)"; n += 1 }
        used.insert(name)
        return name
    }

    /// Reserves a name that must be exactly `name` (the graph's input and output).
    public mutating func reserve(_ name: String) { used.insert(name) }

    /// Adds a float initializer and returns its name.
    @discardableResult
    public mutating func constant(_ base: String, floats: [Float], dims: [Int]) -> String {
        let name = fresh(base)
        initializers.append(ONNXInitializer(name: name, type: .float, dims: dims, raw: floats.withUnsafeBytes { Array($0) }))
        return name
    }

    /// Adds an int64 initializer and returns its name.
    @discardableResult
    public mutating func constant(_ base: String, int64s: [Int], dims: [Int]? = nil) -> String {
        let name = fresh(base)
        let values = int64s.map { Int64($0) }
        initializers.append(ONNXInitializer(name: name, type: .int64, dims: dims ?? [int64s.count], raw: values.withUnsafeBytes { Array($0) }))
        return name
    }

    /// Adds an initializer of any type from its little-endian bytes and returns its name.
    @discardableResult
    public mutating func constant(_ base: String, type: ONNXDataType, raw: [UInt8], dims: [Int]) -> String {
        precondition(raw.count == dims.reduce(1, *) * type.elementSize, "initializer size")
        let name = fresh(base)
        initializers.append(ONNXInitializer(name: name, type: type, dims: dims, raw: raw))
        return name
    }

    /// Adds a node with one output called `output` (made unique unless `exact`) and returns that name.
    @discardableResult
    public mutating func node(_ opType: String, _ inputs: [String], output: String, exact: Bool = false,
                              _ attributes: [(String, ONNXAttribute)] = []) -> String {
        let name: String
        if exact { reserve(output); name = output } else { name = fresh(output) }
        nodes.append(ONNXNode(opType: opType, inputs: inputs, outputs: [name], name: name, attributes: attributes))
        return name
    }

    /// The serialized ModelProto.
    public func serialize(irVersion: Int, opset: Int, producer: String, producerVersion: String, graphName: String,
                          docString: String, metadata: [(String, String)]) -> [UInt8] {
        var graph = ProtobufMessage()
        for node in nodes { graph.message(1, ONNXModelBuilder.encode(node)) }
        graph.string(2, graphName)
        for initializer in initializers { graph.message(5, ONNXModelBuilder.encode(initializer)) }
        if !docString.isEmpty { graph.string(10, docString) }
        for input in inputs { graph.message(11, ONNXModelBuilder.valueInfo(input.name, input.type, input.dims)) }
        for output in outputs { graph.message(12, ONNXModelBuilder.valueInfo(output.name, output.type, output.dims)) }

        var model = ProtobufMessage()
        model.int(1, Int64(irVersion))                 // ir_version
        model.string(2, producer)                      // producer_name
        model.string(3, producerVersion)               // producer_version
        if !docString.isEmpty { model.string(6, docString) }
        model.message(7, graph)                        // graph
        var opsetID = ProtobufMessage()
        opsetID.string(1, "")                          // the default (ai.onnx) domain
        opsetID.int(2, Int64(opset))
        model.message(8, opsetID)                      // opset_import
        for (key, value) in metadata {
            var entry = ProtobufMessage()
            entry.string(1, key)
            entry.string(2, value)
            model.message(14, entry)                   // metadata_props
        }
        return model.bytes
    }

    static func encode(_ node: ONNXNode) -> ProtobufMessage {
        var m = ProtobufMessage()
        for input in node.inputs { m.string(1, input) }
        for output in node.outputs { m.string(2, output) }
        m.string(3, node.name)
        m.string(4, node.opType)
        for (name, value) in node.attributes {
            var a = ProtobufMessage()
            a.string(1, name)
            switch value {
            case .float(let f): a.float(2, f); a.int(20, 1)        // f, type FLOAT
            case .int(let i): a.int(3, Int64(i)); a.int(20, 2)      // i, type INT
            case .string(let s): a.string(4, s); a.int(20, 3)       // s, type STRING
            case .ints(let list): a.ints(8, list); a.int(20, 7)     // ints, type INTS
            }
            m.message(5, a)
        }
        return m
    }

    static func encode(_ tensor: ONNXInitializer) -> ProtobufMessage {
        var m = ProtobufMessage()
        m.ints(1, tensor.dims)            // dims
        m.int(2, tensor.type.rawValue)    // data_type
        m.string(8, tensor.name)          // name
        m.data(9, tensor.raw)             // raw_data
        return m
    }

    static func valueInfo(_ name: String, _ type: ONNXDataType, _ dims: [Int]) -> ProtobufMessage {
        var shape = ProtobufMessage()
        for d in dims {
            var dim = ProtobufMessage()
            dim.int(1, Int64(d))          // dim_value
            shape.message(1, dim)         // dim
        }
        var tensorType = ProtobufMessage()
        tensorType.int(1, type.rawValue)  // elem_type
        tensorType.message(2, shape)      // shape
        var typeProto = ProtobufMessage()
        typeProto.message(1, tensorType)  // tensor_type
        var info = ProtobufMessage()
        info.string(1, name)
        info.message(2, typeProto)
        return info
    }
}
