//! The egress allowlist, the proxy's configuration rendered from it, and the address pool of worker networks
//! (pure functions, unit-tested).

use std::net::Ipv4Addr;

use sha2::{Digest, Sha256};

use crate::sandbox::PROXY_PORT;

/// One allowlisted destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// A host name or IPv4 address.
    pub host: String,
    /// The TCP port.
    pub port: u16,
}

/// Parses `host:port[,host:port…]`; every entry needs an explicit port.
pub fn parse_allowlist(raw: &str) -> Result<Vec<HostPort>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            let (host, port) = entry
                .rsplit_once(':')
                .ok_or_else(|| format!("allowlist entry `{entry}` needs a port (host:port)"))?;
            let valid_host = !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
            if !valid_host {
                return Err(format!("allowlist entry `{entry}` has an invalid host"));
            }
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("allowlist entry `{entry}` has an invalid port"))?;
            Ok(HostPort {
                host: host.to_ascii_lowercase(),
                port,
            })
        })
        .collect()
}

/// The proxy's configuration file and URL filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// `tinyproxy.conf`.
    pub conf: String,
    /// The filter file: one extended regular expression per allowed URL prefix.
    pub filter: String,
}

impl ProxyConfig {
    /// Renders the configuration of a default-deny proxy that forwards only to `allow`.
    ///
    /// tinyproxy matches the filter against the whole request URL (`FilterURLs On`): `http://host:port/…` for
    /// plain HTTP and `host:port` for `CONNECT`, so both the host and the port are pinned. `ConnectPort` lines
    /// restrict tunnels to the allowlisted ports as well.
    pub fn render(allow: &[HostPort]) -> Self {
        let mut ports: Vec<u16> = allow.iter().map(|h| h.port).collect();
        ports.sort_unstable();
        ports.dedup();
        let mut conf = format!(
            "Port {PROXY_PORT}\nListen 0.0.0.0\nTimeout 600\nMaxClients 256\nLogLevel Notice\n\
             DisableViaHeader Yes\nFilterDefaultDeny Yes\nFilterURLs On\nFilterType ere\n\
             FilterCaseSensitive No\nFilter \"/tmp/filter\"\n"
        );
        for port in ports {
            conf.push_str(&format!("ConnectPort {port}\n"));
        }
        let mut filter = String::new();
        for HostPort { host, port } in allow {
            let host = host.replace('.', "\\.");
            filter.push_str(&format!("^{host}:{port}$\n^http://{host}:{port}/\n"));
            if *port == 80 {
                filter.push_str(&format!("^http://{host}/\n"));
            }
        }
        if filter.is_empty() {
            // An empty filter file would be a parse error; this pattern matches nothing.
            filter.push_str("^$a\n");
        }
        Self { conf, filter }
    }

    /// A short hash that changes whenever the configuration does.
    pub fn hash(&self) -> String {
        let digest = Sha256::digest(format!("{}\0{}", self.conf, self.filter).as_bytes());
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

/// The IPv4 pool worker networks are carved from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubnetPool {
    base: u32,
    pool_prefix: u8,
    prefix: u8,
}

impl SubnetPool {
    /// Parses `a.b.c.d/n` and the per-network prefix length.
    pub fn parse(pool: &str, prefix: u8) -> Result<Self, String> {
        let (addr, len) = pool
            .split_once('/')
            .ok_or_else(|| format!("network pool `{pool}` is not a CIDR"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("network pool `{pool}` is not an IPv4 CIDR"))?;
        let pool_prefix: u8 = len
            .parse()
            .ok()
            .filter(|l| (8..=28).contains(l))
            .ok_or_else(|| format!("network pool `{pool}` needs a prefix of /8../28"))?;
        if !(pool_prefix..=29).contains(&prefix) {
            return Err(format!(
                "subnet prefix /{prefix} must lie between the pool's /{pool_prefix} and /29"
            ));
        }
        let mask = u32::MAX << (32 - pool_prefix);
        Ok(Self {
            base: u32::from(addr) & mask,
            pool_prefix,
            prefix,
        })
    }

    /// How many subnets the pool holds.
    pub fn count(&self) -> u32 {
        1 << (self.prefix - self.pool_prefix)
    }

    /// The `index`-th subnet (modulo the pool size) as CIDR.
    pub fn subnet(&self, index: u32) -> String {
        let size = 1u32 << (32 - self.prefix);
        let addr = Ipv4Addr::from(self.base + (index % self.count()) * size);
        format!("{addr}/{}", self.prefix)
    }

    /// The first subnet index tried for `name`: deterministic, so two spawners racing to create the same
    /// network collide on the same subnet and Docker refuses the second.
    pub fn start_index(&self, name: &str) -> u32 {
        let digest = Sha256::digest(name.as_bytes());
        let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        n % self.count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlists_parse_and_refuse_entries_without_port() {
        let allow = parse_allowlist("github.com:443, 172.17.0.1:8080 ,").expect("parses");
        assert_eq!(allow.len(), 2);
        assert_eq!(allow[1].port, 8080);
        assert!(parse_allowlist("github.com").is_err());
        assert!(parse_allowlist("git hub.com:443").is_err());
        assert!(parse_allowlist("github.com:0").is_err());
    }

    #[test]
    fn the_filter_pins_host_and_port() {
        let allow = parse_allowlist("api.github.com:443,172.17.0.1:8080").expect("parses");
        let proxy = ProxyConfig::render(&allow);
        assert!(proxy.conf.contains("FilterDefaultDeny Yes"));
        assert!(proxy.conf.contains("ConnectPort 443\nConnectPort 8080\n"));
        assert!(proxy.filter.contains("^api\\.github\\.com:443$\n"));
        assert!(proxy.filter.contains("^http://172\\.17\\.0\\.1:8080/\n"));
        assert_ne!(proxy.hash(), ProxyConfig::render(&allow[..1]).hash());
    }

    #[test]
    fn subnets_are_carved_from_the_pool() {
        let pool = SubnetPool::parse("10.213.0.0/16", 28).expect("parses");
        assert_eq!(pool.count(), 4096);
        assert_eq!(pool.subnet(0), "10.213.0.0/28");
        assert_eq!(pool.subnet(1), "10.213.0.16/28");
        assert_eq!(pool.subnet(4096), "10.213.0.0/28");
        assert_eq!(pool.start_index("a"), pool.start_index("a"));
        assert!(SubnetPool::parse("10.213.0.0/16", 12).is_err());
        assert!(SubnetPool::parse("nonsense", 28).is_err());
    }
}
