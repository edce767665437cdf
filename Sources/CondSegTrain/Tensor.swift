// Tensor.swift — the trainer's storage: an N×C×H×W float32 buffer owned by a class (no copy-on-write in hot
// loops, pointers stay valid while the tensor lives). Activations, gradients and parameters all use it.

/// A dense NCHW float32 tensor, zero-initialised. Parameters use it with their file shape flattened
/// (`n` = element count, c = h = w = 1) unless a 4-D shape is given.
public final class Tensor: @unchecked Sendable {
    public let n: Int, c: Int, h: Int, w: Int
    /// The elements, NCHW order.
    public let data: UnsafeMutablePointer<Float>
    /// Number of elements.
    public let count: Int

    /// A zero tensor of shape n×c×h×w.
    public init(n: Int, c: Int, h: Int, w: Int) {
        self.n = n; self.c = c; self.h = h; self.w = w
        count = n * c * h * w
        data = .allocate(capacity: max(count, 1))
        data.initialize(repeating: 0, count: max(count, 1))
    }

    /// A tensor holding `values` with shape n×c×h×w (`values.count` must match).
    public convenience init(_ values: [Float], n: Int, c: Int, h: Int, w: Int) {
        precondition(values.count == n * c * h * w, "Tensor: \(values.count) values for \(n)×\(c)×\(h)×\(w)")
        self.init(n: n, c: c, h: h, w: w)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    deinit { data.deallocate() }

    /// Elements of one image (c·h·w).
    public var itemCount: Int { c * h * w }
    /// Elements of one channel plane (h·w).
    public var plane: Int { h * w }

    /// The elements as an array (copies).
    public var array: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// Sets every element to zero.
    public func zero() { data.update(repeating: 0, count: count) }

    /// A copy with the same shape.
    public func copy() -> Tensor {
        let t = Tensor(n: n, c: c, h: h, w: w)
        t.data.update(from: data, count: count)
        return t
    }

    /// self += other (same element count).
    public func add(_ other: Tensor) {
        precondition(other.count == count, "Tensor.add: \(other.count) vs \(count) elements")
        for i in 0..<count { data[i] += other.data[i] }
    }

    /// True when the shapes agree.
    public func sameShape(_ other: Tensor) -> Bool { n == other.n && c == other.c && h == other.h && w == other.w }
}
