import APOJSON
import Foundation
import Yams

/// Part of the validate stage: artifact names must stay inside the job's folder; path values must
/// be paths (no control characters); named values must be among the allowed ones. With `inputs`,
/// input paths are resolved, made absolute and checked on disk (exists, readable, pinned sha256),
/// and output paths made absolute. Values holding a `${jobs.…}` reference are upstream outputs and
/// are left for run time.
final class ParamPathChecks {
    let inputs: InputFileCheck?
    let diagnostics: DiagnosticList
    /// sha256 of input files already hashed (absolute path → hex), so rounds hash a file once.
    private var digests: [String: String] = [:]

    init(inputs: InputFileCheck?, diagnostics: DiagnosticList) {
        self.inputs = inputs
        self.diagnostics = diagnostics
    }

    func check(_ params: inout [String: JSONValue], kind: any JobKind.Type,
               given: [String: (JSONValue, Mark?)], template t: JobTemplate) {
        for spec in kind.parameters {
            guard let value = params[spec.name], value != .null else { continue }
            let mark = given[spec.name]?.1 ?? t.paramsMark ?? t.mark
            let what = "parameter '\(spec.name)' of job '\(t.id)'"
            switch spec.type {
            case .artifactName:
                if let s = value.stringValue, !ParamTemplate.containsReference(s),
                   let problem = SubmitChecks.artifactNameProblem(s) {
                    diagnostics.report(mark, "\(what): artifact name \(SubmitChecks.shown(s)) \(problem)")
                }
            case .path, .pathList, .pathOrURL, .outputPath:
                let pinned = spec.sha256Parameter.flatMap { params[$0]?.stringValue }
                    .flatMap { $0.isEmpty || ParamTemplate.containsReference($0) ? nil : $0.lowercased() }
                params[spec.name] = mapStrings(value) { checkPath($0, spec: spec, what: what, mark: mark, pinned: pinned) }
            default:
                if let allowed = spec.allowedValues, let s = value.stringValue, !ParamTemplate.containsReference(s),
                   !allowed.contains(s) {
                    diagnostics.report(mark, "\(what): \(SubmitChecks.shown(s)) is not one of \(allowed.joined(separator: ", "))")
                }
            }
        }
    }

    private func mapStrings(_ value: JSONValue, _ transform: (String) -> String) -> JSONValue {
        switch value {
        case .string(let s): return .string(transform(s))
        case .array(let items): return .array(items.map { mapStrings($0, transform) })
        default: return value
        }
    }

    /// The path as the job will get it: absolute when `inputs` is given, else as written.
    private func checkPath(_ s: String, spec: ParameterSpec, what: String, mark: Mark?, pinned: String?) -> String {
        if ParamTemplate.containsReference(s) { return s }
        if s.isEmpty {
            if spec.isRequired { diagnostics.report(mark, "\(what) is an empty path") }
            return s
        }
        if let c = s.unicodeScalars.first(where: { $0.properties.generalCategory == .control }) {
            diagnostics.report(mark, "\(what): path \(SubmitChecks.shown(s)) contains the control character U+\(String(format: "%04X", c.value))")
            return s
        }
        if spec.type == .pathOrURL, SubmitChecks.isURL(s) { return s }
        guard let inputs else { return s }
        let absolute = SubmitChecks.absolute(s, base: inputs.baseDirectory)
        if spec.type == .outputPath { return absolute }
        if let problem = SubmitChecks.inputProblem(absolute: absolute, written: s) {
            diagnostics.report(mark, "\(what): input \(problem)")
            return absolute
        }
        if let pinned, let shaName = spec.sha256Parameter {
            checkDigest(of: absolute, pinned: pinned, by: shaName, what: what, mark: mark)
        }
        return absolute
    }

    private func checkDigest(of absolute: String, pinned: String, by shaName: String, what: String, mark: Mark?) {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory)
        if isDirectory.boolValue {
            diagnostics.report(mark, "\(what): \(absolute) is a directory, but parameter '\(shaName)' pins a file's sha256")
            return
        }
        if digests[absolute] == nil { digests[absolute] = try? fileSHA256(URL(fileURLWithPath: absolute)) }
        guard let found = digests[absolute] else {
            diagnostics.report(mark, "\(what): cannot read \(absolute) to check its sha256")
            return
        }
        if found != pinned {
            diagnostics.report(mark, "\(what): \(absolute) has sha256 \(found), but parameter '\(shaName)' pins \(pinned)")
        }
    }
}
