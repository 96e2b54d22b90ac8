//! Country (and region, when the database has it) from the full client address, looked up
//! in memory before the address is truncated (the order the Austrian DSB's Google
//! Analytics decision and CNIL's proxy recipe ask for: the full IP never leaves the proxy).
//!
//! Any MaxMind-format database works: GeoLite2 and DB-IP Lite (`country.iso_code`,
//! `subdivisions[].iso_code`) and ip-location-db's CC0 files (`country_code`).

use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;

/// Where a visitor is, as precisely as a statistic may say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Location {
    /// ISO 3166-1 alpha-2, uppercase (`NL`).
    pub country: Option<String>,
    /// ISO 3166-2 subdivision (`NL-NH`).
    pub region: Option<String>,
}

/// The open database, or none (then every location is unknown).
#[derive(Debug, Default)]
pub struct GeoDb {
    reader: Option<maxminddb::Reader<Vec<u8>>>,
}

#[derive(Deserialize)]
struct Record {
    country: Option<IsoCode>,
    country_code: Option<String>,
    subdivisions: Option<Vec<IsoCode>>,
}

#[derive(Deserialize)]
struct IsoCode {
    iso_code: Option<String>,
}

impl GeoDb {
    pub fn open(path: &Path) -> Result<GeoDb, String> {
        maxminddb::Reader::open_readfile(path)
            .map(|reader| GeoDb {
                reader: Some(reader),
            })
            .map_err(|e| format!("`{}` is not a MaxMind-format database: {e}", path.display()))
    }

    /// The location of `ip` (IPv4-mapped addresses are looked up as IPv4).
    pub fn locate(&self, ip: IpAddr) -> Location {
        let Some(reader) = &self.reader else {
            return Location::default();
        };
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let Ok(result) = reader.lookup(ip) else {
            return Location::default();
        };
        let Ok(Some(record)) = result.decode::<Record>() else {
            return Location::default();
        };
        let country = record
            .country
            .and_then(|c| c.iso_code)
            .or(record.country_code)
            .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()))
            .map(|c| c.to_ascii_uppercase());
        let region = match (&country, record.subdivisions) {
            (Some(country), Some(subdivisions)) => subdivisions
                .into_iter()
                .find_map(|s| s.iso_code)
                .filter(|r| r.len() <= 3 && r.bytes().all(|b| b.is_ascii_alphanumeric()))
                .map(|r| format!("{country}-{}", r.to_ascii_uppercase())),
            _ => None,
        };
        Location { country, region }
    }
}
