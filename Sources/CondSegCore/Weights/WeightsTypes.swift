// Shared vocabulary of the safetensors reader and writer: element types, the header entry of one
// tensor, and the single error type every weights failure is reported with.

/// Element type of a tensor as spelled in a safetensors header. Only these types are accepted;
/// any other dtype string in a file is rejected by the reader.
public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", i64 = "I64", i32 = "I32", i8 = "I8", u8 = "U8"

    /// Size of one element in bytes.
    public var byteSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .i64: return 8
        case .i8, .u8: return 1
        }
    }

    /// True for the floating-point types (F32, F16, BF16), which the reader checks for NaN and Inf.
    public var isFloatingPoint: Bool {
        switch self {
        case .f32, .f16, .bf16: return true
        case .i64, .i32, .i8, .u8: return false
        }
    }
}

/// One tensor as described by a validated safetensors header.
public struct TensorEntry: Sendable, Equatable {
    /// Tensor name (the header key).
    public let name: String
    /// Element type.
    public let dtype: DType
    /// Dimensions, outermost first; `[]` is a scalar with one element.
    public let shape: [Int]
    /// Byte offset of the first element, relative to the start of the data section.
    public let offset: Int
    /// Number of bytes the tensor occupies (`elementCount * dtype.byteSize`).
    public let byteCount: Int

    /// Number of elements (the product of `shape`; 1 for a scalar).
    public var elementCount: Int { byteCount / dtype.byteSize }

    /// Creates an entry; the reader only builds entries whose fields are consistent.
    public init(name: String, dtype: DType, shape: [Int], offset: Int, byteCount: Int) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.offset = offset
        self.byteCount = byteCount
    }
}

/// Any failure reading, validating, looking up or writing weights.
/// Its description is one line: `<file>: tensor '<name>': <problem>` or `<file>: <problem>`.
public struct WeightsError: Error, CustomStringConvertible, Equatable {
    /// The file path (or the name given for in-memory bytes) the problem is in.
    public let file: String
    /// The tensor the problem concerns, if any.
    public let tensor: String?
    /// What is wrong, in a few words.
    public let problem: String

    /// Creates an error for `file`, optionally naming `tensor`.
    public init(file: String, tensor: String?, problem: String) {
        self.file = file
        self.tensor = tensor
        self.problem = problem
    }

    /// One-line message naming the file and, where applicable, the tensor.
    public var description: String {
        if let tensor {
            return "\(file): tensor '\(tensor)': \(problem)"
        }
        return "\(file): \(problem)"
    }
}

/// Checked element count of a shape: nil if a dimension is negative or the product overflows `Int`.
func checkedElementCount(_ shape: [Int]) -> Int? {
    var count = 1
    for dimension in shape {
        if dimension < 0 { return nil }
        let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
        if overflow { return nil }
        count = product
    }
    return count
}

/// Renders a shape the way error messages show it, e.g. `[64, 3, 3, 3]`.
func describeShape(_ shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ", ") + "]"
}
