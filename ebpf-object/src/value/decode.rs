//! Values of described types, read out of raw bytes: written straight into
//! a byte buffer as JSON or as a table cell, with no value tree built on
//! the way — `bpf-runtime run` does this for every ring-buffer record —
//! and, where a tree is wanted (counters, defaults), parsed back from that.

use std::borrow::Cow;
use std::io::Write as _;

use crate::desc::{Field, TypeDesc};

impl TypeDesc {
    /// Decodes a value of this type from `bytes` (little-endian unless
    /// `big_endian`) into JSON: integers as numbers, char arrays as text up
    /// to the first NUL, enums by name, structs as objects in field order,
    /// arrays as lists; `null` when `bytes` is too short.
    pub fn decode(&self, bytes: &[u8], big_endian: bool) -> serde_json::Value {
        let mut out = Vec::new();
        self.write_json(&mut out, bytes, big_endian);
        serde_json::from_slice(&out).unwrap_or(serde_json::Value::Null)
    }

    /// Appends what [`TypeDesc::decode`] returns, as JSON text, to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>, bytes: &[u8], big_endian: bool) {
        let Some(bytes) = self.fitting(bytes) else {
            out.extend_from_slice(b"null");
            return;
        };
        match self.scalar(bytes, big_endian) {
            Some(s) => s.write(out, true),
            None => match self {
                TypeDesc::Array { len, elem } => {
                    let step = elem.size() as usize;
                    out.push(b'[');
                    for i in 0..*len as usize {
                        if i > 0 {
                            out.push(b',');
                        }
                        elem.write_json(out, &bytes[i * step..], big_endian);
                    }
                    out.push(b']');
                }
                TypeDesc::Struct { fields, .. } | TypeDesc::Union { fields, .. } => {
                    let family = self.address_family(bytes, big_endian);
                    out.push(b'{');
                    for (i, f) in fields.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        json_string(out, &f.name);
                        out.push(b':');
                        f.write_json(out, bytes, big_endian, family);
                    }
                    out.push(b'}');
                }
                _ => unreachable!("every other kind is a scalar"),
            },
        }
    }

    /// Appends the value as a table shows it: text as itself, numbers and
    /// enum names bare, `-` when `bytes` is too short, anything composite
    /// as JSON.
    pub fn write_cell(&self, out: &mut Vec<u8>, bytes: &[u8], big_endian: bool) {
        let Some(bytes) = self.fitting(bytes) else {
            out.push(b'-');
            return;
        };
        match self.scalar(bytes, big_endian) {
            Some(s) => s.write(out, false),
            None => self.write_json(out, bytes, big_endian),
        }
    }

    /// The bytes of a value of this type in `bytes`. A struct or a text
    /// cut short keeps what it has: tools send records only as long as
    /// their text (execsnoop's `args`), so the fields present are shown
    /// (a field past the end is `null`, or `-` in a table) and the text up
    /// to where it stops. `None` for any other value cut short.
    fn fitting<'b>(&self, bytes: &'b [u8]) -> Option<&'b [u8]> {
        match bytes.get(..self.size() as usize) {
            Some(whole) => Some(whole),
            None if !bytes.is_empty()
                && (matches!(self, TypeDesc::Struct { .. }) || self.is_text()) =>
            {
                Some(bytes)
            }
            None => None,
        }
    }

    /// The address family a record says its addresses are of: the value of
    /// its field `family`, `af` or `*_family` (`AF_INET` is 2, `AF_INET6`
    /// 10). Tools keep either family in one 16-byte field and say which.
    pub fn address_family(&self, record: &[u8], big_endian: bool) -> Option<u64> {
        let TypeDesc::Struct { fields, .. } = self else {
            return None;
        };
        let f = fields.iter().find(|f| {
            f.bits == 0
                && matches!(f.ty, TypeDesc::Int { size: 1..=4, .. })
                && (f.name == "family" || f.name == "af" || f.name.ends_with("_family"))
        })?;
        let at = record
            .get(f.offset as usize..)?
            .get(..f.ty.size() as usize)?;
        Some(uint(at, big_endian))
    }

    /// Whether a table shows this type as text (left-aligned).
    pub fn is_textual(&self) -> bool {
        matches!(self, TypeDesc::Pointer { .. } | TypeDesc::Opaque { .. })
            || self.is_text()
            || self.is_bytes()
            || matches!(self, TypeDesc::Enum { values, .. } if !values.is_empty())
    }

    /// The value of a scalar type (`None` for arrays, structs and unions);
    /// `bytes` holds at least `self.size()` bytes.
    fn scalar<'b>(&self, bytes: &'b [u8], big_endian: bool) -> Option<Scalar<'b>> {
        // `__be16`, `__be32` and `__be64` are big-endian whatever the host.
        let big_endian = big_endian
            || matches!(self, TypeDesc::Int { name, .. } if matches!(name.as_str(), "__be16" | "__be32" | "__be64"));
        let uint = || uint(bytes, big_endian);
        Some(match self {
            TypeDesc::Int { bool: true, .. } => Scalar::Bool(uint() != 0),
            TypeDesc::Int {
                size, signed: true, ..
            } if *size <= 8 => Scalar::I64(sign_extend(uint(), *size)),
            TypeDesc::Int { size, .. } if *size <= 8 => Scalar::U64(uint()),
            TypeDesc::Float { size: 4, .. } => {
                Scalar::F64(f64::from(f32::from_bits(uint() as u32)))
            }
            TypeDesc::Float { size: 8, .. } => Scalar::F64(f64::from_bits(uint())),
            TypeDesc::Enum {
                size,
                signed,
                values,
                ..
            } => {
                let raw = uint();
                let v = if *signed {
                    sign_extend(raw, *size)
                } else {
                    raw as i64
                };
                match values.iter().find(|e| e.value == v) {
                    Some(e) => Scalar::Text(Cow::Owned(e.name.clone())),
                    None => Scalar::I64(v),
                }
            }
            TypeDesc::Pointer { .. } => Scalar::Pointer(uint()),
            _ if self.is_text() => Scalar::Text(String::from_utf8_lossy(until_nul(bytes))),
            _ if self.is_bytes() => match std::str::from_utf8(until_nul(bytes)) {
                Ok(t) if !t.chars().any(char::is_control) => Scalar::Text(Cow::Borrowed(t)),
                _ => Scalar::Hex("0x", bytes),
            },
            TypeDesc::Array { .. } | TypeDesc::Struct { .. } | TypeDesc::Union { .. } => {
                return None;
            }
            _ => Scalar::Hex("", bytes),
        })
    }
}

