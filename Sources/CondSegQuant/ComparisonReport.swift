// ComparisonReport.swift — `condseg compare --report DIR`: index.html with the summary, an inline-SVG chart of
// per-layer cosine and SQNR, and side-by-side overlays (float, int8, ground truth) of the worst images as PNG files
// beside it. Self-contained: no scripts, no network.

import CondSegCore
import CondSegIO
import CondSegImage
import CondSegRuntime
import Foundation

public enum ComparisonReport {
    /// Writes DIR/index.html and DIR/<image>-{float,int8,truth}.png for the worst images. `modelSize` is the input
    /// size both ran at; `calibratedSize`, when given, the size the table was calibrated at (stated when it
    /// differs). `weightBits` is the table's weight range (8, 7 or 6 bits), stated in the summary.
    public static func write(_ result: ComparisonResult, to directory: String, title: String, modelSize: Int,
                             thresholds: [String], failures: [String], weightBits: Int = 8,
                             calibratedSize: Int? = nil) throws {
        try AtomicFile.makeFolder(directory)
        var html = """
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><title>\(escape(title))</title>
        <style>
        body { font-family: sans-serif; margin: 24px; color: #222; }
        table { border-collapse: collapse; } td, th { padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: right; }
        th:first-child, td:first-child { text-align: left; }
        .pass { color: #17803d; font-weight: bold; } .fail { color: #c0262d; font-weight: bold; }
        .row { display: flex; gap: 10px; margin-bottom: 16px; } .row figure { margin: 0; }
        .row img { width: 256px; height: auto; border: 1px solid #ccc; } figcaption { font-size: 12px; }
        </style></head><body>
        <h1>\(escape(title))</h1>

        """
        html += "<h2>Summary</h2>\n<table><tr><th></th><th>mDSC</th><th>mIoU</th></tr>\n"
        if let f = result.floatMean, let q = result.int8Mean {
            html += "<tr><td>float32</td><td>\(fmt(f.dice))</td><td>\(fmt(f.iou))</td></tr>\n"
            html += "<tr><td>int8</td><td>\(fmt(q.dice))</td><td>\(fmt(q.iou))</td></tr>\n"
        } else {
            html += "<tr><td colspan=3>no ground-truth masks: agreement only</td></tr>\n"
        }
        html += "</table>\n<p>images: \(result.images.count); mean Dice(int8 mask, float mask) = <b>\(fmt(result.agreement))</b></p>\n"
        html += "<p>input size: \(modelSize)×\(modelSize)"
        if let calibratedSize, calibratedSize != modelSize {
            html += " (the table was calibrated at \(calibratedSize)×\(calibratedSize): its activation ranges may not fit)"
        }
        html += "</p>\n"
        html += "<p>int8 weights: \(weightBits) bits (−\(Int8ConvWeights.limit(bits: weightBits))…\(Int8ConvWeights.limit(bits: weightBits)) per output channel)</p>\n"
        if thresholds.isEmpty {
            html += "<p>no thresholds given</p>\n"
        } else if failures.isEmpty {
            html += "<p class=\"pass\">PASS: \(escape(thresholds.joined(separator: "; ")))</p>\n"
        } else {
            html += "<p class=\"fail\">FAIL: \(escape(failures.joined(separator: "; ")))</p>\n"
        }
        html += "<h2>Per-layer error of the int8 convolutions (vs float, accumulated through the network)</h2>\n"
        html += layerChart(result.layers)
        html += "<h2>Worst images (lowest int8-vs-float agreement)</h2>\n"
        for item in result.worst {
            guard let (floatProbs, int8Probs) = result.worstProbabilities[item.name] else { continue }
            let image = try ImageCodec.decodeRGB(path: item.imagePath)
            let floatMask = Segmenter.mask(floatProbs, size: modelSize, width: image.width, height: image.height)
            let int8Mask = Segmenter.mask(int8Probs, size: modelSize, width: image.width, height: image.height)
            let safe = item.name.replacingOccurrences(of: "/", with: "_")
            var figures: [(String, String)] = []
            try writePNG(Overlay.draw(on: image, mask: floatMask, style: OverlayStyle(tint: (0, 200, 0))), "\(safe)-float.png", directory)
            figures.append(("\(safe)-float.png", "float32" + (item.float.map { " (Dice \(fmt($0.dice)))" } ?? "")))
            try writePNG(Overlay.draw(on: image, mask: int8Mask, style: OverlayStyle(tint: (230, 120, 0))), "\(safe)-int8.png", directory)
            figures.append(("\(safe)-int8.png", "int8" + (item.int8.map { " (Dice \(fmt($0.dice)))" } ?? "")))
            if let maskPath = item.maskPath {
                let gray = try ImageCodec.decodeGray(path: maskPath)
                let truth = gray.width == image.width && gray.height == image.height ? gray
                    : Resize.bilinear(gray, width: image.width, height: image.height)
                let mask = truth.pixels.map { $0 >= 128 ? UInt8(255) : 0 }
                try writePNG(Overlay.draw(on: image, mask: mask, style: OverlayStyle(tint: (40, 90, 255))), "\(safe)-truth.png", directory)
                figures.append(("\(safe)-truth.png", "ground truth"))
            }
            html += "<h3>\(escape(item.name)): agreement \(fmt(item.agreement))</h3>\n<div class=\"row\">\n"
            for (file, caption) in figures {
                html += "<figure><img src=\"\(escape(file))\" alt=\"\(escape(caption))\"><figcaption>\(escape(caption))</figcaption></figure>\n"
            }
            html += "</div>\n"
        }
        html += "<h2>Per-layer table</h2>\n<table><tr><th>layer</th><th>cosine</th><th>SQNR (dB)</th></tr>\n"
        for l in result.layers {
            html += "<tr><td>\(escape(l.name))</td><td>\(String(format: "%.5f", l.cosine))</td><td>\(l.sqnrDB.isFinite ? String(format: "%.1f", l.sqnrDB) : "inf")</td></tr>\n"
        }
        html += "</table>\n</body></html>\n"
        try AtomicFile.write(Array(html.utf8), to: directory + "/index.html")
    }

