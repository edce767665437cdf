// ConvScratch.swift — the trainer convolution's per-thread working memory (im2col columns, their gradient, a
// group's outputs or output gradients, and a private weight gradient per extra thread), kept between calls so a
// training step does not allocate and fault in tens of megabytes per layer; the rule that splits a batch's images
// among threads; and the grouping of each thread's images into GEMM-sized blocks of columns.

import COpenBLAS
import CondSegCore

/// Per-thread scratch buffers of `TrainOps.convForward`/`convBackward`, grown on demand and kept. One instance
/// per network; each thread index touches only its own buffers.
public final class ConvScratch: @unchecked Sendable {
    private struct Buffer {
        var pointer: UnsafeMutablePointer<Float>?
        var capacity = 0
    }
    private var buffers: [[Buffer]]
    /// Floats a group's im2col or output matrix may hold (`defaultColumnLimit` unless a test forces small groups).
    let columnLimit: Int

    /// Scratch for up to `threads` threads.
    public init(threads: Int, columnLimit: Int = ConvScratch.defaultColumnLimit) {
        self.columnLimit = columnLimit
        buffers = Array(repeating: Array(repeating: Buffer(), count: 4), count: max(1, threads))
    }

    deinit {
        for row in buffers { for b in row { b.pointer?.deallocate() } }
    }

    private func buffer(_ thread: Int, _ slot: Int, count: Int) -> UnsafeMutablePointer<Float> {
        precondition(thread < buffers.count, "ConvScratch: thread \(thread) of \(buffers.count)")
        if buffers[thread][slot].capacity < count {
            buffers[thread][slot].pointer?.deallocate()
            buffers[thread][slot] = Buffer(pointer: .allocate(capacity: max(count, 1)), capacity: count)
        }
        return buffers[thread][slot].pointer!
    }

    /// im2col columns of thread `thread` (contents undefined).
    func columns(_ thread: Int, count: Int) -> UnsafeMutablePointer<Float> { buffer(thread, 0, count: count) }
    /// Gradient of the columns of thread `thread` (contents undefined).
    func columnGradient(_ thread: Int, count: Int) -> UnsafeMutablePointer<Float> { buffer(thread, 1, count: count) }
    /// Private weight gradient of thread `thread` ≥ 1 (contents undefined until the convolution zeroes it).
    func weightGradient(_ thread: Int, count: Int) -> UnsafeMutablePointer<Float> { buffer(thread, 2, count: count) }
    /// A group's GEMM output (forward) or gathered output gradient (backward), cout × width (contents undefined).
    func output(_ thread: Int, count: Int) -> UnsafeMutablePointer<Float> { buffer(thread, 3, count: count) }

    /// Floats a group's im2col matrix (and its output matrix) may hold: images are packed side by side up to this,
    /// so layers with small planes (the encoder's last stages, 8×8 to 16×16 at 256×256) run one GEMM over several
    /// images instead of a short one per image, and their weight gradient is read and written once per group, not
    /// once per image.
    public static let defaultColumnLimit = 1 << 22

    /// Output rows `rows` from `row` of image `image`, at column `column` of its group's matrix.
    struct Segment {
        var image: Int, row: Int, rows: Int, column: Int
    }

    /// Blocks multiplied by one GEMM; `width` columns in all.
    struct Group {
        var segments: [Segment] = []
        var width = 0
        /// The only block, when there is one (its operands are used in place).
        var single: Segment? { segments.count == 1 ? segments[0] : nil }
    }

    /// A thread's images cut into row chunks (the reference's chunking) and packed, in image order, into groups of
    /// at most `columnLimit` floats of im2col columns and of outputs (one chunk at least).
    func groups(_ spec: ConvSpec, images: Range<Int>, outH: Int, outW: Int) -> [Group] {
        let kk = spec.inChannels * spec.kernel * spec.kernel
        let rowsPerChunk = Self.rowsPerChunk(spec, outH: outH, outW: outW)
        let maxWidth = max(rowsPerChunk * outW, columnLimit / max(1, kk, spec.outChannels))
        var groups: [Group] = [], current = Group()
        for image in images {
            var row = 0
            while row < outH {
                let rows = min(rowsPerChunk, outH - row)
                if !current.segments.isEmpty && current.width + rows * outW > maxWidth {
                    groups.append(current)
                    current = Group()
                }
                current.segments.append(Segment(image: image, row: row, rows: rows, column: current.width))
                current.width += rows * outW
                row += rows
            }
        }
        if !current.segments.isEmpty { groups.append(current) }
        return groups
    }

    /// Output rows per im2col chunk: the reference's rule (ReferenceOps.convScratch), so one thread computes the
    /// same GEMMs as the reference convolution.
    static func rowsPerChunk(_ spec: ConvSpec, outH: Int, outW: Int) -> Int {
        let kk = spec.inChannels * spec.kernel * spec.kernel
        return max(1, min(outH, ReferenceOps.im2colLimit / max(1, kk * outW)))
    }

    /// How many threads share a batch of `images` (one image is never split), and OpenBLAS set to match: one
    /// thread inside each GEMM when the images are split, all of them when a single worker runs the batch.
    static func workers(images: Int, threads: Int) -> Int {
        let workers = max(1, min(threads, images))
        openblas_set_num_threads(Int32(workers > 1 ? 1 : max(1, threads)))
        return workers
    }
}