/// `AF_INET`, as Linux numbers it.
const AF_INET: u64 = 2;

/// How networking tools print a field, told by its name and size: an
/// address as `127.0.0.1` or `::1`, a MAC as `02:00:00:00:00:01`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Net {
    /// Four bytes in network order.
    V4,
    /// Sixteen bytes; IPv4 when the record's family says AF_INET, or
    /// without a family when only the first four are set (tools keep
    /// either family in one 16-byte field).
    V6,
    Mac,
}

/// Whether `name` contains `part` (lower case ASCII), ignoring case:
/// [`Field::net`] runs for every field of every record, so it allocates
/// no lowered copy.
fn contains_ignoring_case(name: &str, part: &str) -> bool {
    name.as_bytes()
        .windows(part.len())
        .any(|w| w.eq_ignore_ascii_case(part.as_bytes()))
}

impl Field {
    fn net(&self) -> Option<Net> {
        if self.bits != 0 {
            return None;
        }
        let n = self.name.as_str();
        let is = |word: &str| n.eq_ignore_ascii_case(word);
        let size = self.ty.size();
        let whole = matches!(
            self.ty,
            TypeDesc::Int { .. } | TypeDesc::Struct { .. } | TypeDesc::Union { .. }
        ) || matches!(&self.ty, TypeDesc::Array { elem, .. } if matches!(**elem, TypeDesc::Int { .. }));
        let (head, tail) = (
            n.get(..3).unwrap_or(""),
            n.get(n.len().saturating_sub(3)..).unwrap_or(""),
        );
        let address = contains_ignoring_case(n, "addr")
            || is("ip")
            || tail.eq_ignore_ascii_case("_ip")
            || head.eq_ignore_ascii_case("ip_")
            || is("sip")
            || is("dip");
        let mac = contains_ignoring_case(n, "mac") || is("h_source") || is("h_dest");
        match size {
            4 if address && whole => Some(Net::V4),
            16 if address && whole => Some(Net::V6),
            6 if mac && matches!(self.ty, TypeDesc::Array { .. }) => Some(Net::Mac),
            _ => None,
        }
    }

