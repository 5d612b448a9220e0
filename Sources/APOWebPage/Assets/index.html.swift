extension WebPage {
    /// `/`. Kept as written (a raw string: no escapes), so it reads as the file it is.
    static let indexHTML = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>apo</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/style.css">
<script type="module" src="/assets/app.js"></script>
</head>
<body>
<header class="top">
  <a class="brand" href="#/">apo</a>
  <nav><a href="#/">Runs</a></nav>
  <span id="message" class="message" role="status" aria-live="polite"></span>
  <label class="token">Token
    <input id="token-input" type="password" autocomplete="off" placeholder="Bearer token for cancel / retry / resume">
  </label>
</header>
<main id="view"><p class="muted">Loading…</p></main>
<noscript><p>This page needs JavaScript. The same data is in the JSON API under /api/ (deploy/openapi.yaml).</p></noscript>
</body>
</html>
"""#
}
