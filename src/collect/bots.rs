//! Bots and headless browsers: counted, never stored (a marketer's numbers are about
//! people). Recognised by a maintained list of user-agent patterns and by the headers
//! every real browser sends with a `fetch`.

/// Lowercase substrings of bot, crawler, monitor, automation and HTTP-library agents.
const PATTERNS: &[&str] = &[
    "bot",
    "crawl",
    "spider",
    "slurp",
    "headless",
    "phantomjs",
    "lighthouse",
    "pagespeed",
    "gtmetrix",
    "pingdom",
    "uptime",
    "monitor",
    "preview",
    "facebookexternalhit",
    "scrapy",
    "selenium",
    "webdriver",
    "puppeteer",
    "playwright",
    "curl/",
    "wget/",
    "python-",
    "python/",
    "go-http-client",
    "java/",
    "okhttp",
    "axios/",
    "node-fetch",
    "undici",
    "httpclient",
    "libwww",
    "httpie",
    "postman",
    "insomnia",
    "bingpreview",
    "yandex",
    "baiduspider",
    "petalbot",
    "semrush",
    "ahrefs",
    "mj12",
    "dotbot",
    "applebot",
];

/// Whether a request with this user agent and these headers is not a person's browser.
pub fn is_bot(user_agent: &str, headers: &http::HeaderMap) -> bool {
    if user_agent.is_empty() || !user_agent.starts_with("Mozilla/") {
        return true;
    }
    // Every browser sends its languages with a fetch; scripts and crawlers often do not.
    if !headers.contains_key(http::header::ACCEPT_LANGUAGE) {
        return true;
    }
    let lower = user_agent.to_ascii_lowercase();
    PATTERNS.iter().any(|p| lower.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_language() -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::ACCEPT_LANGUAGE, "nl".parse().unwrap());
        h
    }

    #[test]
    fn bots_and_browsers() {
        let h = with_language();
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        assert!(!is_bot(chrome, &h));
        assert!(
            is_bot(chrome, &http::HeaderMap::new()),
            "no Accept-Language"
        );
        for ua in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
            "curl/8.5.0",
            "python-requests/2.31",
            "",
        ] {
            assert!(is_bot(ua, &h), "{ua}");
        }
    }
}