    /// Writes the field as [`Net`] says (a 16-byte address as IPv4 when the
    /// record's `family` says AF_INET), or returns false.
    fn write_net(
        &self,
        out: &mut Vec<u8>,
        record: &[u8],
        quoted: bool,
        family: Option<u64>,
    ) -> bool {
        let Some(net) = self.net() else {
            return false;
        };
        let Some(b) = record
            .get(self.offset as usize..)
            .and_then(|at| at.get(..self.ty.size() as usize))
        else {
            return false;
        };
        if quoted {
            out.push(b'"');
        }
        // An IPv4 address: a 4-byte field, or a 16-byte one holding one.
        let v4 = net == Net::V4
            || (net == Net::V6
                && (family == Some(AF_INET)
                    || (family.is_none() && b[4..].iter().all(|&x| x == 0))));
        if v4 {
            let _ = write!(out, "{}", std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]));
        } else if net == Net::V6 {
            let a: [u8; 16] = b.try_into().expect("16 bytes");
            let _ = write!(out, "{}", std::net::Ipv6Addr::from(a));
        } else {
            let _ = write!(
                out,
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                b[0], b[1], b[2], b[3], b[4], b[5]
            );
        }
        if quoted {
            out.push(b'"');
        }
        true
    }

    /// Appends this field's value, read from the enclosing struct's bytes;
    /// `family` is the record's [`TypeDesc::address_family`].
    fn write_json(&self, out: &mut Vec<u8>, record: &[u8], big_endian: bool, family: Option<u64>) {
        if self.write_net(out, record, true, family) {
            return;
        }
        let at = record.get(self.offset as usize..).unwrap_or_default();
        if self.bits == 0 {
            return self.ty.write_json(out, at, big_endian);
        }
        // A bitfield past the end of a record cut short is not there.
        let needed = (self.bit_offset as usize + self.bits as usize).div_ceil(8);
        if at.len() < needed.min(8) {
            out.extend_from_slice(b"null");
            return;
        }
        let raw = uint(at, big_endian) >> self.bit_offset;
        let mask = if self.bits >= 64 {
            u64::MAX
        } else {
            (1u64 << self.bits) - 1
        };
        Scalar::U64(raw & mask).write(out, true)
    }

    /// Appends this field's value as a table cell.
    /// `family` is the record's [`TypeDesc::address_family`].
    pub fn write_cell(
        &self,
        out: &mut Vec<u8>,
        record: &[u8],
        big_endian: bool,
        family: Option<u64>,
    ) {
        if self.write_net(out, record, false, family) {
            return;
        }
        if self.bits == 0 {
            let at = record.get(self.offset as usize..).unwrap_or_default();
            return self.ty.write_cell(out, at, big_endian);
        }
        self.write_json(out, record, big_endian, family)
    }
}

enum Scalar<'b> {
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    Pointer(u64),
    Text(Cow<'b, str>),
    /// Bytes in hex after a prefix.
    Hex(&'static str, &'b [u8]),
}

impl Scalar<'_> {
    /// Appends the value as JSON (`quoted`) or as a table cell, which shows
    /// text, pointers and hex without quotes.
    fn write(&self, out: &mut Vec<u8>, quoted: bool) {
        let quote = |out: &mut Vec<u8>| {
            if quoted {
                out.push(b'"')
            }
        };
        match self {
            Scalar::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Scalar::U64(v) => out.extend_from_slice(itoa::Buffer::new().format(*v).as_bytes()),
            Scalar::I64(v) => out.extend_from_slice(itoa::Buffer::new().format(*v).as_bytes()),
            Scalar::F64(v) if v.is_finite() => {
                out.extend_from_slice(ryu::Buffer::new().format_finite(*v).as_bytes())
            }
            Scalar::F64(_) => out.extend_from_slice(b"null"),
            Scalar::Pointer(v) => {
                quote(out);
                let _ = write!(out, "{v:#x}");
                quote(out);
            }
            Scalar::Text(t) if quoted => json_string(out, t),
            Scalar::Text(t) => out.extend_from_slice(crate::text::escape_controls(t).as_bytes()),
            Scalar::Hex(prefix, bytes) => {
                const DIGITS: &[u8; 16] = b"0123456789abcdef";
                quote(out);
                out.extend_from_slice(prefix.as_bytes());
                for b in *bytes {
                    out.push(DIGITS[usize::from(b >> 4)]);
                    out.push(DIGITS[usize::from(b & 15)]);
                }
                quote(out);
            }
        }
    }
}

