// Evaluation.swift — the paper's evaluation protocol (spec §7) over a data set laid out as DIR/images/ and
// DIR/masks/ with an optional list of names: prediction > 0.5 at model resolution against the ground-truth
// mask read as one grey channel, OpenCV-resized to the model size, /255 ≥ 0.5; metrics per image, then means.

import CondSegCore
import CondSegImage
import Foundation

/// One image of a data set and its ground-truth mask (when there is one).
public struct DatasetItem: Sendable, Equatable {
    public var name: String
    public var imagePath: String
    public var maskPath: String?
}

/// Errors about a data set folder or list.
public struct DatasetError: Error, CustomStringConvertible {
    public let path: String
    public let problem: String
    public var description: String { "\(path): \(problem)" }
}

public enum Dataset {
    static let extensions = ["jpg", "jpeg", "png", "JPG", "JPEG", "PNG"]

    /// Items of `directory` (images/ and masks/ inside; or a plain folder of images). With `list`, the names in
    /// it (one per line, with or without extension) in that order; else every image, sorted by name.
    public static func items(directory: String, list: String? = nil, requireMasks: Bool = false) throws -> [DatasetItem] {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw DatasetError(path: directory, problem: "not a folder")
        }
        let imagesDir = fm.fileExists(atPath: directory + "/images") ? directory + "/images" : directory
        let masksDir = directory + "/masks"
        var names: [String]
        if let list {
            guard let text = try? String(contentsOfFile: list, encoding: .utf8) else {
                throw DatasetError(path: list, problem: "cannot read the list file")
            }
            names = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.hasPrefix("#") }
            guard !names.isEmpty else { throw DatasetError(path: list, problem: "the list names no images") }
        } else {
            names = ImageFiles.list(folder: imagesDir).map { URL(fileURLWithPath: $0).lastPathComponent }
            guard !names.isEmpty else { throw DatasetError(path: imagesDir, problem: "no PNG or JPEG images in the folder") }
        }
        return try names.map { entry in
            let base = strippingImageExtension(entry)
            guard let image = find(base, in: imagesDir, exact: entry) else {
                throw DatasetError(path: imagesDir, problem: "no image named \(entry) (.jpg/.jpeg/.png)")
            }
            let mask = find(base, in: masksDir, exact: nil)
            if requireMasks && mask == nil {
                throw DatasetError(path: masksDir, problem: "no ground-truth mask for \(base)")
            }
            return DatasetItem(name: base, imagePath: image, maskPath: mask)
        }
    }

    static func strippingImageExtension(_ name: String) -> String {
        let url = URL(fileURLWithPath: name)
        return extensions.contains(url.pathExtension) ? url.deletingPathExtension().lastPathComponent : name
    }

    static func find(_ base: String, in folder: String, exact: String?) -> String? {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if let exact, fm.fileExists(atPath: folder + "/" + exact, isDirectory: &isDir), !isDir.boolValue {
            return folder + "/" + exact
        }
        for ext in extensions where fm.fileExists(atPath: "\(folder)/\(base).\(ext)") { return "\(folder)/\(base).\(ext)" }
        return nil
    }
}

/// Figures of an evaluation run.
public struct EvaluationResult: Sendable {
    public var perImage: [(name: String, scores: SegmentationScores)]
    public var mean: SegmentationScores { SegmentationScores.mean(perImage.map(\.scores)) }
}

public enum Evaluation {
    /// Ground truth at the model size as the paper reads it: grey decode, OpenCV bilinear resize, /255 ≥ 0.5.
    public static func groundTruth(maskPath: String, size: Int) throws -> [Bool] {
        let gray = try ImageCodec.decodeGray(path: maskPath)
        let resized = (gray.width == size && gray.height == size) ? gray : Resize.bilinear(gray, width: size, height: size)
        return resized.pixels.map { Float($0) / 255 >= 0.5 }
    }

    /// Scores of size×size probabilities against a ground truth (prediction = probability > 0.5).
    public static func scores(probabilities: [Float], truth: [Bool]) -> SegmentationScores {
        SegmentationScores(prediction: probabilities.map { $0 > 0.5 }, truth: truth)
    }

    /// Runs the protocol over `items` (each must have a mask). `progress(done, total)` after each image.
    public static func run(_ segmenter: Segmenter, items: [DatasetItem],
                           progress: (Int, Int) -> Void = { _, _ in }) throws -> EvaluationResult {
        var results: [(String, SegmentationScores)] = []
        for (index, item) in items.enumerated() {
            guard let maskPath = item.maskPath else {
                throw DatasetError(path: item.imagePath, problem: "no ground-truth mask for \(item.name)")
            }
            let image = try ImageCodec.decodeRGB(path: item.imagePath)
            let probabilities = try segmenter.probabilities(image)
            let truth = try groundTruth(maskPath: maskPath, size: segmenter.size)
            results.append((item.name, scores(probabilities: probabilities, truth: truth)))
            progress(index + 1, items.count)
        }
        return EvaluationResult(perImage: results)
    }
}
