// CurvePlot.swift — a small rasterised line plot of the training curves (no plotting library): left panel
// the training loss, right panel validation mDSC (green) and mIoU (blue) on [0, 1], one point per epoch.

import CondSegImage

/// Renders training curves into an RGB image.
public enum CurvePlot {
    /// 640×240 plot of `history`.
    public static func render(history: [EpochRecord], width: Int = 640, height: Int = 240) -> Image8 {
        var image = Image8(width: width, height: height, channels: 3,
                           pixels: [UInt8](repeating: 255, count: width * height * 3))
        let panel = width / 2
        func set(_ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8)) {
            guard x >= 0, x < width, y >= 0, y < height else { return }
            let o = (y * width + x) * 3
            image.pixels[o] = c.0; image.pixels[o + 1] = c.1; image.pixels[o + 2] = c.2
        }
        func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ c: (UInt8, UInt8, UInt8)) {
            let steps = max(abs(x1 - x0), abs(y1 - y0), 1)
            for s in 0...steps {
                let x = x0 + (x1 - x0) * s / steps, y = y0 + (y1 - y0) * s / steps
                set(x, y, c); set(x, y + 1, c)
            }
        }
        let margin = 16
        for p in 0..<2 {
            let left = p * panel + margin, right = (p + 1) * panel - margin
            line(left, margin, left, height - margin, (0, 0, 0))
            line(left, height - margin, right, height - margin, (0, 0, 0))
        }
        guard !history.isEmpty else { return image }
        func curve(_ values: [Double], panelIndex: Int, lo: Double, hi: Double, colour: (UInt8, UInt8, UInt8)) {
            let left = panelIndex * panel + margin, right = (panelIndex + 1) * panel - margin
            let span = max(hi - lo, 1e-12)
            let points = values.enumerated().map { (i, v) -> (Int, Int) in
                let x = values.count == 1 ? (left + right) / 2 : left + (right - left) * i / (values.count - 1)
                let y = height - margin - Int(Double(height - 2 * margin) * (min(max(v, lo), hi) - lo) / span)
                return (x, y)
            }
            for i in points.indices {
                if i > 0 { line(points[i - 1].0, points[i - 1].1, points[i].0, points[i].1, colour) }
                for dy in -2...2 { for dx in -2...2 { set(points[i].0 + dx, points[i].1 + dy, colour) } }
            }
        }
        let losses = history.map(\.trainLoss)
        curve(losses, panelIndex: 0, lo: 0, hi: (losses.max() ?? 1) * 1.05, colour: (200, 40, 40))
        curve(history.map(\.valDice), panelIndex: 1, lo: 0, hi: 1, colour: (30, 150, 30))
        curve(history.map(\.valIoU), panelIndex: 1, lo: 0, hi: 1, colour: (40, 60, 200))
        return image
    }
}
