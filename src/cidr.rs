//! IP networks: the CA's permitted IP ranges, and the CIDR difference the blocklist
//! emitters need.
//!
//! Homeservers refuse outbound federation to private and loopback ranges by default.
//! A closed federation on such addresses must open exactly its own addresses and
//! nothing else, so the emitters compute `default blocklist − federation addresses`
//! as a list of CIDR blocks: [`difference`].

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::Serialize;

use crate::error::{Error, Field, Result};

/// An IPv4 or IPv6 network: an address with its host bits zero and a prefix length.
///
/// ```
/// use fedca::cidr::IpNet;
///
/// let net: IpNet = "127.0.0.0/8".parse().unwrap();
/// assert!(net.contains_addr("127.0.0.2".parse().unwrap()));
/// assert_eq!(IpNet::host("::1".parse().unwrap()).to_string(), "::1/128");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// The network `addr/prefix`; host bits of `addr` are cleared. `None` when the
    /// prefix is longer than the address family allows.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<IpNet> {
        if prefix > max_prefix(addr) {
            return None;
        }
        Some(IpNet {
            addr: from_bits(addr, to_bits(addr) & mask_bits(addr, prefix)),
            prefix,
        })
    }

    /// The network holding exactly one address (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> IpNet {
        IpNet {
            addr,
            prefix: max_prefix(addr),
        }
    }

    /// Parses `ADDR/PREFIX`, a bare address (a host network) or a bracketed IPv6
    /// address. `what` names the option in errors. Host bits must be zero.
    pub fn parse(input: &str, what: impl Into<Field>) -> Result<IpNet> {
        let what = what.into();
        let bad = |rule: String| Error::invalid(what.clone(), input, rule);
        let (addr_text, prefix_text) = match input.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (input, None),
        };
        let addr_text = addr_text
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .unwrap_or(addr_text);
        let addr = IpAddr::from_str(addr_text).map_err(|_| {
            bad("is not an IPv4 or IPv6 address or CIDR range (e.g. 10.0.0.7, 10.0.0.0/24, fd00::7)".into())
        })?;
        let max = max_prefix(addr);
        let prefix = match prefix_text {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && p.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => return Err(bad(format!("the prefix length must be 0-{max}"))),
            },
        };
        let net = IpNet::new(addr, prefix)
            .ok_or_else(|| bad(format!("the prefix length must be 0-{max}")))?;
        if net.addr != addr {
            return Err(bad(format!(
                "has host bits set; the network is {}/{prefix}",
                net.addr
            )));
        }
        Ok(net)
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether this is an IPv6 network.
    pub fn is_ipv6(&self) -> bool {
        self.addr.is_ipv6()
    }

    /// Whether `addr` lies in this network.
    pub fn contains_addr(&self, addr: IpAddr) -> bool {
        same_family(self.addr, addr)
            && to_bits(addr) & mask_bits(addr, self.prefix) == to_bits(self.addr)
    }

    /// Whether every address of `other` lies in this network.
    pub fn contains(&self, other: &IpNet) -> bool {
        other.prefix >= self.prefix && self.contains_addr(other.addr)
    }

    /// Whether the two networks share at least one address.
    pub fn overlaps(&self, other: &IpNet) -> bool {
        self.contains(other) || other.contains(self)
    }

    /// The two halves of this network, or `None` for a single address.
    fn halves(&self) -> Option<(IpNet, IpNet)> {
        if self.prefix >= max_prefix(self.addr) {
            return None;
        }
        let p = self.prefix + 1;
        let width = u32::from(max_prefix(self.addr));
        let high_bit = 1u128 << (width - u32::from(p));
        let lo = IpNet {
            addr: self.addr,
            prefix: p,
        };
        let hi = IpNet {
            addr: from_bits(self.addr, to_bits(self.addr) | high_bit),
            prefix: p,
        };
        Some((lo, hi))
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for IpNet {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        IpNet::parse(s, Field::IpNetwork)
    }
}

impl Serialize for IpNet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// `net` minus every network in `holes`, as the fewest CIDR blocks, in address order.
///
/// A block is split in halves only where a hole lies partly inside it, so every block
/// returned is as large as it can be: the result is the canonical (minimal) CIDR cover
/// of the remaining addresses. Holes of the other address family are ignored.
///
/// ```
/// use fedca::trust::cidr::{difference, IpNet};
///
/// let lo: IpNet = "127.0.0.0/8".parse().unwrap();
/// let rest = difference(lo, &[IpNet::host("127.0.0.1".parse().unwrap())]);
/// assert_eq!(rest.len(), 24);
/// assert_eq!(rest[0].to_string(), "127.0.0.0/32");
/// assert_eq!(rest[1].to_string(), "127.0.0.2/31");
/// assert_eq!(rest[23].to_string(), "127.128.0.0/9");
/// ```
pub fn difference(net: IpNet, holes: &[IpNet]) -> Vec<IpNet> {
    let mut out = Vec::new();
    subtract_into(net, holes, &mut out);
    out
}

/// Whether the union of `parts` holds every address of `net` (ranges of the other
/// family are ignored). Splitting a range does not hide it: `0.0.0.0/1` and
/// `128.0.0.0/1` together cover `0.0.0.0/0`.
///
/// ```
/// use fedca::cidr::{covers, IpNet};
///
/// let n = |s: &str| s.parse::<IpNet>().unwrap();
/// assert!(covers(n("0.0.0.0/0"), &[n("0.0.0.0/1"), n("128.0.0.0/1")]));
/// assert!(!covers(n("0.0.0.0/0"), &[n("0.0.0.0/1"), n("128.0.0.0/2")]));
/// ```
pub fn covers(net: IpNet, parts: &[IpNet]) -> bool {
    let same: Vec<IpNet> = parts
        .iter()
        .filter(|p| same_family(p.addr, net.addr))
        .copied()
        .collect();
    difference(net, &same).is_empty()
}

