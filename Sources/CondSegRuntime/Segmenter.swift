// Segmenter.swift — one image in, a mask out, the way the authors' release preprocesses: OpenCV-exact bilinear
// resize of the 8-bit image to the model size, channel order and scale from the model's metadata; after the
// network, probabilities upsampled (bilinear) to the image's own size and thresholded at 0.5.
// Works with any InferenceEngine (CondSegCore's GraphExecutor.swift): any of the four executors.

import CondSegCore
import CondSegImage

/// The result of segmenting one image.
public struct Segmentation: Sendable {
    /// Sigmoid probabilities at model resolution (size × size, row-major).
    public var probabilities: [Float]
    /// Side of the model resolution.
    public var modelSize: Int
    /// 0/255 mask at the image's own size (bilinear upsampling of the probabilities, then > 0.5).
    public var mask: [UInt8]
    public var width: Int
    public var height: Int
}

/// Pre- and post-processing around an inference engine.
public final class Segmenter {
    public let engine: InferenceEngine
    /// Side of the square model input.
    public var size: Int { engine.config.inputSize }

    public init(engine: InferenceEngine) { self.engine = engine }

    /// The planar network input for an RGB image of any size: OpenCV bilinear resize to size×size on 8-bit
    /// pixels, then channel order and scale per the model's metadata.
    public func modelInput(_ rgb: Image8) -> [Float] {
        let resized = (rgb.width == size && rgb.height == size) ? rgb : Resize.bilinear(rgb, width: size, height: size)
        return ModelInput.planar(resized, bgr: engine.config.channelOrderBGR, scale: engine.config.scale)
    }

    /// Probabilities at model resolution for one RGB image.
    public func probabilities(_ rgb: Image8) throws -> [Float] {
        try engine.predict(input: modelInput(rgb), height: size, width: size)
    }

    /// Segments one RGB image: probabilities at model resolution and a mask at the image's own size.
    public func segment(_ rgb: Image8) throws -> Segmentation {
        let probabilities = try self.probabilities(rgb)
        return Segmentation(probabilities: probabilities, modelSize: size,
                            mask: Segmenter.mask(probabilities, size: size, width: rgb.width, height: rgb.height),
                            width: rgb.width, height: rgb.height)
    }

    /// 0/255 mask at width×height from size×size probabilities: bilinear upsampling, then > 0.5.
    public static func mask(_ probabilities: [Float], size: Int, width: Int, height: Int) -> [UInt8] {
        let scaled = (width == size && height == size) ? probabilities
            : Resize.bilinear(plane: probabilities, width: size, height: size, toWidth: width, toHeight: height)
        return scaled.map { $0 > 0.5 ? 255 : 0 }
    }
}
