/**
 * Puppeteer (pulled in by whatsapp-web.js) must not download its own browser: Kurir drives the
 * system's Chromium (CHROME_PATH or the usual paths), and the install has no route to a browser CDN.
 */
module.exports = {
  skipDownload: true,
  chrome: { skipDownload: true },
  'chrome-headless-shell': { skipDownload: true },
}
