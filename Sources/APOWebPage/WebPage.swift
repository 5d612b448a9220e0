/// One file of the web page, as the server sends it.
public struct WebAsset: Sendable {
    /// The file name: the page itself is `index.html`, every other file is served as `/assets/NAME`.
    public let name: String
    public let contentType: String
    public let body: String
}

/// The web page `apod --http` serves at `/`: a runs list and a run page (DAG, progress, live log,
/// training curves, evaluation tables, artifacts, controls) over the JSON API. Plain HTML, CSS and
/// JavaScript modules, no framework and nothing fetched from elsewhere; each file is a string
/// constant in `Assets/`, one file per idea, so the binary carries the page.
public enum WebPage {
    public static let index = WebAsset(name: "index.html", contentType: "text/html; charset=utf-8", body: indexHTML)

    /// Every file under `/assets/`, by name.
    public static let assets: [String: WebAsset] = Dictionary(uniqueKeysWithValues: [
        css("style.css", styleCSS),
        script("api.js", apiJS),
        script("format.js", formatJS),
        script("dom.js", domJS),
        script("dag-layout.js", dagLayoutJS),
        script("run-eta.js", runETAJS),
        script("dag-view.js", dagViewJS),
        script("line-chart.js", lineChartJS),
        script("log-view.js", logViewJS),
        script("training-curves.js", trainingCurvesJS),
        script("evaluation-tables.js", evaluationTablesJS),
        script("job-details.js", jobDetailsJS),
        script("confirm-button.js", confirmButtonJS),
        script("job-panel.js", jobPanelJS),
        script("runs-page.js", runsPageJS),
        script("run-page.js", runPageJS),
        script("app.js", appJS),
    ].map { ($0.name, $0) })

    private static func script(_ name: String, _ body: String) -> WebAsset {
        WebAsset(name: name, contentType: "text/javascript; charset=utf-8", body: body)
    }

    private static func css(_ name: String, _ body: String) -> WebAsset {
        WebAsset(name: name, contentType: "text/css; charset=utf-8", body: body)
    }
}
