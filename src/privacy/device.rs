//! The device of a statistic or a GA4 event: browser family and major version, operating
//! system family and a device category — what GA4's Measurement Protocol `device` field
//! and a marketer's breakdowns need, and nothing that would single a visitor out (the raw
//! user agent never leaves [`Device::of`]; CNIL's proxy recipe for analytics).

use super::BrowserFamily;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceCategory {
    Desktop,
    Mobile,
    Tablet,
}

impl DeviceCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceCategory::Desktop => "desktop",
            DeviceCategory::Mobile => "mobile",
            DeviceCategory::Tablet => "tablet",
        }
    }
}

/// What is kept of a user agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Device {
    pub browser: BrowserFamily,
    /// The major version only (`131`), when the agent says it.
    pub browser_version: Option<u16>,
    pub os: &'static str,
    pub category: DeviceCategory,
}

impl Device {
    pub fn of(user_agent: &str) -> Device {
        let browser = BrowserFamily::of(user_agent);
        let marker = match browser {
            BrowserFamily::Edge => &["Edg/", "EdgA/", "EdgiOS/"][..],
            BrowserFamily::Opera => &["OPR/"][..],
            BrowserFamily::Samsung => &["SamsungBrowser/"][..],
            BrowserFamily::Firefox => &["Firefox/", "FxiOS/"][..],
            BrowserFamily::Chrome => &["Chrome/", "CriOS/", "Chromium/"][..],
            BrowserFamily::Safari => &["Version/"][..],
            BrowserFamily::Bot | BrowserFamily::Other => &[][..],
        };
        let browser_version = marker.iter().find_map(|m| major_after(user_agent, m));
        let has = |needle: &str| user_agent.contains(needle);
        let os = if has("Windows") {
            "Windows"
        } else if has("iPhone") || has("iPad") || has("iPod") {
            "iOS"
        } else if has("Android") {
            "Android"
        } else if has("CrOS") {
            "Chrome OS"
        } else if has("Mac OS X") || has("Macintosh") {
            "macOS"
        } else if has("Linux") {
            "Linux"
        } else {
            "Other"
        };
        let category = if has("iPad") || has("Tablet") || (has("Android") && !has("Mobile")) {
            DeviceCategory::Tablet
        } else if has("Mobi") || has("iPhone") || has("iPod") {
            DeviceCategory::Mobile
        } else {
            DeviceCategory::Desktop
        };
        Device {
            browser,
            browser_version,
            os,
            category,
        }
    }

    /// The browser as GA4 and the dashboard name it (`Chrome`, `Safari`, …).
    pub fn browser_name(&self) -> &'static str {
        match self.browser {
            BrowserFamily::Chrome => "Chrome",
            BrowserFamily::Edge => "Edge",
            BrowserFamily::Firefox => "Firefox",
            BrowserFamily::Safari => "Safari",
            BrowserFamily::Opera => "Opera",
            BrowserFamily::Samsung => "Samsung Internet",
            BrowserFamily::Bot => "Bot",
            BrowserFamily::Other => "Other",
        }
    }
}

/// The digits after `marker` up to the first dot: `Chrome/131.0.6778` → 131.
fn major_after(ua: &str, marker: &str) -> Option<u16> {
    let rest = &ua[ua.find(marker)? + marker.len()..];
    let digits: String = rest
        .chars()
        .take_while(char::is_ascii_digit)
        .take(5)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_of_common_user_agents() {
        let cases = [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                ("Chrome", Some(131), "Windows", DeviceCategory::Desktop),
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
                ("Safari", Some(18), "iOS", DeviceCategory::Mobile),
            ),
            (
                "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
                ("Safari", Some(17), "iOS", DeviceCategory::Tablet),
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
                (
                    "Samsung Internet",
                    Some(26),
                    "Android",
                    DeviceCategory::Mobile,
                ),
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0",
                ("Firefox", Some(133), "macOS", DeviceCategory::Desktop),
            ),
            (
                "curl/8.5.0",
                ("Other", None, "Other", DeviceCategory::Desktop),
            ),
        ];
        for (ua, (browser, version, os, category)) in cases {
            let d = Device::of(ua);
            assert_eq!(
                (d.browser_name(), d.browser_version, d.os, d.category),
                (browser, version, os, category),
                "{ua}"
            );
        }
    }
}