fn subtract_into(net: IpNet, holes: &[IpNet], out: &mut Vec<IpNet>) {
    if holes.iter().any(|h| h.contains(&net)) {
        return;
    }
    if !holes.iter().any(|h| net.overlaps(h)) {
        out.push(net);
        return;
    }
    // Some hole lies strictly inside `net`: keep the halves that survive.
    if let Some((lo, hi)) = net.halves() {
        subtract_into(lo, holes, out);
        subtract_into(hi, holes, out);
    }
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

fn max_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

fn to_bits(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_bits(family: IpAddr, bits: u128) -> IpAddr {
    match family {
        // Only ever called with bits taken from an IPv4 address of the same family.
        IpAddr::V4(_) => IpAddr::V4(
            u32::try_from(bits & u128::from(u32::MAX))
                .unwrap_or(0)
                .into(),
        ),
        IpAddr::V6(_) => IpAddr::V6(bits.into()),
    }
}

fn mask_bits(family: IpAddr, prefix: u8) -> u128 {
    let width = u32::from(max_prefix(family));
    let all = if width == 32 {
        u128::from(u32::MAX)
    } else {
        u128::MAX
    };
    if prefix == 0 {
        0
    } else {
        (all << (width - u32::from(prefix))) & all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn n(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_refuses() {
        assert_eq!(n("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(n("10.0.0.7").to_string(), "10.0.0.7/32");
        assert_eq!(n("[fd00::7]").to_string(), "fd00::7/128");
        assert_eq!(n("::/0").to_string(), "::/0");
        let e = IpNet::parse("10.0.0.1/8", crate::error::Field::FederationAddr).unwrap_err();
        assert!(e.to_string().contains("10.0.0.0/8"), "{e}");
        assert_eq!(e.exit_code(), 2);
        assert!(IpNet::parse("10.0.0.0/33", crate::error::Field::IpNetwork).is_err());
        assert!(IpNet::parse("10.0.0.0/+8", crate::error::Field::IpNetwork).is_err());
        assert!(IpNet::parse("hs1.fed.test", crate::error::Field::IpNetwork).is_err());
        assert!(IpNet::parse("", crate::error::Field::IpNetwork).is_err());
    }

    #[test]
    fn containment() {
        assert!(n("127.0.0.0/8").contains(&n("127.0.0.2")));
        assert!(!n("127.0.0.2").contains(&n("127.0.0.0/8")));
        assert!(!n("127.0.0.0/8").contains_addr("::1".parse().unwrap()));
        assert!(n("::/0").contains(&n("fd00::/8")));
        assert!(n("0.0.0.0/0").contains_addr("255.255.255.255".parse().unwrap()));
    }

    #[test]
    fn difference_of_single_addresses() {
        let rest = difference(n("127.0.0.0/8"), &[n("127.0.0.1"), n("127.0.0.2")]);
        let text: Vec<String> = rest.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 24);
        assert_eq!(
            &text[..4],
            [
                "127.0.0.0/32",
                "127.0.0.3/32",
                "127.0.0.4/30",
                "127.0.0.8/29"
            ]
        );
        assert_eq!(text.last().unwrap(), "127.128.0.0/9");
    }

    #[test]
    fn difference_edge_cases() {
        // A hole covering the whole network removes it; unrelated holes keep it.
        assert!(difference(n("10.0.0.0/8"), &[n("10.0.0.0/8")]).is_empty());
        assert!(difference(n("10.0.0.0/8"), &[n("0.0.0.0/0")]).is_empty());
        assert_eq!(
            difference(n("10.0.0.0/8"), &[n("11.0.0.1"), n("::1")]),
            vec![n("10.0.0.0/8")]
        );
        // IPv6 loopback minus itself is nothing.
        assert!(difference(n("::1/128"), &[n("::1")]).is_empty());
        let ula = difference(n("fc00::/7"), &[n("fd00::7")]);
        assert_eq!(ula.len(), 121);
        assert_eq!(ula[0], n("fc00::/8"));
    }

    proptest! {
        /// An address is in the difference iff it is in the network and in no hole;
        /// and the blocks are disjoint and in ascending order.
        #[test]
        fn difference_is_exact(
            base in 0u32..=u32::MAX,
            prefix in 0u8..=32,
            holes in proptest::collection::vec((0u32..=u32::MAX, 0u8..=32), 0..4),
            probes in proptest::collection::vec(0u32..=u32::MAX, 32),
        ) {
            let v4 = |x: u32| IpAddr::V4(x.into());
            let net = IpNet::new(v4(base), prefix).unwrap();
            let holes: Vec<IpNet> = holes.iter().map(|&(a, p)| IpNet::new(v4(a), p).unwrap()).collect();
            let rest = difference(net, &holes);
            for w in rest.windows(2) {
                prop_assert!(to_bits(w[0].addr) < to_bits(w[1].addr));
                prop_assert!(!w[0].overlaps(&w[1]));
            }
            // Probe addresses inside the network (mapped into it) and anywhere.
            let size_mask = !(mask_bits(v4(0), prefix) as u32);
            for &p in &probes {
                for a in [v4(p), v4((u32::try_from(to_bits(net.addr)).unwrap()) | (p & size_mask))] {
                    let want = net.contains_addr(a) && !holes.iter().any(|h| h.contains_addr(a));
                    let got = rest.iter().any(|r| r.contains_addr(a));
                    prop_assert_eq!(want, got, "address {}", a);
                }
            }
            for h in &holes {
                prop_assert!(!rest.iter().any(|r| r.overlaps(h)));
            }
        }
    }
}
