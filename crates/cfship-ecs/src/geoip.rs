//! GeoIP enrichment with the output of Elasticsearch's `geoip` processor (default properties):
//! City → `continent_name, country_iso_code, country_name, region_iso_code, region_name,
//! city_name, location{lat,lon}`; ASN → `asn, organization_name` (renamed by the pipelines to
//! `as.number` and `as.organization.name`). Lookups are cached per address in a bounded,
//! sharded concurrent cache (`quick_cache`: CLOCK-Pro eviction, no global lock, so transforms on
//! every core share it without contention). Behind it, the decoded records are cached per
//! network of the database: every address of a network has the same record, so an address seen
//! for the first time only costs the walk of the search tree when its network was seen before
//! (decoding a City record into the generic `geoip2::City` maps was most of a lookup).

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
/// Distinct networks kept per database (the records are shared with the address cache).
const NETWORK_CACHE_CAPACITY: usize = 16_384;

/// A network of a database: its first address (the host bits cleared) and prefix length.
type Network = (IpAddr, u8);

/// The City and ASN databases with a per-address cache and per-network caches of the decoded
/// records. `Send + Sync`.
pub struct GeoIp {
    city: Option<Reader<Vec<u8>>>,
    asn: Option<Reader<Vec<u8>>>,
    cache: quick_cache::sync::Cache<IpAddr, Arc<Found>>,
    city_networks: quick_cache::sync::Cache<Network, Option<Arc<Geo>>>,
    asn_networks: quick_cache::sync::Cache<Network, Option<Arc<Asn>>>,
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
            city_networks: quick_cache::sync::Cache::new(NETWORK_CACHE_CAPACITY),
            asn_networks: quick_cache::sync::Cache::new(NETWORK_CACHE_CAPACITY),
        })
    }

    fn lookup(&self, ip: IpAddr) -> Arc<Found> {
        if let Some(f) = self.cache.get(&ip) {
            return f;
        }
        let found = Arc::new(Found {
            geo: self.city.as_ref().and_then(|r| {
                let net = network_of(r, ip)?;
                cached(&self.city_networks, net, || city_of(r, ip))
            }),
            asn: self.asn.as_ref().and_then(|r| {
                let net = network_of(r, ip)?;
                cached(&self.asn_networks, net, || asn_of(r, ip))
            }),
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

/// The record of `net`, decoded by `decode` the first time.
fn cached<T>(
    cache: &quick_cache::sync::Cache<Network, Option<Arc<T>>>,
    net: Network,
    decode: impl FnOnce() -> Option<T>,
) -> Option<Arc<T>> {
    if let Some(v) = cache.get(&net) {
        return v;
    }
    let v = decode().map(Arc::new);
    cache.insert(net, v.clone());
    v
}

/// Reads nothing: with it, `lookup_prefix` only walks the search tree (no decoding).
struct Skip;

impl<'de> serde::Deserialize<'de> for Skip {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(Skip)
    }
}

/// The network of the database that `ip` is in, `None` when the database has no record for it.
fn network_of(r: &Reader<Vec<u8>>, ip: IpAddr) -> Option<Network> {
    let (Skip, len) = r.lookup_prefix::<Skip>(ip).ok()?;
    let len = u32::try_from(len).ok()?;
    let first = match ip {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32u32.checked_sub(len)?).unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128u32.checked_sub(len)?).unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    };
    Some((first, u8::try_from(len).ok()?))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Through the network caches, every address gets the record a direct lookup decodes, also
    /// when neighbours of the same or another network were looked up first.
    #[test]
    fn network_cache_gives_each_address_its_own_record() {
        let Some(dir) = std::env::var_os("CFSHIP_GEOIP_DIR") else {
            eprintln!("SKIPPED: CFSHIP_GEOIP_DIR not set");
            return;
        };
        let g = GeoIp::open_dir(Path::new(&dir)).expect("open the GeoIP test databases");
        let mut ips: Vec<IpAddr> = Vec::new();
        for last in 0..=255u8 {
            ips.push(IpAddr::from([89, 160, 20, last]));
            ips.push(IpAddr::from([81, 2, 69, last]));
            ips.push(IpAddr::from([216, 160, 83, last]));
            ips.push(IpAddr::from([2, 125, 160, last]));
        }
        let v6 = |bits: u128| IpAddr::V6(bits.into());
        for i in 0..512u128 {
            ips.push(v6(0x2a02_cf40_0000_0000_0000_0000_0000_0000 + (i << 90)));
            ips.push(v6(0x2001_0480_0000_0000_0000_0000_0000_0000 + (i << 100)));
            ips.push(v6(0x2a02_0000_0000_0000_0000_0000_0000_0000 + (i << 104)));
        }
        let mut found = 0;
        for ip in &ips {
            let want_geo = g.city.as_ref().and_then(|r| city_of(r, *ip));
            let want_asn = g.asn.as_ref().and_then(|r| asn_of(r, *ip));
            found += usize::from(want_geo.is_some()) + usize::from(want_asn.is_some());
            assert_eq!(g.city(*ip).as_deref(), want_geo.as_ref(), "{ip}");
            assert_eq!(g.asn(*ip).as_deref(), want_asn.as_ref(), "{ip}");
        }
        assert!(
            found > 100,
            "the test databases know these networks ({found})"
        );
    }
}
