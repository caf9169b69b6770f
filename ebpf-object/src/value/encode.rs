//! Values from text: what `--set NAME=VALUE` writes into `.rodata`, the
//! twin of [`super::decode`].

use crate::desc::TypeDesc;

impl TypeDesc {
    /// Encodes `text` as a value of this type (what `--set NAME=VALUE`
    /// writes into `.rodata`): integers in decimal or `0x` hex, range
    /// checked; `true`/`false` for bools; enums by name or number; char
    /// arrays as text that fits with its NUL. The error says what is
    /// expected.
    pub fn encode(&self, text: &str, big_endian: bool) -> Result<Vec<u8>, String> {
        let put = |v: u64, size: u32| -> Vec<u8> {
            let le = v.to_le_bytes();
            let mut b = le[..size as usize].to_vec();
            if big_endian {
                b.reverse();
            }
            b
        };
        let int = |size: u32, signed: bool| -> Result<u64, String> {
            let t = text.trim();
            let (neg, digits) = match t.strip_prefix('-') {
                Some(d) => (true, d),
                None => (false, t),
            };
            let magnitude = match digits
                .strip_prefix("0x")
                .or_else(|| digits.strip_prefix("0X"))
            {
                Some(h) => u128::from_str_radix(h, 16),
                None => digits.parse::<u128>(),
            }
            .map_err(|_| format!("`{text}` is not an integer"))?;
            let bits = 8 * size;
            let (min, max): (i128, i128) = if signed {
                (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
            } else {
                (0, (1i128 << bits) - 1)
            };
            let v = if neg {
                -(magnitude as i128)
            } else {
                magnitude as i128
            };
            if v < min || v > max {
                return Err(format!("{v} is out of range ({min}..={max})"));
            }
            Ok(v as u64)
        };
        match self {
            TypeDesc::Int {
                bool: true, size, ..
            } => match text.trim() {
                "true" | "1" => Ok(put(1, *size)),
                "false" | "0" => Ok(put(0, *size)),
                _ => Err(format!("`{text}` is not true or false")),
            },
            TypeDesc::Int { size, signed, .. } if *size <= 8 => {
                Ok(put(int(*size, *signed)?, *size))
            }
            TypeDesc::Enum {
                size,
                signed,
                values,
                ..
            } => match values.iter().find(|e| e.name == text.trim()) {
                Some(e) => Ok(put(e.value as u64, *size)),
                None => int(*size, *signed).map(|v| put(v, *size)).map_err(|_| {
                    let names: Vec<&str> = values.iter().map(|e| e.name.as_str()).collect();
                    format!("`{text}` is not one of {}", names.join(", "))
                }),
            },
            TypeDesc::Float { size: 4, .. } => text
                .trim()
                .parse::<f32>()
                .map(|f| put(u64::from(f.to_bits()), 4))
                .map_err(|_| format!("`{text}` is not a number")),
            TypeDesc::Float { size: 8, .. } => text
                .trim()
                .parse::<f64>()
                .map(|f| put(f.to_bits(), 8))
                .map_err(|_| format!("`{text}` is not a number")),
            _ if self.is_text() || self.is_bytes() => {
                let size = self.size() as usize;
                if text.len() >= size {
                    return Err(format!(
                        "`{text}` is {} bytes; at most {} fit",
                        text.len(),
                        size.saturating_sub(1)
                    ));
                }
                let mut b = text.as_bytes().to_vec();
                b.resize(size, 0);
                Ok(b)
            }
            other => Err(format!(
                "a {} cannot be set from the command line",
                other.c_name()
            )),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::desc::EnumValue;

    fn int(size: u32, signed: bool) -> TypeDesc {
        TypeDesc::Int {
            name: "t".into(),
            size,
            signed,
            char: false,
            bool: false,
        }
    }

    #[test]
    fn integers_round_trip_and_are_range_checked() {
        let u32t = int(4, false);
        assert_eq!(u32t.encode("4294967295", false).unwrap(), [255; 4]);
        assert_eq!(u32t.encode("0x10", false).unwrap(), [16, 0, 0, 0]);
        assert_eq!(u32t.encode("16", true).unwrap(), [0, 0, 0, 16]);
        assert!(
            u32t.encode("4294967296", false)
                .unwrap_err()
                .contains("out of range")
        );
        assert!(
            u32t.encode("-1", false)
                .unwrap_err()
                .contains("out of range")
        );
        assert!(
            u32t.encode("ten", false)
                .unwrap_err()
                .contains("not an integer")
        );
        let i16t = int(2, true);
        let b = i16t.encode("-2", false).unwrap();
        assert_eq!(i16t.decode(&b, false), serde_json::json!(-2));
    }

    /// `char[len]`, for tests.
    pub(crate) fn chars(len: u32) -> TypeDesc {
        TypeDesc::Array {
            len,
            elem: Box::new(TypeDesc::Int {
                name: "char".into(),
                size: 1,
                signed: true,
                char: true,
                bool: false,
            }),
        }
    }

    #[test]
    fn text_enums_and_bools() {
        let chars = chars(8);
        let b = chars.encode("bash", false).unwrap();
        assert_eq!(chars.decode(&b, false), serde_json::json!("bash"));
        assert!(
            chars
                .encode("12345678", false)
                .unwrap_err()
                .contains("at most 7")
        );
        let e = TypeDesc::Enum {
            name: "mode".into(),
            size: 4,
            signed: false,
            values: vec![EnumValue {
                name: "DROP".into(),
                value: 1,
            }],
        };
        assert_eq!(e.encode("DROP", false).unwrap(), [1, 0, 0, 0]);
        assert!(e.encode("PASS", false).unwrap_err().contains("DROP"));
        let bt = TypeDesc::Int {
            name: "bool".into(),
            size: 1,
            signed: false,
            char: false,
            bool: true,
        };
        assert_eq!(bt.encode("true", false).unwrap(), [1]);
    }
}
