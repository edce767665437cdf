// ExifOrientation: reads the EXIF orientation tag of a JPEG and applies it the way cv2.imread does
// (flips and transposes, for colour and gray reads alike), so decoded pixels match OpenCV's.

/// EXIF orientation handling for decoded JPEGs.
public enum ExifOrientation {
    /// The EXIF orientation (1...8) stored in the first Exif APP1 segment of JPEG `data`, or 1 when absent
    /// or unreadable.
    public static func orientation(ofJPEG data: [UInt8]) -> Int {
        var position = 2
        while position + 4 <= data.count {
            guard data[position] == 0xFF else { return 1 }
            let marker = data[position + 1]
            if marker == 0xFF { position += 1; continue }  // fill byte
            if marker == 0xD8 || marker == 0x01 || (0xD0...0xD7).contains(marker) { position += 2; continue }
            if marker == 0xDA || marker == 0xD9 { return 1 }  // start of scan / end: no Exif before the data
            let length = Int(data[position + 2]) << 8 | Int(data[position + 3])
            guard length >= 2, position + 2 + length <= data.count else { return 1 }
            let segment = (position + 4)..<(position + 2 + length)
            if marker == 0xE1, segment.count >= 14,
               Array(data[segment.lowerBound..<(segment.lowerBound + 6)]) == [0x45, 0x78, 0x69, 0x66, 0, 0] {
                return tiffOrientation(data, tiffStart: segment.lowerBound + 6, end: segment.upperBound)
            }
            position += 2 + length
        }
        return 1
    }

    /// Orientation tag (0x0112) of IFD0 in the TIFF structure at `tiffStart`..<`end`, or 1.
    static func tiffOrientation(_ data: [UInt8], tiffStart: Int, end: Int) -> Int {
        guard tiffStart + 8 <= end else { return 1 }
        let littleEndian: Bool
        switch (data[tiffStart], data[tiffStart + 1]) {
        case (0x49, 0x49): littleEndian = true
        case (0x4D, 0x4D): littleEndian = false
        default: return 1
        }
        func read16(_ offset: Int) -> Int? {
            let at = tiffStart + offset
            guard offset >= 0, at + 2 <= end else { return nil }
            return littleEndian ? Int(data[at]) | Int(data[at + 1]) << 8 : Int(data[at]) << 8 | Int(data[at + 1])
        }
        func read32(_ offset: Int) -> Int? {
            guard let first = read16(offset), let second = read16(offset + 2) else { return nil }
            return littleEndian ? first | second << 16 : first << 16 | second
        }
        guard read16(2) == 42, let ifd = read32(4), let count = read16(ifd) else { return 1 }
        for entry in 0..<count {
            let base = ifd + 2 + 12 * entry
            guard let tag = read16(base), let type = read16(base + 2) else { return 1 }
            if tag == 0x0112 {
                guard type == 3, let value = read16(base + 8), (1...8).contains(value) else { return 1 }
                return value
            }
        }
        return 1
    }

    /// `image` turned upright for EXIF `orientation`, with OpenCV's operations: 2 flip left-right, 3 rotate
    /// 180°, 4 flip top-bottom, 5 transpose, 6 rotate 90° clockwise, 7 transverse, 8 rotate 90° counter-clockwise.
    public static func apply(_ orientation: Int, to image: Image8) -> Image8 {
        guard (2...8).contains(orientation) else { return image }
        let width = image.width, height = image.height, channels = image.channels
        let swapsAxes = orientation >= 5
        let outputWidth = swapsAxes ? height : width, outputHeight = swapsAxes ? width : height
        var output = [UInt8](repeating: 0, count: image.pixels.count)
        for outputY in 0..<outputHeight {
            for outputX in 0..<outputWidth {
                let sourceX: Int, sourceY: Int
                switch orientation {
                case 2: (sourceX, sourceY) = (width - 1 - outputX, outputY)
                case 3: (sourceX, sourceY) = (width - 1 - outputX, height - 1 - outputY)
                case 4: (sourceX, sourceY) = (outputX, height - 1 - outputY)
                case 5: (sourceX, sourceY) = (outputY, outputX)
                case 6: (sourceX, sourceY) = (outputY, height - 1 - outputX)
                case 7: (sourceX, sourceY) = (width - 1 - outputY, height - 1 - outputX)
                default: (sourceX, sourceY) = (width - 1 - outputY, outputX)
                }
                let from = (sourceY * width + sourceX) * channels, to = (outputY * outputWidth + outputX) * channels
                for channel in 0..<channels { output[to + channel] = image.pixels[from + channel] }
            }
        }
        return Image8(width: outputWidth, height: outputHeight, channels: channels, pixels: output)
    }
}
