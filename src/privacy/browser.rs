//! The browser family: the most a consent record or a statistic keeps of a user agent.
//!
//! A raw user agent string, together with a truncated address, narrows a visitor down
//! far more than the purpose needs (GDPR art. 5(1)(c), data minimisation; CNIL's proxy
//! recipe sends `device` fields instead of the raw string). The only way to keep
//! anything of it is [`BrowserFamily::of`], which keeps one word.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BrowserFamily {
    Chrome,
    Edge,
    Firefox,
    Safari,
    Opera,
    Samsung,
    Bot,
    Other,
}

impl BrowserFamily {
    /// The family of a `User-Agent` value. Order matters: Edge, Opera and Samsung
    /// Internet also say "Chrome", and Chrome also says "Safari".
    pub fn of(user_agent: &str) -> BrowserFamily {
        let ua = user_agent.as_bytes();
        let has = |needle: &str| {
            ua.windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
        };
        if has("bot") || has("spider") || has("crawler") || has("headlesschrome") {
            BrowserFamily::Bot
        } else if has("edg/") || has("edga/") || has("edgios/") {
            BrowserFamily::Edge
        } else if has("opr/") || has("opera") {
            BrowserFamily::Opera
        } else if has("samsungbrowser/") {
            BrowserFamily::Samsung
        } else if has("firefox/") || has("fxios/") {
            BrowserFamily::Firefox
        } else if has("chrome/") || has("chromium/") || has("crios/") {
            BrowserFamily::Chrome
        } else if has("safari/") {
            BrowserFamily::Safari
        } else {
            BrowserFamily::Other
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BrowserFamily::Chrome => "chrome",
            BrowserFamily::Edge => "edge",
            BrowserFamily::Firefox => "firefox",
            BrowserFamily::Safari => "safari",
            BrowserFamily::Opera => "opera",
            BrowserFamily::Samsung => "samsung",
            BrowserFamily::Bot => "bot",
            BrowserFamily::Other => "other",
        }
    }

    /// Reads a stored family back; anything unknown is `Other`.
    pub fn parse(text: &str) -> BrowserFamily {
        [
            BrowserFamily::Chrome,
            BrowserFamily::Edge,
            BrowserFamily::Firefox,
            BrowserFamily::Safari,
            BrowserFamily::Opera,
            BrowserFamily::Samsung,
            BrowserFamily::Bot,
        ]
        .into_iter()
        .find(|f| f.as_str() == text)
        .unwrap_or(BrowserFamily::Other)
    }
}

impl fmt::Display for BrowserFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::BrowserFamily::{self, *};

    #[test]
    fn families_of_common_user_agents() {
        let cases = [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
                Chrome,
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
                Edge,
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                Firefox,
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
                Safari,
            ),
            (
                "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
                Samsung,
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0",
                Opera,
            ),
            (
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                Bot,
            ),
            ("curl/8.5.0", Other),
            ("", Other),
        ];
        for (ua, family) in cases {
            assert_eq!(BrowserFamily::of(ua), family, "{ua}");
            assert_eq!(BrowserFamily::parse(family.as_str()), family);
        }
    }
}
