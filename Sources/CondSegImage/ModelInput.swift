// ModelInput: turns a model-sized RGB image into the network's planar CHW float tensor, with the
// release's BGR channel order and the same float values NumPy produces for `image / 255.0` cast to float32.

/// Building the network input tensor from an image.
public enum ModelInput {
    /// Planar CHW float input for the network from an RGB image that is already model size:
    /// channel order BGR when `bgr` (the release), values pixel * scale (1/255). Count 3*h*w.
    ///
    /// When `scale` is the float nearest to 1/n for a whole number n (e.g. 1/255), each value is computed as
    /// Float(Double(pixel) / n), which is what the PyTorch pipeline's `image / 255.0` (float64) followed by
    /// `astype(float32)` gives; otherwise Float(pixel) * scale. A gray image is treated as R = G = B.
    public static func planar(_ rgb: Image8, bgr: Bool, scale: Float) -> [Float] {
        let image = rgb.channels == 3 ? rgb : rgb.asRGB()
        let table = valueTable(scale: scale)
        let planeSize = image.width * image.height
        var output = [Float](repeating: 0, count: 3 * planeSize)
        table.withUnsafeBufferPointer { table in
            image.pixels.withUnsafeBufferPointer { pixels in
                output.withUnsafeMutableBufferPointer { output in
                    for outputChannel in 0..<3 {
                        let sourceChannel = bgr ? 2 - outputChannel : outputChannel
                        let planeBase = outputChannel * planeSize
                        for index in 0..<planeSize {
                            output[planeBase + index] = table[Int(pixels[3 * index + sourceChannel])]
                        }
                    }
                }
            }
        }
        return output
    }

    /// The float value of each byte 0...255 under `scale` (see `planar`).
    public static func valueTable(scale: Float) -> [Float] {
        let reciprocal = (1 / Double(scale)).rounded()
        let isReciprocalOfWhole = scale > 0 && reciprocal >= 1 && reciprocal < 1e7 && Float(1 / reciprocal) == scale
        return (0..<256).map { byte in
            isReciprocalOfWhole ? Float(Double(byte) / reciprocal) : Float(byte) * scale
        }
    }
}
