//! Universal Binary JSON (UBJSON, draft 12) read into a JSON value: XGBoost's binary model
//! format (`save_model("m.ubj")`), the same document as its JSON model. Numbers are
//! big-endian; containers may be typed and counted (`[$d#l...`: XGBoost's float32 and
//! integer arrays), object keys are strings without their marker. A float32 becomes the
//! double it is exactly, so the model reads as from its JSON twin.

use serde_json::{Map, Number, Value};

/// Why the bytes are not UBJSON, and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("at byte {at}: {what}")]
pub struct UbjError {
    pub at: usize,
    pub what: String,
}

/// The one value the bytes hold (anything after it is an error).
pub fn decode(bytes: &[u8]) -> Result<Value, UbjError> {
    let mut r = Reader { bytes, at: 0 };
    let marker = r.byte()?;
    let v = r.value(marker, 0)?;
    if r.at != bytes.len() {
        return Err(r.error(format!("{} bytes after the value", bytes.len() - r.at)));
    }
    Ok(v)
}

/// Containers nest at most this deep (a model is a handful of levels).
const MAX_DEPTH: usize = 64;

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn error(&self, what: impl Into<String>) -> UbjError {
        UbjError {
            at: self.at,
            what: what.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], UbjError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| self.error(format!("{n} bytes wanted, the file ends")))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, UbjError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], UbjError> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// An integer of marker `m` (a length or a count).
    fn integer(&mut self, m: u8) -> Result<i64, UbjError> {
        Ok(match m {
            b'i' => i64::from(i8::from_be_bytes(self.array()?)),
            b'U' => i64::from(self.byte()?),
            b'I' => i64::from(i16::from_be_bytes(self.array()?)),
            b'l' => i64::from(i32::from_be_bytes(self.array()?)),
            b'L' => i64::from_be_bytes(self.array()?),
            other => {
                return Err(self.error(format!("{:?} is not an integer marker", other as char)));
            }
        })
    }

    /// A length: an integer marker then its value, not negative.
    fn length(&mut self) -> Result<usize, UbjError> {
        let m = self.byte()?;
        let n = self.integer(m)?;
        usize::try_from(n).map_err(|_| self.error(format!("a negative length {n}")))
    }

    fn string(&mut self) -> Result<String, UbjError> {
        let n = self.length()?;
        let s = self.take(n)?;
        String::from_utf8(s.to_vec()).map_err(|_| self.error("a string that is not UTF-8"))
    }

    fn float(&self, x: f64) -> Result<Value, UbjError> {
        Number::from_f64(x)
            .map(Value::Number)
            .ok_or_else(|| self.error(format!("a number JSON cannot hold ({x})")))
    }

    fn value(&mut self, marker: u8, depth: usize) -> Result<Value, UbjError> {
        Ok(match marker {
            b'Z' => Value::Null,
            b'T' => Value::Bool(true),
            b'F' => Value::Bool(false),
            b'i' | b'U' | b'I' | b'l' | b'L' => Value::from(self.integer(marker)?),
            b'd' => {
                let x = f32::from_be_bytes(self.array()?);
                self.float(f64::from(x))?
            }
            b'D' => {
                let x = f64::from_be_bytes(self.array()?);
                self.float(x)?
            }
            b'C' => Value::String(char::from(self.byte()?).to_string()),
            b'S' => Value::String(self.string()?),
            b'H' => {
                let s = self.string()?;
                let n: Number = s
                    .parse()
                    .map_err(|_| self.error(format!("{s:?} is no number")))?;
                Value::Number(n)
            }
            b'[' | b'{' if depth >= MAX_DEPTH => {
                return Err(self.error("containers nest too deep"));
            }
            b'[' => self.container(false, depth)?,
            b'{' => self.container(true, depth)?,
            other => return Err(self.error(format!("{:?} is not a UBJSON marker", other as char))),
        })
    }

    /// An array or object after its opening marker: typed and counted, counted, or ended
    /// by its closing marker (no-ops `N` skipped between values).
    fn container(&mut self, object: bool, depth: usize) -> Result<Value, UbjError> {
        let mut kind = None;
        if self.peek() == Some(b'$') {
            self.at += 1;
            kind = Some(self.byte()?);
        }
        let count = match self.peek() {
            Some(b'#') => {
                self.at += 1;
                Some(self.length()?)
            }
            _ if kind.is_some() => return Err(self.error("a typed container without a count")),
            _ => None,
        };
        // A count cannot promise more values than the bytes left could hold.
        if count.is_some_and(|n| n > self.bytes.len() - self.at && kind != Some(b'Z')) {
            return Err(self.error("a count past the end of the file"));
        }
        let mut items = Vec::new();
        let mut fields = Map::new();
        let mut k = 0usize;
        loop {
            if count == Some(k) {
                break;
            }
            if count.is_none() {
                while self.peek() == Some(b'N') {
                    self.at += 1;
                }
                if self.peek() == Some(if object { b'}' } else { b']' }) {
                    self.at += 1;
                    break;
                }
            }
            let key = if object { Some(self.string()?) } else { None };
            let marker = match kind {
                Some(m) => m,
                None => self.byte()?,
            };
            let v = self.value(marker, depth + 1)?;
            match key {
                Some(key) => {
                    fields.insert(key, v);
                }
                None => items.push(v),
            }
            k += 1;
        }
        Ok(if object {
            Value::Object(fields)
        } else {
            Value::Array(items)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's forms: markers, typed and counted containers, lengths of every width.
    #[test]
    fn decodes_the_forms_xgboost_writes() {
        let mut b = vec![b'{', b'U', 1, b'a', b'[', b'$', b'd', b'#', b'U', 2];
        b.extend(0.5f32.to_be_bytes());
        b.extend((-2.25f32).to_be_bytes());
        b.extend([
            b'U', 1, b'b', b'[', b'i', 0xff, b'I', 1, 0, b'T', b'Z', b']',
        ]);
        b.extend([b'U', 1, b'c', b'S', b'l', 0, 0, 0, 2, b'h', b'i']);
        b.extend([b'U', 1, b'd', b'L']);
        b.extend(1_234_567_890_123i64.to_be_bytes());
        b.push(b'}');
        let v = decode(&b).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"a": [0.5, -2.25], "b": [-1, 256, true, null], "c": "hi", "d": 1_234_567_890_123i64})
        );
    }

    #[test]
    fn truncated_or_wrong_bytes_are_errors_naming_where() {
        let b = [b'[', b'$', b'd', b'#', b'U', 3, 0, 0];
        assert!(decode(&b).unwrap_err().what.contains("count past the end"));
        let b = [b'{', b'U', 5, b'a'];
        assert!(decode(&b).unwrap_err().what.contains("the file ends"));
        assert!(
            decode(b"x")
                .unwrap_err()
                .what
                .contains("not a UBJSON marker")
        );
        assert!(decode(b"[]]").unwrap_err().what.contains("after the value"));
        let deep = vec![b'['; 100];
        assert!(decode(&deep).unwrap_err().what.contains("too deep"));
    }
}
