// Resize: OpenCV-exact bilinear resizing. The uint8 path reproduces cv::resize(INTER_LINEAR) bit for bit:
// half-pixel centres computed in double then float, 11-bit coefficients rounded half-to-even, horizontal
// sums in int32, and the vertical step ((b0*(r0>>4))>>16 + (b1*(r1>>4))>>16 + 2) >> 2 that OpenCV's SIMD and
// scalar code share. The float path follows the same mapping with float weights.

/// Bilinear resizing identical to OpenCV's `cv2.resize(..., interpolation=cv2.INTER_LINEAR)`.
public enum Resize {
    /// Coefficient scale of OpenCV's fixed-point resize (INTER_RESIZE_COEF_BITS = 11).
    static let coefficientScale: Float = 2048

    /// Source position of each destination index along one axis: the lower source index (not clamped)
    /// and the float fraction, exactly as OpenCV computes them.
    static func sourcePositions(source: Int, destination: Int) -> (index: [Int], fraction: [Float]) {
        let inverseScale = Double(destination) / Double(source)
        let scale = 1.0 / inverseScale
        var index = [Int](repeating: 0, count: destination)
        var fraction = [Float](repeating: 0, count: destination)
        for position in 0..<destination {
            var value = Float((Double(position) + 0.5) * scale - 0.5)
            let lower = value.rounded(.down)
            value -= lower
            index[position] = Int(lower)
            fraction[position] = value
        }
        return (index, fraction)
    }

    /// Horizontal taps: OpenCV clamps the position to the first/last column with a zero fraction.
    static func horizontalTaps(source: Int, destination: Int) -> (index: [Int], fraction: [Float]) {
        var (index, fraction) = sourcePositions(source: source, destination: destination)
        for position in 0..<destination {
            if index[position] < 0 { index[position] = 0; fraction[position] = 0 }
            if index[position] + 1 >= source { index[position] = source - 1; fraction[position] = 0 }
        }
        return (index, fraction)
    }

    /// saturate_cast<short>(value * 2048) with OpenCV's round-half-to-even.
    @inline(__always)
    static func fixedPoint(_ value: Float) -> Int32 {
        Int32((value * coefficientScale).rounded(.toNearestOrEven))
    }

