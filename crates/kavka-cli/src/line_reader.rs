//! Kafka's `LineMessageReader` (the console producer's line format): an optional headers part,
//! an optional key and the value, split at configurable separators, with a null marker.

use bytes::Bytes;

use crate::common::Props;
use crate::ToolError;

/// Kafka's `LineMessageReader`, configured.
#[derive(Debug)]
pub(crate) struct LineReader {
    parse_key: bool,
    key_separator: String,
    parse_headers: bool,
    headers_delimiter: String,
    headers_separator: String,
    headers_key_separator: String,
    ignore_error: bool,
    null_marker: Option<String>,
}

impl LineReader {
    pub(crate) fn new(props: &Props) -> Result<LineReader, ToolError> {
        let flag = |k: &str| {
            props
                .get(k)
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        };
        let text = |k: &str, d: &str| props.get(k).cloned().unwrap_or_else(|| d.to_string());
        let r = LineReader {
            parse_key: flag("parse.key"),
            key_separator: text("key.separator", "\t"),
            parse_headers: flag("parse.headers"),
            headers_delimiter: text("headers.delimiter", "\t"),
            headers_separator: text("headers.separator", ","),
            headers_key_separator: text("headers.key.separator", ":"),
            ignore_error: flag("ignore.error"),
            null_marker: props.get("null.marker").cloned(),
        };
        let pairs = [
            (
                &r.headers_delimiter,
                &r.headers_separator,
                "headers.delimiter and headers.separator",
            ),
            (
                &r.headers_delimiter,
                &r.headers_key_separator,
                "headers.delimiter and headers.key.separator",
            ),
            (
                &r.headers_separator,
                &r.headers_key_separator,
                "headers.separator and headers.key.separator",
            ),
        ];
        for (a, b, what) in pairs {
            if a == b {
                return Err(ToolError::usage(format!("{what} may not be equal")));
            }
        }
        if let Some(m) = &r.null_marker {
            for (other, name) in [
                (&r.key_separator, "key.separator"),
                (&r.headers_separator, "headers.separator"),
                (&r.headers_delimiter, "headers.delimiter"),
                (&r.headers_key_separator, "headers.key.separator"),
            ] {
                if m == other {
                    return Err(ToolError::usage(format!(
                        "null.marker and {name} may not be equal"
                    )));
                }
            }
        }
        Ok(r)
    }

    fn parse_part<'a>(
        &self,
        enabled: bool,
        line: &'a str,
        start: usize,
        sep: &str,
        what: &str,
        n: u64,
    ) -> Result<Option<&'a str>, ToolError> {
        if !enabled {
            return Ok(None);
        }
        match line[start..].find(sep) {
            Some(i) => Ok(Some(&line[start..start + i])),
            None if self.ignore_error => Ok(None),
            None => Err(ToolError::failed(format!(
                "No {what} found on line number {n}: '{line}'"
            ))),
        }
    }

    fn nullable(&self, s: &str) -> Option<Bytes> {
        (self.null_marker.as_deref() != Some(s)).then(|| Bytes::copy_from_slice(s.as_bytes()))
    }

    /// One line (without its end of line) as (key, value, headers).
    #[allow(clippy::type_complexity)]
    pub(crate) fn parse(
        &self,
        line: &str,
        n: u64,
    ) -> Result<(Option<Bytes>, Option<Bytes>, Vec<(String, Option<Bytes>)>), ToolError> {
        let headers = self.parse_part(
            self.parse_headers,
            line,
            0,
            &self.headers_delimiter,
            "headers delimiter",
            n,
        )?;
        let header_end = headers.map_or(0, |h| h.len() + self.headers_delimiter.len());
        let key = self.parse_part(
            self.parse_key,
            line,
            header_end,
            &self.key_separator,
            "key separator",
            n,
        )?;
        let key_end = key.map_or(0, |k| k.len() + self.key_separator.len());
        let value = &line[header_end + key_end..];
        let mut parsed = Vec::new();
        if let Some(h) = headers.filter(|h| self.null_marker.as_deref() != Some(*h)) {
            for pair in h.split(self.headers_separator.as_str()) {
                match pair.find(self.headers_key_separator.as_str()) {
                    Some(i) => {
                        let k = &pair[..i];
                        if self.null_marker.as_deref() == Some(k) {
                            return Err(ToolError::failed(format!("Header keys should not be equal to the null marker '{k}' as they can't be null")));
                        }
                        parsed.push((
                            k.to_string(),
                            self.nullable(&pair[i + self.headers_key_separator.len()..]),
                        ));
                    }
                    None if self.ignore_error => parsed.push((pair.to_string(), None)),
                    None => {
                        return Err(ToolError::failed(format!(
                            "No header key separator found in pair '{pair}' on line number {n}"
                        )))
                    }
                }
            }
        }
        Ok((
            key.and_then(|k| self.nullable(k)),
            self.nullable(value),
            parsed,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(pairs: &[(&str, &str)]) -> LineReader {
        LineReader::new(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn lines_parse_as_kafkas_line_message_reader() {
        let r = reader(&[("parse.key", "true"), ("key.separator", ":")]);
        let (k, v, h) = r.parse("user1:hello:world", 1).unwrap();
        assert_eq!(k.as_deref(), Some(&b"user1"[..]));
        assert_eq!(v.as_deref(), Some(&b"hello:world"[..]));
        assert!(h.is_empty());
        assert!(r
            .parse("no separator", 2)
            .unwrap_err()
            .to_string()
            .contains("No key separator found on line number 2"));

        let r = reader(&[
            ("parse.key", "true"),
            ("parse.headers", "true"),
            ("null.marker", "<null>"),
        ]);
        let (k, v, h) = r.parse("a:1,b:<null>\tkey\t<null>", 1).unwrap();
        assert_eq!(k.as_deref(), Some(&b"key"[..]));
        assert_eq!(v, None);
        assert_eq!(
            h,
            vec![
                ("a".into(), Some(Bytes::from_static(b"1"))),
                ("b".into(), None)
            ]
        );

        let plain = reader(&[]);
        let (k, v, _) = plain.parse("just a value", 1).unwrap();
        assert_eq!((k, v.as_deref()), (None, Some(&b"just a value"[..])));
    }
}