    static func writePNG(_ image: Image8, _ name: String, _ directory: String) throws {
        try AtomicFile.write(try ImageCodec.encodePNG(image), to: directory + "/" + name)
    }

    /// Two horizontal bar series per layer: cosine (scaled from 0.9 to 1) and SQNR (0 to 50 dB).
    static func layerChart(_ layers: [LayerError]) -> String {
        let rowHeight = 14, labelWidth = 260, barWidth = 300, gap = 40
        let height = rowHeight * layers.count + 40
        let width = labelWidth + 2 * barWidth + gap + 80
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-size=\"10\" font-family=\"sans-serif\">\n"
        let x1 = labelWidth, x2 = labelWidth + barWidth + gap
        svg += "<text x=\"\(x1)\" y=\"12\" font-weight=\"bold\">cosine (axis 0.9 … 1.0)</text>\n"
        svg += "<text x=\"\(x2)\" y=\"12\" font-weight=\"bold\">SQNR dB (axis 0 … 50)</text>\n"
        for (i, l) in layers.enumerated() {
            let y = 24 + i * rowHeight
            let c = max(0, min(1, (l.cosine - 0.9) / 0.1))
            let s = l.sqnrDB.isFinite ? max(0, min(1, l.sqnrDB / 50)) : 1
            let colour = l.cosine >= 0.99 ? "#3b8a4a" : (l.cosine >= 0.95 ? "#d08a1a" : "#c0262d")
            svg += "<text x=\"\(labelWidth - 6)\" y=\"\(y + 10)\" text-anchor=\"end\">\(escape(l.name))</text>\n"
            svg += "<rect x=\"\(x1)\" y=\"\(y + 2)\" width=\"\(Int(c * Double(barWidth)))\" height=\"\(rowHeight - 4)\" fill=\"\(colour)\"/>\n"
            svg += "<text x=\"\(x1 + Int(c * Double(barWidth)) + 3)\" y=\"\(y + 10)\">\(String(format: "%.4f", l.cosine))</text>\n"
            svg += "<rect x=\"\(x2)\" y=\"\(y + 2)\" width=\"\(Int(s * Double(barWidth)))\" height=\"\(rowHeight - 4)\" fill=\"#4a6fb5\"/>\n"
            svg += "<text x=\"\(x2 + Int(s * Double(barWidth)) + 3)\" y=\"\(y + 10)\">\(l.sqnrDB.isFinite ? String(format: "%.1f", l.sqnrDB) : "inf")</text>\n"
        }
        svg += "</svg>\n"
        return svg
    }

    static func fmt(_ v: Double) -> String { String(format: "%.4f", v) }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
