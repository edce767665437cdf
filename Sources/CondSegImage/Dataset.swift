// Dataset.swift — reading a segmentation data set from disk: DIR/images/ and DIR/masks/ (the Kvasir-SEG layout)
// or a plain folder of images, with an optional list file of names, and the ground-truth masks read as the
// paper's protocol reads them. Here (not in CondSegRuntime) so that evaluation, calibration and the trainer
// share one reader.

import Foundation

/// One image of a data set and its ground-truth mask (when there is one).
public struct DatasetItem: Sendable, Equatable {
    public var name: String
    public var imagePath: String
    public var maskPath: String?

    public init(name: String, imagePath: String, maskPath: String?) {
        self.name = name; self.imagePath = imagePath; self.maskPath = maskPath
    }
}

/// Errors about a data set folder or list.
public struct DatasetError: Error, CustomStringConvertible {
    public let path: String
    public let problem: String
    public var description: String { "\(path): \(problem)" }

    public init(path: String, problem: String) { self.path = path; self.problem = problem }
}

/// Listing a data set's images and masks, and reading ground truth.
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
        if requireMasks {
            var masksIsFolder: ObjCBool = false
            guard fm.fileExists(atPath: masksDir, isDirectory: &masksIsFolder), masksIsFolder.boolValue else {
                throw DatasetError(path: directory, problem: "no masks/ folder of ground-truth masks (the data set folder holds images/ and masks/)")
            }
        }
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

    /// Ground truth at `size`×`size` as the paper reads it: the mask decoded as one grey channel, OpenCV bilinear
    /// resize (skipped at the same size), then /255 ≥ 0.5 (masks are noisy JPEGs: never threshold at > 0).
    public static func groundTruth(maskPath: String, size: Int) throws -> [Bool] {
        let gray = try ImageCodec.decodeGray(path: maskPath)
        let resized = (gray.width == size && gray.height == size) ? gray : Resize.bilinear(gray, width: size, height: size)
        return resized.pixels.map { Float($0) / 255 >= 0.5 }
    }
}
