//! GeoIP enrichment with the output of Elasticsearch's `geoip` processor (default properties):
//! City → `continent_name, country_iso_code, country_name, region_iso_code, region_name,
//! city_name, location{lat,lon}`; ASN → `asn, organization_name` (renamed by the pipelines to
//! `as.number` and `as.organization.name`). Lookups are cached per address in a bounded,
//! sharded concurrent cache (`quick_cache`: CLOCK-Pro eviction, no global lock, so transforms on
//! every core share it without contention).

use crate::doc::{Obj, Val};
use maxminddb::{geoip2, Reader};
use std::borrow::Cow;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

/// Errors opening the databases.
#[derive(Debug, thiserror::Error)]
pub enum GeoIpError {
    #[error("cannot open GeoIP database {path}: {source}")]
    Open {
        path: String,
        source: maxminddb::MaxMindDBError,
    },
    #[error("GeoIP directory {0} has neither GeoLite2-City*.mmdb nor GeoLite2-ASN*.mmdb")]
    Empty(String),
}

/// City fields of one address, in the order Elasticsearch writes them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Geo {
    pub city_name: Option<String>,
    pub continent_name: Option<String>,
    pub country_iso_code: Option<String>,
    pub country_name: Option<String>,
    pub location: Option<(f64, f64)>,
    pub region_iso_code: Option<String>,
    pub region_name: Option<String>,
}

impl Geo {
    fn is_empty(&self) -> bool {
        *self == Geo::default()
    }

    /// The `*.geo` object.
    pub fn to_obj(&self) -> Obj<'static> {
        let mut o = Obj::with_capacity(7);
        fn put(o: &mut Obj<'static>, k: &'static str, v: &Option<String>) {
            if let Some(v) = v {
                o.insert(k, Val::Str(Cow::Owned(v.clone())));
            }
        }
        put(&mut o, "city_name", &self.city_name);
        put(&mut o, "continent_name", &self.continent_name);
        put(&mut o, "country_iso_code", &self.country_iso_code);
        put(&mut o, "country_name", &self.country_name);
        if let Some((lat, lon)) = self.location {
            let mut loc = Obj::with_capacity(2);
            loc.insert("lat", Val::F64(lat));
            loc.insert("lon", Val::F64(lon));
            o.insert("location", Val::Obj(loc));
        }
        put(&mut o, "region_iso_code", &self.region_iso_code);
        put(&mut o, "region_name", &self.region_name);
        o
    }
}

/// ASN fields of one address.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Asn {
    pub number: Option<u32>,
    pub organization_name: Option<String>,
}

#[derive(Debug, Default)]
struct Found {
    geo: Option<Arc<Geo>>,
    asn: Option<Arc<Asn>>,
}

/// Distinct addresses kept (a few hundred bytes each: bounded memory whatever the traffic).
const CACHE_CAPACITY: usize = 32_768;

/// The City and ASN databases with a per-address cache. `Send + Sync`.
pub struct GeoIp {
    city: Option<Reader<Vec<u8>>>,
    asn: Option<Reader<Vec<u8>>>,
    cache: quick_cache::sync::Cache<IpAddr, Arc<Found>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIp")
            .field("city", &self.city.is_some())
            .field("asn", &self.asn.is_some())
            .finish()
    }
}

fn open(path: &Path) -> Result<Reader<Vec<u8>>, GeoIpError> {
    Reader::open_readfile(path).map_err(|source| GeoIpError::Open {
        path: path.display().to_string(),
        source,
    })
}

/// Finds `GeoLite2-<kind>.mmdb` (or `GeoLite2-<kind>-Test.mmdb`, or GeoIP2-<kind>) in `dir`.
fn find(dir: &Path, kind: &str) -> Option<std::path::PathBuf> {
    let candidates = [
        format!("GeoLite2-{kind}.mmdb"),
        format!("GeoIP2-{kind}.mmdb"),
        format!("GeoLite2-{kind}-Test.mmdb"),
        format!("GeoIP2-{kind}-Test.mmdb"),
    ];
    candidates.iter().map(|c| dir.join(c)).find(|p| p.is_file())
}

impl GeoIp {
    /// Opens the databases found in `dir` (City and/or ASN).
    pub fn open_dir(dir: &Path) -> Result<Self, GeoIpError> {
        let city = find(dir, "City").map(|p| open(&p)).transpose()?;
        let asn = find(dir, "ASN").map(|p| open(&p)).transpose()?;
        if city.is_none() && asn.is_none() {
            return Err(GeoIpError::Empty(dir.display().to_string()));
        }
        Ok(GeoIp {
            city,
            asn,
            cache: quick_cache::sync::Cache::new(CACHE_CAPACITY),
        })
    }

    fn lookup(&self, ip: IpAddr) -> Arc<Found> {
        if let Some(f) = self.cache.get(&ip) {
            return f;
        }
        let found = Arc::new(Found {
            geo: self
                .city
                .as_ref()
                .and_then(|r| city_of(r, ip))
                .map(Arc::new),
            asn: self.asn.as_ref().and_then(|r| asn_of(r, ip)).map(Arc::new),
        });
        self.cache.insert(ip, found.clone());
        found
    }

    pub fn city(&self, ip: IpAddr) -> Option<Arc<Geo>> {
        self.lookup(ip).geo.clone()
    }

    pub fn asn(&self, ip: IpAddr) -> Option<Arc<Asn>> {
        self.lookup(ip).asn.clone()
    }
}

fn en(names: &Option<std::collections::BTreeMap<&str, &str>>) -> Option<String> {
    names
        .as_ref()
        .and_then(|n| n.get("en"))
        .map(|s| s.to_string())
}

fn city_of(r: &Reader<Vec<u8>>, ip: IpAddr) -> Option<Geo> {
    let c: geoip2::City = r.lookup(ip).ok()?;
    let country_iso = c
        .country
        .as_ref()
        .and_then(|x| x.iso_code)
        .map(str::to_string);
    let sub = c.subdivisions.as_ref().and_then(|s| s.last());
    let region_iso_code = match (&country_iso, sub.and_then(|s| s.iso_code)) {
        (Some(ci), Some(si)) => Some(format!("{ci}-{si}")),
        _ => None,
    };
    let geo = Geo {
        city_name: c.city.as_ref().and_then(|x| en(&x.names)),
        continent_name: c.continent.as_ref().and_then(|x| en(&x.names)),
        country_name: c.country.as_ref().and_then(|x| en(&x.names)),
        country_iso_code: country_iso,
        location: c
            .location
            .as_ref()
            .and_then(|l| Some((l.latitude?, l.longitude?))),
        region_iso_code,
        region_name: sub.and_then(|s| en(&s.names)),
    };
    (!geo.is_empty()).then_some(geo)
}

fn asn_of(r: &Reader<Vec<u8>>, ip: IpAddr) -> Option<Asn> {
    let a: geoip2::Asn = r.lookup(ip).ok()?;
    let asn = Asn {
        number: a.autonomous_system_number,
        organization_name: a.autonomous_system_organization.map(str::to_string),
    };
    (asn != Asn::default()).then_some(asn)
}
