import APOAPIBodies
import APOStore

extension ArtifactBody {
    /// The artifact as apod serves it: its path relative to the run's folder, and its URL there.
    static func served(_ artifact: ArtifactRecord, run: RunRecord) -> ArtifactBody {
        let path = ArtifactPaths.relative(artifact.path, to: run.artifactRoot) ?? artifact.path
        return ArtifactBody(artifact, path: path, url: "/runs/\(run.id)/artifacts/" + ArtifactPaths.urlEncoded(path))
    }
}