    /// cv2.resize(src, (w, h), interpolation=INTER_LINEAR) on uint8, bit-identical to OpenCV on x86.
    /// Works for any channel count; an empty source or target gives an image of the target size filled with 0.
    public static func bilinear(_ image: Image8, width: Int, height: Int) -> Image8 {
        precondition(width >= 0 && height >= 0, "Resize.bilinear: negative target size \(width)x\(height)")
        let channels = image.channels
        if width == 0 || height == 0 || image.width == 0 || image.height == 0 {
            return Image8(width: width, height: height, channels: channels)
        }
        if width == image.width && height == image.height { return image }
        let sourceWidth = image.width, sourceHeight = image.height
        let rowLength = width * channels

        // Horizontal: per destination element, the source element offset and two weights.
        let (columnIndex, columnFraction) = horizontalTaps(source: sourceWidth, destination: width)
        var offsets = [Int](repeating: 0, count: rowLength)
        var alpha0 = [Int32](repeating: 0, count: rowLength)
        var alpha1 = [Int32](repeating: 0, count: rowLength)
        for x in 0..<width {
            let weight0 = fixedPoint(1 - columnFraction[x]), weight1 = fixedPoint(columnFraction[x])
            for channel in 0..<channels {
                offsets[x * channels + channel] = columnIndex[x] * channels + channel
                alpha0[x * channels + channel] = weight0
                alpha1[x * channels + channel] = weight1
            }
        }
        // Past the last column OpenCV uses only the left tap (index + channels may be out of the row).
        let secondTapStep = channels

        // Vertical: unclamped lower row and weights; rows are clamped when read.
        let (rowIndex, rowFraction) = sourcePositions(source: sourceHeight, destination: height)

        var output = [UInt8](repeating: 0, count: rowLength * height)
        var rowCache0 = [Int32](repeating: 0, count: rowLength)
        var rowCache1 = [Int32](repeating: 0, count: rowLength)
        var cachedSource0 = -1, cachedSource1 = -1

        image.pixels.withUnsafeBufferPointer { source in
            offsets.withUnsafeBufferPointer { offsets in
                alpha0.withUnsafeBufferPointer { alpha0 in
                    alpha1.withUnsafeBufferPointer { alpha1 in
                        output.withUnsafeMutableBufferPointer { output in
                            func horizontal(sourceRow: Int, into row: UnsafeMutableBufferPointer<Int32>) {
                                let base = sourceRow * sourceWidth * channels
                                let lastStart = (sourceWidth - 1) * channels
                                for element in 0..<rowLength {
                                    let offset = offsets[element]
                                    let left = Int32(source[base + offset])
                                    if offset >= lastStart {
                                        row[element] = left * 2048
                                    } else {
                                        let right = Int32(source[base + offset + secondTapStep])
                                        row[element] = left * alpha0[element] + right * alpha1[element]
                                    }
                                }
                            }
                            for y in 0..<height {
                                let lower = min(max(rowIndex[y], 0), sourceHeight - 1)
                                let upper = min(max(rowIndex[y] + 1, 0), sourceHeight - 1)
                                // Reuse horizontally filtered rows between output rows when possible.
                                if cachedSource0 != lower {
                                    if cachedSource1 == lower {
                                        swap(&rowCache0, &rowCache1)
                                        swap(&cachedSource0, &cachedSource1)
                                    } else {
                                        rowCache0.withUnsafeMutableBufferPointer { horizontal(sourceRow: lower, into: $0) }
                                        cachedSource0 = lower
                                    }
                                }
                                if cachedSource1 != upper {
                                    if upper == cachedSource0 {
                                        rowCache1 = rowCache0
                                    } else {
                                        rowCache1.withUnsafeMutableBufferPointer { horizontal(sourceRow: upper, into: $0) }
                                    }
                                    cachedSource1 = upper
                                }
                                let beta0 = fixedPoint(1 - rowFraction[y]), beta1 = fixedPoint(rowFraction[y])
                                let outputBase = y * rowLength
                                rowCache0.withUnsafeBufferPointer { row0 in
                                    rowCache1.withUnsafeBufferPointer { row1 in
                                        for element in 0..<rowLength {
                                            let top: Int32 = (beta0 * (row0[element] >> 4)) >> 16
                                            let bottom: Int32 = (beta1 * (row1[element] >> 4)) >> 16
                                            let mixed: Int32 = top + bottom + 2
                                            output[outputBase + element] = UInt8(clamping: mixed >> 2)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return Image8(width: width, height: height, channels: channels, pixels: output)
    }

    /// cv2.resize on a float32 single-channel plane (row-major), INTER_LINEAR, half-pixel centres.
    public static func bilinear(plane: [Float], width: Int, height: Int, toWidth: Int, toHeight: Int) -> [Float] {
        precondition(plane.count == width * height, "Resize.bilinear(plane:): \(plane.count) values for \(width)x\(height)")
        precondition(toWidth >= 0 && toHeight >= 0, "Resize.bilinear(plane:): negative target size")
        if toWidth == 0 || toHeight == 0 { return [] }
        if width == 0 || height == 0 { return [Float](repeating: 0, count: toWidth * toHeight) }
        if width == toWidth && height == toHeight { return plane }
        let (columnIndex, columnFraction) = horizontalTaps(source: width, destination: toWidth)
        let (rowIndex, rowFraction) = sourcePositions(source: height, destination: toHeight)
        var horizontal = [Float](repeating: 0, count: toWidth * height)
        plane.withUnsafeBufferPointer { source in
            horizontal.withUnsafeMutableBufferPointer { target in
                for y in 0..<height {
                    let base = y * width
                    for x in 0..<toWidth {
                        let column = columnIndex[x], fraction = columnFraction[x]
                        if column + 1 >= width {
                            target[y * toWidth + x] = source[base + column]
                        } else {
                            target[y * toWidth + x] = source[base + column] * (1 - fraction) + source[base + column + 1] * fraction
                        }
                    }
                }
            }
        }
        var output = [Float](repeating: 0, count: toWidth * toHeight)
        horizontal.withUnsafeBufferPointer { rows in
            output.withUnsafeMutableBufferPointer { target in
                for y in 0..<toHeight {
                    let lower = min(max(rowIndex[y], 0), height - 1)
                    let upper = min(max(rowIndex[y] + 1, 0), height - 1)
                    let beta1 = rowFraction[y], beta0 = 1 - beta1
                    for x in 0..<toWidth {
                        target[y * toWidth + x] = rows[lower * toWidth + x] * beta0 + rows[upper * toWidth + x] * beta1
                    }
                }
            }
        }
        return output
    }
}
