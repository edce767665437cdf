// Overlay: draws a segmentation mask over an RGB frame: a translucent tint on mask pixels and an opaque
// band along the inside of the mask's boundary. The in-place variant is for live video and uses only
// stack scratch (no heap allocation per frame for ordinary frame widths).

/// How a mask is drawn over a frame.
public struct OverlayStyle: Sendable {
    /// Colour blended over mask pixels (RGB).
    public var tint: (UInt8, UInt8, UInt8)
    /// Weight of the tint in 0...1: output = round((1 - opacity) * pixel + opacity * tint).
    public var opacity: Float
    /// Whether to draw the boundary band.
    public var contour: Bool
    /// Colour of the boundary band (RGB, opaque).
    public var contourColor: (UInt8, UInt8, UInt8)
    /// Width of the boundary band in pixels: mask pixels whose 8-neighbourhood distance to a non-mask pixel
    /// (or to the outside of the frame) is at most this are painted. 0 disables the band.
    public var contourThickness: Int

    /// A style; the defaults are a green tint at 0.35 and a 2-pixel yellow contour.
    public init(tint: (UInt8, UInt8, UInt8) = (0, 255, 0), opacity: Float = 0.35, contour: Bool = true,
                contourColor: (UInt8, UInt8, UInt8) = (255, 255, 0), contourThickness: Int = 2) {
        self.tint = tint
        self.opacity = opacity
        self.contour = contour
        self.contourColor = contourColor
        self.contourThickness = contourThickness
    }

    /// Green tint 0.35, yellow contour 2 px.
    public static let `default` = OverlayStyle()
}

/// Drawing masks over frames.
public enum Overlay {
    /// Mask values at or above this are foreground (the dataset's threshold 0.5 on value/255).
    public static let foregroundThreshold: UInt8 = 128

    /// Tints mask pixels (mask value >= 128) and draws the mask's contour over a copy of the RGB frame. mask is w*h, 1 byte/px.
    /// A gray frame is expanded to RGB first; the result always has 3 channels.
    public static func draw(on rgb: Image8, mask: [UInt8], style: OverlayStyle) -> Image8 {
        precondition(mask.count == rgb.width * rgb.height,
                     "Overlay.draw: mask has \(mask.count) bytes for a \(rgb.width)x\(rgb.height) frame")
        var result = rgb.asRGB()
        result.pixels.withUnsafeMutableBufferPointer { pixels in
            mask.withUnsafeBufferPointer { mask in
                if let pixelBase = pixels.baseAddress, let maskBase = mask.baseAddress {
                    draw(onRGB: pixelBase, width: rgb.width, height: rgb.height, mask: maskBase, style: style)
                }
            }
        }
        return result
    }

    /// Same, in place on a raw RGB24 buffer (used per live frame; must not allocate per call beyond a reusable scratch).
    /// `buffer` holds width*height*3 bytes without row padding; `mask` holds width*height bytes.
    public static func draw(onRGB buffer: UnsafeMutablePointer<UInt8>, width: Int, height: Int,
                            mask: UnsafePointer<UInt8>, style: OverlayStyle) {
        guard width > 0, height > 0 else { return }
        let threshold = foregroundThreshold
        let opacity = min(max(style.opacity, 0), 1)
        let band = style.contour ? max(0, style.contourThickness) : 0
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 3 * 256) { blend in
            // Per-channel lookup table of the blended value for each input byte.
            for channel in 0..<3 {
                let tintValue = Float(channel == 0 ? style.tint.0 : channel == 1 ? style.tint.1 : style.tint.2)
                for value in 0..<256 {
                    let mixed = (1 - opacity) * Float(value) + opacity * tintValue
                    blend[channel * 256 + value] = UInt8(clamping: Int(mixed.rounded(.toNearestOrAwayFromZero)))
                }
            }
            if band == 0 {
                for index in 0..<(width * height) where mask[index] >= threshold {
                    tintPixel(buffer + 3 * index, blend)
                }
                return
            }
            let contour = (style.contourColor.0, style.contourColor.1, style.contourColor.2)
            let window = 2 * band + 1
            // Ring of `window` rows; entry is 1 when the whole horizontal window [x-band, x+band] lies inside
            // the frame and inside the mask.
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: window * width) { ring in
                func fillRing(row: Int) {
                    let slot = ring.baseAddress! + (row % window) * width
                    let maskRow = mask + row * width
                    var run = 0  // foreground pixels in [x-band, x+band] ∩ frame
                    for x in 0..<min(band, width) where maskRow[x] >= threshold { run += 1 }
                    for x in 0..<width {
                        let entering = x + band, leaving = x - band - 1
                        if entering < width && maskRow[entering] >= threshold { run += 1 }
                        if leaving >= 0 && maskRow[leaving] >= threshold { run -= 1 }
                        slot[x] = (x - band >= 0 && x + band < width && run == window) ? 1 : 0
                    }
                }
                for row in 0..<min(band, height) { fillRing(row: row) }
                for y in 0..<height {
                    if y + band < height { fillRing(row: y + band) }
                    let rowsInside = y - band >= 0 && y + band < height
                    let maskRow = mask + y * width
                    let ringBase = ring.baseAddress!
                    for x in 0..<width where maskRow[x] >= threshold {
                        var interior = rowsInside
                        if interior {
                            var slot = (y + band) % window
                            for _ in 0..<window {
                                if ringBase[slot * width + x] == 0 { interior = false; break }
                                slot = slot == 0 ? window - 1 : slot - 1
                            }
                        }
                        let pixel = buffer + 3 * (y * width + x)
                        if interior {
                            tintPixel(pixel, blend)
                        } else {
                            pixel[0] = contour.0
                            pixel[1] = contour.1
                            pixel[2] = contour.2
                        }
                    }
                }
            }
        }
    }

    @inline(__always)
    static func tintPixel(_ pixel: UnsafeMutablePointer<UInt8>, _ blend: UnsafeMutableBufferPointer<UInt8>) {
        pixel[0] = blend[Int(pixel[0])]
        pixel[1] = blend[256 + Int(pixel[1])]
        pixel[2] = blend[512 + Int(pixel[2])]
    }
}
