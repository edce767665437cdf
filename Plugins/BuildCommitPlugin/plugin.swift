// BuildCommitPlugin: a SwiftPM build-tool plugin that gives the `condseg` executable the git commit it is built
// from (`condseg --version`). It generates BuildCommit.swift in the build folder with `git rev-parse HEAD`, run
// through /bin/sh; outside a git checkout (a source tarball) or without git the commit is "unknown", so a plain
// `swift build` works anywhere. The command runs again whenever HEAD, the branch it names or the HEAD reflog
// changes (a commit, a checkout, a reset), never otherwise.
import Foundation
import PackagePlugin

@main
struct BuildCommitPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let package = context.package.directoryURL
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("BuildCommit.swift")
        // $1: the package folder, $2: the file to write. Only the package's own checkout counts (a .git entry in
        // the package folder), not a repository the folder happens to sit in.
        let script = #"""
            commit=unknown
            if [ -e "$1/.git" ]; then commit=$(git -C "$1" rev-parse --verify -q 'HEAD^{commit}' 2>/dev/null) || commit=unknown; fi
            printf '%s\n' '// Generated at build time by Plugins/BuildCommitPlugin: the git commit of this build.' \
                '/// The git commit this condseg was built from ("unknown" when built outside a git checkout).' \
                "let condsegBuildCommit = \"$commit\"" >"$2.tmp" && mv "$2.tmp" "$2"
            """#
        return [.buildCommand(displayName: "Recording the git commit of \(target.name)",
                              executable: URL(fileURLWithPath: "/bin/sh"),
                              arguments: ["-c", script, "sh", package.path, output.path],
                              inputFiles: gitStateFiles(package: package),
                              outputFiles: [output])]
    }

    /// The files that change when the checked-out commit changes: HEAD, its reflog, the branch HEAD names (loose or
    /// packed). Handles linked worktrees (a `.git` file pointing to the worktree's folder, with `commondir`).
    func gitStateFiles(package: URL) -> [URL] {
        func text(_ url: URL) -> String? {
            (try? String(contentsOf: url, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        func resolve(_ path: String, against base: URL) -> URL {
            path.hasPrefix("/") ? URL(fileURLWithPath: path) : base.appendingPathComponent(path)
        }
        var gitDir = package.appendingPathComponent(".git")
        if let pointer = text(gitDir), pointer.hasPrefix("gitdir:") {
            gitDir = resolve(String(pointer.dropFirst("gitdir:".count)).trimmingCharacters(in: .whitespaces), against: package)
        }
        let commonDir = text(gitDir.appendingPathComponent("commondir")).map { resolve($0, against: gitDir) } ?? gitDir
        var files = [gitDir.appendingPathComponent("HEAD"), gitDir.appendingPathComponent("logs/HEAD"),
                     commonDir.appendingPathComponent("packed-refs")]
        if let head = text(gitDir.appendingPathComponent("HEAD")), head.hasPrefix("ref:") {
            files.append(commonDir.appendingPathComponent(String(head.dropFirst(4)).trimmingCharacters(in: .whitespaces)))
        }
        return files.filter { FileManager.default.fileExists(atPath: $0.path) }
    }
}
