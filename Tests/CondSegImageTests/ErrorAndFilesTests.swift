// Bad-input tests (truncated JPEG and PNG, text, empty, missing files all throw ImageError naming the file)
// and ImageFiles.list ordering/filtering.
import Foundation
import XCTest
@testable import CondSegImage

final class ErrorAndFilesTests: XCTestCase {
    private func assertImageError(_ path: String, mentions words: [String], file: StaticString = #filePath, line: UInt = #line) {
        for (mode, decode) in [("rgb", { try ImageCodec.decodeRGB(path: path) }), ("gray", { try ImageCodec.decodeGray(path: path) })] {
            do {
                let image = try decode()
                XCTFail("\(mode) decode of \(path) succeeded (\(image.width)x\(image.height)) but should fail", file: file, line: line)
            } catch let error as ImageError {
                XCTAssertEqual(error.path, path, file: file, line: line)
                let text = "\(error)"
                XCTAssertTrue(text.hasPrefix(path + ": "), text, file: file, line: line)
                XCTAssertFalse(text.contains("\n"), "one-line message: \(text)", file: file, line: line)
                for word in words {
                    XCTAssertTrue(text.lowercased().contains(word), "'\(text)' should mention '\(word)'", file: file, line: line)
                }
            } catch {
                XCTFail("\(mode): expected ImageError, got \(error)", file: file, line: line)
            }
        }
    }

    func testBadFilesThrowImageErrorNamingThePath() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let jpeg = try Fixtures.bytes("kvasir-420.jpg")
        let png = try Fixtures.bytes("kvasir-420.cv2-color.png")
        let files: [(String, [UInt8], [String])] = [
            ("truncated.jpg", Array(jpeg.prefix(jpeg.count / 2)), ["jpeg", "truncated"]),
            ("header-only.jpg", Array(jpeg.prefix(40)), ["jpeg"]),
            ("truncated.png", Array(png.prefix(png.count / 2)), ["png"]),
            ("signature-only.png", Array(png.prefix(8)), ["png"]),
            ("notes.png", Array("these are not pixels\n".utf8), ["not a png or jpeg"]),
            ("empty.jpg", [], ["empty"]),
        ]
        for (name, bytes, words) in files {
            let path = folder + "/" + name
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            assertImageError(path, mentions: words)
        }
        assertImageError(folder + "/missing.png", mentions: ["cannot open"])
        XCTAssertThrowsError(try ImageCodec.decodeJPEG(data: Array(jpeg.prefix(jpeg.count - 300)), name: "frame-17")) { error in
            XCTAssertTrue("\(error)".hasPrefix("frame-17: "), "\(error)")
        }
        XCTAssertThrowsError(try ImageCodec.decodeJPEG(data: png, name: "frame-18")) { error in
            XCTAssertTrue("\(error)".contains("not a JPEG"), "\(error)")
        }
    }

    func testWriteFailureNamesPathAndLeavesNothing() throws {
        let image = Image8(width: 2, height: 2, channels: 3)
        let path = "/nonexistent-folder-\(UUID().uuidString)/out.png"
        XCTAssertThrowsError(try ImageCodec.writePNG(image, to: path)) { error in
            XCTAssertTrue("\(error)".hasPrefix(path + ": "), "\(error)")
        }
        XCTAssertThrowsError(try ImageCodec.encodePNG(Image8(width: 2, height: 2, channels: 2)))
    }

    func testListsImageFilesSortedByName() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for name in ["b.PNG", "a.jpg", "C.jpeg", "notes.txt", "noextension", ".hidden.png", "d.JPG", "e.png.bak"] {
            try Data([0]).write(to: URL(fileURLWithPath: folder + "/" + name))
        }
        try FileManager.default.createDirectory(atPath: folder + "/folder.png", withIntermediateDirectories: false)
        XCTAssertEqual(ImageFiles.list(folder: folder), ["C.jpeg", "a.jpg", "b.PNG", "d.JPG"].map { folder + "/" + $0 })
        XCTAssertEqual(ImageFiles.list(folder: folder + "/missing"), [])
        XCTAssertThrowsError(try ImageFiles.listChecked(folder: folder + "/missing")) { error in
            XCTAssertTrue("\(error)".hasPrefix(folder + "/missing: "), "\(error)")
        }
    }
}
