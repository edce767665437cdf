// ImageFiles: lists the PNG/JPEG files of a folder in a stable (byte-wise sorted) order, as the
// evaluation and training loops walk data sets.
import Foundation

/// Finding image files on disk.
public enum ImageFiles {
    /// File name extensions treated as images (compared case-insensitively).
    public static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    /// Full paths of the .png/.jpg/.jpeg files (any case) directly inside `folder`, sorted by file name
    /// (byte-wise, as Python's `sorted`). Hidden files and folders are skipped. A missing or unreadable folder gives [];
    /// use `listChecked` to get an error instead.
    public static func list(folder: String) -> [String] {
        (try? listChecked(folder: folder)) ?? []
    }

    /// The images an input folder stands for: its own PNG/JPEG files, or, when it has none and holds an
    /// `images/` folder (the data-set layout: images/ and masks/), the files of that. Throws like `listChecked`.
    public static func listInputFolder(_ folder: String) throws -> [String] {
        let own = try listChecked(folder: folder)
        if !own.isEmpty { return own }
        let inner = (folder.hasSuffix("/") ? folder : folder + "/") + "images"
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: inner, isDirectory: &isDirectory), isDirectory.boolValue else { return [] }
        return try listChecked(folder: inner)
    }

    /// As `list(folder:)`, but a missing or unreadable folder throws ImageError naming it.
    public static func listChecked(folder: String) throws -> [String] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            throw ImageError(path: folder, problem: "cannot list folder (missing or unreadable)")
        }
        let images = names.filter { name in
            guard !name.hasPrefix("."), let dot = name.lastIndex(of: ".") else { return false }
            guard extensions.contains(name[name.index(after: dot)...].lowercased()) else { return false }
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: folder + "/" + name, isDirectory: &isDirectory)
            return exists && !isDirectory.boolValue
        }
        let prefix = folder.hasSuffix("/") ? folder : folder + "/"
        return images.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }.map { prefix + $0 }
    }
}