/// Up to 8 bytes as an unsigned integer in the object's byte order.
fn uint(b: &[u8], big_endian: bool) -> u64 {
    let b = &b[..b.len().min(8)];
    if big_endian {
        b.iter().fold(0, |v, &x| (v << 8) | u64::from(x))
    } else {
        b.iter().rev().fold(0, |v, &x| (v << 8) | u64::from(x))
    }
}

fn sign_extend(v: u64, size: u32) -> i64 {
    let shift = 64 - 8 * size.clamp(1, 8);
    ((v << shift) as i64) >> shift
}

fn until_nul(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

/// Appends `s` as a JSON string: copied as is unless it holds a quote, a
/// backslash or a control character.
fn json_string(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
        return;
    }
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desc::{EnumValue, Field};

    fn int(name: &str, size: u32, signed: bool) -> TypeDesc {
        TypeDesc::Int {
            name: name.into(),
            size,
            signed,
            char: false,
            bool: false,
        }
    }

    fn field(name: &str, offset: u32, ty: TypeDesc) -> Field {
        Field {
            name: name.into(),
            offset,
            bit_offset: 0,
            bits: 0,
            ty,
        }
    }

    /// struct { u32 pid; char comm[8]; enum verdict v; s16 delta; u8 flags:3;
    /// void *at; u16 ports[2]; }
    fn event() -> TypeDesc {
        let chars = crate::value::encode::tests::chars(8);
        let verdict = TypeDesc::Enum {
            name: "verdict".into(),
            size: 4,
            signed: false,
            values: vec![EnumValue {
                name: "DROP".into(),
                value: 1,
            }],
        };
        let ports = TypeDesc::Array {
            len: 2,
            elem: Box::new(int("u16", 2, false)),
        };
        let mut flags = field("flags", 18, int("u8", 1, false));
        flags.bits = 3;
        flags.bit_offset = 1;
        TypeDesc::Struct {
            name: "event".into(),
            size: 32,
            fields: vec![
                field("pid", 0, int("u32", 4, false)),
                field("comm", 4, chars),
                field("v", 12, verdict),
                field("delta", 16, int("s16", 2, true)),
                flags,
                field(
                    "at",
                    20,
                    TypeDesc::Pointer {
                        name: String::new(),
                        size: 8,
                    },
                ),
                field("ports", 28, ports),
            ],
        }
    }

    fn record() -> Vec<u8> {
        let mut b = vec![0u8; 32];
        b[0..4].copy_from_slice(&4242u32.to_le_bytes());
        b[4..8].copy_from_slice(b"sh\"\n");
        b[12..16].copy_from_slice(&1u32.to_le_bytes());
        b[16..18].copy_from_slice(&(-3i16).to_le_bytes());
        b[18] = 0b1010;
        b[20..28].copy_from_slice(&0xffff_8000_dead_beefu64.to_le_bytes());
        b[28..30].copy_from_slice(&80u16.to_le_bytes());
        b[30..32].copy_from_slice(&443u16.to_le_bytes());
        b
    }

    #[test]
    fn records_are_written_as_json_in_field_order() {
        let mut out = Vec::new();
        event().write_json(&mut out, &record(), false);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"pid":4242,"comm":"sh\"\n","v":"DROP","delta":-3,"flags":5,"at":"0xffff8000deadbeef","ports":[80,443]}"#
        );
        assert_eq!(
            event().decode(&record(), false)["ports"],
            serde_json::json!([80, 443])
        );
        // Cut short: the fields present, `null` for the one cut.
        let cut = event().decode(&record()[..31], false);
        assert_eq!(cut["pid"], 4242);
        assert_eq!(cut["ports"], serde_json::Value::Null);
        assert_eq!(event().decode(&[], false), serde_json::Value::Null);
        // Text cut short is the text it has.
        let text = TypeDesc::Array {
            len: 16,
            elem: Box::new(TypeDesc::Int {
                name: "char".into(),
                size: 1,
                signed: true,
                char: true,
                bool: false,
            }),
        };
        assert_eq!(text.decode(b"/bin/tr", false), "/bin/tr");
    }

    #[test]
    fn cells_show_text_bare_and_composites_as_json() {
        let TypeDesc::Struct { fields, .. } = event() else {
            unreachable!()
        };
        let cells: Vec<String> = fields
            .iter()
            .map(|f| {
                let mut out = Vec::new();
                f.write_cell(&mut out, &record(), false, None);
                String::from_utf8(out).unwrap()
            })
            .collect();
        assert_eq!(
            cells,
            [
                "4242",
                "sh\"\n",
                "DROP",
                "-3",
                "5",
                "0xffff8000deadbeef",
                "[80,443]"
            ]
        );
        let mut out = Vec::new();
        fields[0].write_cell(&mut out, &record()[..2], false, None);
        assert_eq!(out, b"-");
    }

    #[test]
    fn network_fields_print_as_networking_tools_print_them() {
        let bytes = |len| TypeDesc::Array {
            len,
            elem: Box::new(int("__u8", 1, false)),
        };
        let record = TypeDesc::Struct {
            name: "event".into(),
            size: 48,
            fields: vec![
                field("saddr", 0, int("__be32", 4, false)),
                field("daddr_v6", 4, bytes(16)),
                field("addr", 20, int("unsigned __int128", 16, false)),
                field("dport", 36, int("__be16", 2, false)),
                field("sport", 38, int("__u16", 2, false)),
                field("mac", 40, bytes(6)),
                field("count", 46, int("__u16", 2, false)),
            ],
        };
        let mut b = vec![0u8; 48];
        b[0..4].copy_from_slice(&[127, 0, 0, 1]);
        b[4..20].copy_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
        b[20..24].copy_from_slice(&[10, 1, 2, 3]); // IPv4 in a 16-byte field
        b[36..38].copy_from_slice(&443u16.to_be_bytes());
        b[38..40].copy_from_slice(&8080u16.to_le_bytes());
        b[40..46].copy_from_slice(&[2, 0, 0, 0, 0, 0xab]);
        b[46..48].copy_from_slice(&7u16.to_le_bytes());
        assert_eq!(
            record.decode(&b, false),
            serde_json::json!({
                "saddr": "127.0.0.1", "daddr_v6": "::1", "addr": "10.1.2.3",
                "dport": 443, "sport": 8080, "mac": "02:00:00:00:00:ab", "count": 7
            })
        );
        let TypeDesc::Struct { fields, .. } = &record else {
            unreachable!()
        };
        let mut cell = Vec::new();
        fields[0].write_cell(&mut cell, &b, false, None);
        assert_eq!(cell, b"127.0.0.1");
        // A record cut short shows the fields it holds; a field too short
        // for its type is not read past the record.
        assert_eq!(
            record.decode(&b[..10], false),
            serde_json::json!({
                "saddr": "127.0.0.1", "daddr_v6": null, "addr": null,
                "dport": null, "sport": null, "mac": null, "count": null
            })
        );
        let mut cell = Vec::new();
        fields[1].write_cell(&mut cell, &b[..10], false, None);
        assert_eq!(cell, b"-");
    }

    #[test]
    fn a_records_family_says_how_its_16_byte_addresses_read() {
        let record = TypeDesc::Struct {
            name: "event".into(),
            size: 20,
            fields: vec![
                field("saddr", 0, int("unsigned __int128", 16, false)),
                field("family", 16, int("__u16", 2, false)),
            ],
        };
        // tcpstates copies four bytes for IPv4 and leaves the rest as it was.
        let mut b = vec![0xeeu8; 20];
        b[0..4].copy_from_slice(&[127, 0, 0, 1]);
        b[16..18].copy_from_slice(&2u16.to_le_bytes());
        assert_eq!(record.address_family(&b, false), Some(2));
        assert_eq!(record.decode(&b, false)["saddr"], "127.0.0.1");
        let TypeDesc::Struct { fields, .. } = &record else {
            unreachable!()
        };
        let mut cell = Vec::new();
        fields[0].write_cell(&mut cell, &b, false, record.address_family(&b, false));
        assert_eq!(cell, b"127.0.0.1");
        b[0..16].copy_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
        b[16..18].copy_from_slice(&10u16.to_le_bytes());
        assert_eq!(record.decode(&b, false)["saddr"], "::1");
    }

    #[test]
    fn bytes_without_text_are_hex_and_big_endian_is_read_as_such() {
        let bytes = TypeDesc::Array {
            len: 4,
            elem: Box::new(int("u8", 1, false)),
        };
        assert_eq!(
            bytes.decode(&[1, 2, 0, 3], false),
            serde_json::json!("0x01020003")
        );
        assert_eq!(bytes.decode(b"abc\0", false), serde_json::json!("abc"));
        assert_eq!(
            int("u32", 4, false).decode(&[0, 0, 1, 0], true),
            serde_json::json!(256)
        );
    }
}
