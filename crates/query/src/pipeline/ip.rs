//! IP ranges of `ip("...")` filters: a single address, a CIDR block
//! (`10.0.0.0/8`) or an inclusive range (`10.0.0.1-10.0.0.9`), IPv4 or IPv6.

use std::net::IpAddr;

use super::PipelineError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IpRange {
    /// Inclusive bounds, both of the same family, as 128-bit numbers.
    low: u128,
    high: u128,
    v4: bool,
}

fn to_bits(addr: IpAddr) -> (u128, bool) {
    match addr {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), true),
        IpAddr::V6(v6) => (u128::from(v6), false),
    }
}

impl IpRange {
    pub fn parse(text: &str) -> Result<IpRange, PipelineError> {
        let error = |reason: &str| PipelineError::Ip {
            range: text.to_string(),
            reason: reason.to_string(),
        };
        let parse_addr = |part: &str| {
            part.trim()
                .parse::<IpAddr>()
                .map_err(|_| error("cannot parse IP address"))
        };
        if let Some((addr, prefix)) = text.split_once('/') {
            let (bits, v4) = to_bits(parse_addr(addr)?);
            let width = if v4 { 32 } else { 128 };
            let prefix: u32 = prefix
                .trim()
                .parse()
                .map_err(|_| error("cannot parse CIDR prefix"))?;
            if prefix > width {
                return Err(error("CIDR prefix too long"));
            }
            let host_bits = width - prefix;
            let host_mask = if host_bits == 128 {
                u128::MAX
            } else {
                (1u128 << host_bits) - 1
            };
            return Ok(IpRange {
                low: bits & !host_mask,
                high: bits | host_mask,
                v4,
            });
        }
        if let Some((low, high)) = text.split_once('-') {
            let (low, low_v4) = to_bits(parse_addr(low)?);
            let (high, high_v4) = to_bits(parse_addr(high)?);
            if low_v4 != high_v4 || low > high {
                return Err(error("invalid address range"));
            }
            return Ok(IpRange {
                low,
                high,
                v4: low_v4,
            });
        }
        let (bits, v4) = to_bits(parse_addr(text)?);
        Ok(IpRange {
            low: bits,
            high: bits,
            v4,
        })
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        let (bits, v4) = to_bits(addr);
        v4 == self.v4 && self.low <= bits && bits <= self.high
    }

    /// True when `text` parses as an address in the range.
    pub fn contains_text(&self, text: &str) -> bool {
        text.trim()
            .parse::<IpAddr>()
            .is_ok_and(|addr| self.contains(addr))
    }

    /// True when some address-shaped run of `line` is in the range.
    pub fn matches_line(&self, line: &str) -> bool {
        let bytes = line.as_bytes();
        let mut pos = 0;
        while pos < bytes.len() {
            if !(bytes[pos].is_ascii_hexdigit() || bytes[pos] == b':') {
                pos += 1;
                continue;
            }
            let start = pos;
            while pos < bytes.len()
                && (bytes[pos].is_ascii_hexdigit() || bytes[pos] == b'.' || bytes[pos] == b':')
            {
                pos += 1;
            }
            let candidate = line[start..pos].trim_end_matches(['.', ':']);
            if candidate.len() >= 2 && self.contains_text(candidate) {
                return true;
            }
            // An IPv4 address with a port, `10.0.0.5:8080`.
            if candidate.contains('.')
                && candidate
                    .split(':')
                    .any(|part| part.contains('.') && self.contains_text(part))
            {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let case = |range: &str, line: &str, expected: bool| {
            assert_eq!(
                IpRange::parse(range).unwrap().matches_line(line),
                expected,
                "{range} on {line}"
            );
        };
        case("192.168.0.0/16", "client 192.168.4.2 connected", true);
        case("192.168.0.0/16", "client 192.169.4.2 connected", false);
        case("10.0.0.1-10.0.0.9", "from=10.0.0.5:8080", true);
        case("10.0.0.1-10.0.0.9", "from=10.0.0.10.", false);
        case("1.2.3.4", "ip 1.2.3.4.", true);
        case("::1", "[::1]:80", true);
        case("2001:db8::/32", "addr=2001:db8::ff", true);
        case("0.0.0.0/0", "no address here", false);
        for bad in ["x", "1.2.3.4/33", "1.2.3.9-1.2.3.1", "::1-1.2.3.4"] {
            assert!(IpRange::parse(bad).is_err(), "{bad}");
        }
    }
}
